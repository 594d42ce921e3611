// The addon's own I/O threads (not libuv's pool, which fs and DNS share) and the path that
// brings completions back to JS: workers append finished jobs to a list and wake the JS
// thread once; the JS thread then delivers the whole list in one call into JS.
#pragma once
#include <node_api.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "io_job.h"

namespace tandem {

// Per-environment (main thread or worker_thread) completion channel.
class Completer {
 public:
  // Record layout shared with src/storage/io-completions.ts: [id, err, failIndex, done].
  static constexpr size_t kRecordFields = 4;

  static std::shared_ptr<Completer> Create(napi_env env);

  // JS thread: registers the Float64Array records land in and the function told "n are ready".
  bool SetHandler(napi_env env, napi_value records, napi_value fn);
  // JS thread: hand a job to the pool (keeps the event loop alive while anything is pending).
  void Submit(IoJob* job);
  // JS thread: complete a job without running it (device already closed).
  void CompleteNow(IoJob* job);

  // Worker thread: the job is finished; queue it for delivery.
  void Push(IoJob* job);

  void WorkerStarted();
  void WorkerFinished();

 private:
  explicit Completer(napi_env env) : env_(env) {}
  static void CallJs(napi_env env, napi_value fn, void* ctx, void* data);
  static void Cleanup(void* arg);
  void Drain(napi_env env);
  void Shutdown();
  void Release(IoJob* job);

  napi_env env_;
  napi_threadsafe_function tsfn_ = nullptr;
  napi_async_context async_ = nullptr;
  napi_ref resource_ = nullptr;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<IoJob*> done_;
  bool signalled_ = false;
  bool shutdown_ = false;
  int running_ = 0;  // jobs of this environment a worker is executing right now

  // JS thread only.
  napi_ref handler_ = nullptr;
  napi_ref records_ref_ = nullptr;
  double* records_ = nullptr;
  size_t capacity_ = 0;  // in records
  uint64_t pending_ = 0;
  std::shared_ptr<Completer>* self_ = nullptr;  // owned by the cleanup hook
};

class IoPool {
 public:
  static IoPool& Get();
  void Submit(IoJob* job);
  // Removes queued (not yet started) jobs that match; they are returned to the caller.
  std::vector<IoJob*> Sweep(const std::function<bool(const IoJob&)>& match);

 private:
  IoPool() = default;
  void Start();
  void Worker();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<IoJob*> queue_;
  bool started_ = false;
};

// Runs the job's syscalls on a worker (block_device.cc).
void ExecuteJob(IoJob* job);
// A read served from the page cache only (preadv2 RWF_NOWAIT), on the calling thread; returns
// job->err, kErrWouldBlock when the data would have to come from the disk.
int ReadIfCached(IoJob* job);
// Worker bookkeeping hooks for the job's device (block_device.cc).
void DeviceJobStarted(DeviceState* dev);
void DeviceJobFinished(DeviceState* dev);

}  // namespace tandem
