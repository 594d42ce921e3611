#include "io_pool.h"

#include <cstdlib>

namespace tandem {
namespace {

// Four threads keep a few requests in flight per disk without competing with libuv's pool;
// TANDEM_IO_THREADS overrides it (1..64) for benchmarks.
int ThreadCount() {
  const char* s = std::getenv("TANDEM_IO_THREADS");
  if (s == nullptr) return 4;
  int n = std::atoi(s);
  return n < 1 ? 1 : (n > 64 ? 64 : n);
}

// The records array holds this many completions; a larger batch is delivered in chunks.
constexpr size_t kMinRecords = 16;

}  // namespace

// ---- IoPool ----------------------------------------------------------------------------------

IoPool& IoPool::Get() {
  // Never destroyed: detached workers may still be parked on the condition variable at exit.
  static IoPool* pool = new IoPool();
  return *pool;
}

void IoPool::Start() {
  int n = ThreadCount();
  for (int i = 0; i < n; i++) std::thread([this] { Worker(); }).detach();
  started_ = true;
}

void IoPool::Submit(IoJob* job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) Start();
    queue_.push_back(job);
  }
  cv_.notify_one();
}

std::vector<IoJob*> IoPool::Sweep(const std::function<bool(const IoJob&)>& match) {
  std::vector<IoJob*> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (match(**it)) {
      out.push_back(*it);
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

void IoPool::Worker() {
  for (;;) {
    IoJob* job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !queue_.empty(); });
      job = queue_.front();
      queue_.pop_front();
      // Counted while still under the queue lock, so close() either sweeps a job from the
      // queue or sees it running: never neither.
      DeviceJobStarted(job->dev.get());
      job->completer->WorkerStarted();
    }
    ExecuteJob(job);
    DeviceJobFinished(job->dev.get());
    std::shared_ptr<Completer> completer = job->completer;
    completer->Push(job);
    completer->WorkerFinished();
  }
}

// ---- Completer -------------------------------------------------------------------------------

std::shared_ptr<Completer> Completer::Create(napi_env env) {
  std::shared_ptr<Completer> c(new Completer(env));
  napi_value name;
  if (napi_create_string_utf8(env, "tandem-io", NAPI_AUTO_LENGTH, &name) != napi_ok) return nullptr;
  if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, c.get(),
                                      CallJs, &c->tsfn_) != napi_ok)
    return nullptr;
  // Idle devices must not keep the process alive; Submit() refs while anything is pending.
  napi_unref_threadsafe_function(env, c->tsfn_);
  napi_value resource;
  napi_create_object(env, &resource);
  napi_create_reference(env, resource, 1, &c->resource_);
  napi_async_init(env, resource, name, &c->async_);
  c->self_ = new std::shared_ptr<Completer>(c);
  napi_add_env_cleanup_hook(env, Cleanup, c->self_);
  return c;
}

bool Completer::SetHandler(napi_env env, napi_value records, napi_value fn) {
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(env, records, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array || length / kRecordFields < kMinRecords)
    return false;
  napi_valuetype vt;
  if (napi_typeof(env, fn, &vt) != napi_ok || vt != napi_function) return false;
  if (handler_) napi_delete_reference(env, handler_);
  if (records_ref_) napi_delete_reference(env, records_ref_);
  napi_create_reference(env, fn, 1, &handler_);
  napi_create_reference(env, records, 1, &records_ref_);
  records_ = static_cast<double*>(data);
  capacity_ = length / kRecordFields;
  return true;
}

void Completer::Submit(IoJob* job) {
  if (++pending_ == 1) napi_ref_threadsafe_function(env_, tsfn_);
  IoPool::Get().Submit(job);
}

void Completer::CompleteNow(IoJob* job) {
  if (++pending_ == 1) napi_ref_threadsafe_function(env_, tsfn_);
  Push(job);
}

void Completer::WorkerStarted() {
  std::lock_guard<std::mutex> lock(mu_);
  running_++;
}

void Completer::WorkerFinished() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--running_ == 0) cv_.notify_all();
}

void Completer::Push(IoJob* job) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) {
      // The environment is being torn down: its Buffers and references die with it.
      delete job;
      return;
    }
    done_.push_back(job);
    wake = !signalled_;
    signalled_ = true;
  }
  // One wake-up per batch: whoever flips signalled_ from false to true calls.
  if (wake) napi_call_threadsafe_function(tsfn_, nullptr, napi_tsfn_nonblocking);
}

void Completer::CallJs(napi_env env, napi_value, void* ctx, void*) {
  if (env == nullptr) return;  // the function is being torn down
  static_cast<Completer*>(ctx)->Drain(env);
}

void Completer::Release(IoJob* job) {
  if (job->ref) napi_delete_reference(env_, job->ref);
  for (napi_ref r : job->refs) napi_delete_reference(env_, r);
  delete job;
}

void Completer::Drain(napi_env env) {
  std::vector<IoJob*> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(done_);
    signalled_ = false;
  }
  if (batch.empty()) return;

  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value fn = nullptr, recv = nullptr;
  if (handler_) {
    napi_get_reference_value(env, handler_, &fn);
    // napi_make_callback converts the receiver to an object; undefined would throw.
    napi_get_reference_value(env, resource_, &recv);
  }
  auto deliver = [&](size_t n) {
    if (fn == nullptr || n == 0) return;
    napi_value count;
    napi_create_uint32(env, static_cast<uint32_t>(n), &count);
    napi_value result;
    if (napi_make_callback(env, async_, recv, fn, 1, &count, &result) != napi_ok) {
      // The JS side catches per request, so this is a bug there; report it as an uncaught
      // exception but keep delivering the remaining completions.
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
    }
  };

  size_t n = 0;
  for (IoJob* job : batch) {
    if (records_ != nullptr) {
      if (n == capacity_) {
        deliver(n);
        n = 0;
      }
      double* r = records_ + n * kRecordFields;
      r[0] = job->id;
      r[1] = job->err;
      r[2] = job->failIndex;
      r[3] = static_cast<double>(job->done);
      n++;
    }
    Release(job);
    pending_--;
  }
  deliver(n);
  if (pending_ == 0) napi_unref_threadsafe_function(env, tsfn_);
  napi_close_handle_scope(env, scope);
}

void Completer::Cleanup(void* arg) {
  auto* self = static_cast<std::shared_ptr<Completer>*>(arg);
  (*self)->Shutdown();
  delete self;
}

void Completer::Shutdown() {
  // Workers must not write into this environment's Buffers after it is gone: drop queued
  // jobs and wait for the ones in progress.
  std::vector<IoJob*> queued =
      IoPool::Get().Sweep([this](const IoJob& j) { return j.completer.get() == this; });
  for (IoJob* j : queued) delete j;
  std::vector<IoJob*> rest;
  {
    std::unique_lock<std::mutex> lock(mu_);
    shutdown_ = true;
    cv_.wait(lock, [this] { return running_ == 0; });
    rest.swap(done_);
  }
  for (IoJob* j : rest) delete j;
  napi_release_threadsafe_function(tsfn_, napi_tsfn_abort);
}

}  // namespace tandem
