// Opening the backing device and the JS-facing NativeDevice class. Requests are validated
// here (a bad offset from JS must never become a wild pread) and handed to the I/O pool.
#include "block_device.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "io_job.h"
#include "io_pool.h"
#include "napi_util.h"

namespace tandem {

DeviceState::~DeviceState() {
  if (fd >= 0) ::close(fd);
  if (bulkFd >= 0) ::close(bulkFd);
}

namespace {

struct OpenError {
  int err;
  std::string message;
};

// Files get a 4 KiB O_DIRECT alignment: it satisfies every logical block size in use (512 and
// 4096) without asking the filesystem which device it sits on.
constexpr uint32_t kFileDirectAlign = 4096;

bool OpenDevice(const std::string& path, bool direct, bool readOnly, DeviceState* st,
                OpenError* e) {
  struct stat sb;
  if (stat(path.c_str(), &sb) < 0) {
    int err = errno;
    e->err = err;
    e->message = path + ": " + (err == ENOENT ? std::string("no such file or directory")
                                              : std::string(strerror(err)));
    return false;
  }
  // Checked before open(): opening a FIFO would block and a tty would become ours.
  if (!S_ISREG(sb.st_mode) && !S_ISBLK(sb.st_mode)) {
    e->err = EINVAL;
    e->message = path + ": not a regular file or block device";
    return false;
  }
  bool isBlock = S_ISBLK(sb.st_mode);
  int flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY;
  // O_EXCL on a block device fails with EBUSY when it is mounted, a member of an md/dm/LVM
  // stack, or opened O_EXCL by someone else (another tandemd, mkfs, ...).
  if (isBlock) flags |= O_EXCL;
  if (direct) flags |= O_DIRECT;
  int fd;
  do {
    fd = open(path.c_str(), flags);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int err = errno;
    e->err = err;
    if (err == EBUSY)
      e->message = path + ": device is in use (mounted or held open by another process)";
    else if (err == EINVAL && direct)
      e->message = path + ": O_DIRECT is not supported here (filesystem or device refused it)";
    else
      e->message = path + ": " + strerror(err);
    return false;
  }
  st->fd = fd;  // owned by st from here on
  struct stat fb;
  if (fstat(fd, &fb) < 0 || (fb.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
    e->err = EINVAL;
    e->message = path + ": changed type while being opened";
    return false;
  }
  st->path = path;
  st->isBlock = isBlock;
  st->direct = direct;
  st->readOnly = readOnly;
  if (isBlock) {
    uint64_t bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
      e->err = errno;
      e->message = path + ": BLKGETSIZE64 failed: " + strerror(errno);
      return false;
    }
    st->size = bytes;
    int lbs = 512;
    if (ioctl(fd, BLKSSZGET, &lbs) < 0 || lbs < 512) lbs = 512;
    st->align = direct ? static_cast<uint32_t>(lbs) : 1;
    st->bulkAlign = static_cast<uint32_t>(lbs);
  } else {
    st->size = static_cast<uint64_t>(fb.st_size);
    st->align = direct ? kFileDirectAlign : 1;
    st->bulkAlign = kFileDirectAlign;
  }
  if (!direct && !readOnly) {
    // Without O_EXCL: the first fd already holds the block device exclusively. Failure is not an
    // error; bulk writes then go through the page cache like any other.
    int bfd;
    do {
      bfd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY | O_DIRECT);
    } while (bfd < 0 && errno == EINTR);
    struct stat bb;
    if (bfd >= 0 && (fstat(bfd, &bb) < 0 || bb.st_ino != fb.st_ino || bb.st_dev != fb.st_dev ||
                     bb.st_rdev != fb.st_rdev)) {
      ::close(bfd);  // the path now names something else: never write there
      bfd = -1;
    }
    st->bulkFd = bfd;
  }
  return true;
}

class DeviceWrap : public Napi::ObjectWrap<DeviceWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeDevice",
                       {
                           InstanceMethod<&DeviceWrap::Info>("info"),
                           InstanceMethod<&DeviceWrap::RefreshSize>("refreshSize"),
                           InstanceMethod<&DeviceWrap::Read>("read"),
                           InstanceMethod<&DeviceWrap::Write>("write"),
                           InstanceMethod<&DeviceWrap::WriteBulk>("writeBulk"),
                           InstanceMethod<&DeviceWrap::WriteBatch>("writeBatch"),
                           InstanceMethod<&DeviceWrap::ReadSync>("readSync"),
                           InstanceMethod<&DeviceWrap::WriteSync>("writeSync"),
                           InstanceMethod<&DeviceWrap::WriteBatchSync>("writeBatchSync"),
                           InstanceMethod<&DeviceWrap::Flush>("flush"),
                           InstanceMethod<&DeviceWrap::Discard>("discard"),
                           InstanceMethod<&DeviceWrap::InjectFaults>("injectFaults"),
                           InstanceMethod<&DeviceWrap::ClearFaults>("clearFaults"),
                           InstanceMethod<&DeviceWrap::Close>("close"),
                       });
  }

  // new NativeDevice(path, direct, readOnly, faultsEnabled)
  explicit DeviceWrap(const Napi::CallbackInfo& info) : ObjectWrap(info) {
    Napi::Env env = info.Env();
    completer_ = *env.GetInstanceData<std::shared_ptr<Completer>>();
    if (info.Length() < 4 || !info[0].IsString()) {
      ThrowType(env, "NativeDevice(path, direct, readOnly, faultsEnabled)");
      return;
    }
    std::string path = info[0].As<Napi::String>().Utf8Value();
    auto st = std::make_shared<DeviceState>();
    OpenError e{0, ""};
    if (!OpenDevice(path, info[1].ToBoolean(), info[2].ToBoolean(), st.get(), &e)) {
      Napi::Error err = Napi::Error::New(env, e.message);
      err.Set("errno", Napi::Number::New(env, e.err));
      err.Set("syscall", Napi::String::New(env, "open"));
      err.Set("path", Napi::String::New(env, path));
      err.ThrowAsJavaScriptException();
      return;
    }
    st->faultsEnabled = info[3].ToBoolean();
    st_ = st;
  }

 private:
  bool Usable(Napi::Env env) {
    if (!st_) {
      Napi::Error::New(env, "device was never opened").ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  bool CheckRange(Napi::Env env, const char* op, uint64_t off, uint64_t len, bool aligned) {
    if (off > st_->size || len > st_->size - off) {
      ThrowRange(env, st_->path + ": " + op + " of " + std::to_string(len) + " bytes at offset " +
                          std::to_string(off) + " is beyond the device end (" +
                          std::to_string(st_->size) + " bytes)");
      return false;
    }
    if (aligned && st_->direct && (off % st_->align || len % st_->align)) {
      ThrowRange(env, st_->path + ": O_DIRECT " + op + " needs offset and length aligned to " +
                          std::to_string(st_->align) + " bytes");
      return false;
    }
    return true;
  }

  IoJob* NewJob(const Napi::CallbackInfo& info, IoOp op) {
    uint64_t id;
    if (!GetUint(info, 0, "id", &id)) return nullptr;
    IoJob* job = new (std::nothrow) IoJob();
    if (!job) {
      Napi::Error::New(info.Env(), "out of memory").ThrowAsJavaScriptException();
      return nullptr;
    }
    job->id = static_cast<double>(id);
    job->op = op;
    job->dev = st_;
    job->completer = completer_;
    return job;
  }

  void Submit(IoJob* job) {
    if (st_->closed) {
      job->err = kErrClosed;
      completer_->CompleteNow(job);
    } else {
      completer_->Submit(job);
    }
  }

  // (offset, buffer) at info[first], info[first + 1], checked against the device. On failure a
  // JS exception is pending and false is returned.
  bool ParseSegment(const Napi::CallbackInfo& info, size_t first, IoOp op, Segment* seg) {
    if (!Usable(info.Env())) return false;
    uint64_t off;
    uint8_t* data;
    size_t len;
    if (!GetUint(info, first, "offset", &off) || !GetBuffer(info, first + 1, "buffer", &data, &len))
      return false;
    if (!CheckRange(info.Env(), op == IoOp::kRead ? "read" : "write", off, len, true)) return false;
    *seg = {off, data, len};
    return true;
  }

  // read(id, offset, buffer) / write(id, offset, buffer): the whole Buffer is transferred.
  Napi::Value ReadOrWrite(const Napi::CallbackInfo& info, IoOp op) {
    Napi::Env env = info.Env();
    Segment seg{0, nullptr, 0};
    if (!ParseSegment(info, 1, op, &seg)) return env.Undefined();
    IoJob* job = NewJob(info, op);
    if (!job) return env.Undefined();
    job->seg = seg;
    napi_create_reference(env, info[2], 1, &job->ref);
    Submit(job);
    return env.Undefined();
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", Napi::String::New(env, st_->isBlock ? "block" : "file"));
    o.Set("size", Napi::Number::New(env, static_cast<double>(st_->size)));
    o.Set("alignment", Napi::Number::New(env, st_->align));
    return o;
  }

  // `tandemadm resize`: the backing file or LV grew while open. The size is read again from the
  // open fd (the path could name something else by now); only the JS thread reads st_->size.
  Napi::Value RefreshSize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    if (st_->closed) {
      Napi::Error::New(env, st_->path + ": device is closed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint64_t bytes = 0;
    if (st_->isBlock) {
      if (ioctl(st_->fd, BLKGETSIZE64, &bytes) < 0) {
        Napi::Error::New(env, st_->path + ": BLKGETSIZE64 failed: " + strerror(errno)).ThrowAsJavaScriptException();
        return env.Undefined();
      }
    } else {
      struct stat fb;
      if (fstat(st_->fd, &fb) < 0) {
        Napi::Error::New(env, st_->path + ": fstat failed: " + strerror(errno)).ThrowAsJavaScriptException();
        return env.Undefined();
      }
      bytes = static_cast<uint64_t>(fb.st_size);
    }
    st_->size = bytes;
    return Napi::Number::New(env, static_cast<double>(bytes));
  }

  Napi::Value Read(const Napi::CallbackInfo& info) { return ReadOrWrite(info, IoOp::kRead); }
  Napi::Value Write(const Napi::CallbackInfo& info) { return ReadOrWrite(info, IoOp::kWrite); }
  Napi::Value WriteBulk(const Napi::CallbackInfo& info) { return ReadOrWrite(info, IoOp::kWriteBulk); }

  // Reads the (offsets, buffers) arguments at info[first], info[first+1] into segs. On failure a
  // JS exception is pending and false is returned.
  bool ParseBatch(const Napi::CallbackInfo& info, size_t first, const char* sig,
                  std::vector<Segment>* segs) {
    Napi::Env env = info.Env();
    if (info.Length() < first + 2 || !info[first].IsTypedArray() || !info[first + 1].IsArray() ||
        info[first].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      ThrowType(env, sig);
      return false;
    }
    Napi::Float64Array offsets = info[first].As<Napi::Float64Array>();
    Napi::Array buffers = info[first + 1].As<Napi::Array>();
    uint32_t n = buffers.Length();
    if (offsets.ElementLength() != n) {
      ThrowRange(env, "writeBatch: offsets and buffers differ in length");
      return false;
    }
    segs->reserve(n);
    for (uint32_t i = 0; i < n; i++) {
      double d = offsets[i];
      Napi::Value b = buffers.Get(i);
      if (!(d >= 0 && d <= kMaxSafeInteger && static_cast<double>(static_cast<uint64_t>(d)) == d) ||
          !b.IsTypedArray() || b.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        ThrowType(env, "writeBatch: entry " + std::to_string(i) +
                           " needs a non-negative integer offset and a Buffer");
        return false;
      }
      Napi::Uint8Array u8 = b.As<Napi::Uint8Array>();
      uint64_t off = static_cast<uint64_t>(d);
      if (!CheckRange(env, "write", off, u8.ByteLength(), true)) return false;
      segs->push_back({off, u8.Data(), u8.ByteLength()});
    }
    return true;
  }

  // writeBatch(id, offsets: Float64Array, buffers: Buffer[])
  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    std::vector<Segment> segs;
    if (!ParseBatch(info, 1, "writeBatch(id, offsets: Float64Array, buffers: Buffer[])", &segs))
      return env.Undefined();
    std::unique_ptr<IoJob> job(NewJob(info, IoOp::kWriteBatch));
    if (!job) return env.Undefined();
    job->segs = std::move(segs);
    Napi::Array buffers = info[2].As<Napi::Array>();
    uint32_t n = buffers.Length();
    job->refs.resize(n, nullptr);
    for (uint32_t i = 0; i < n; i++) napi_create_reference(env, buffers.Get(i), 1, &job->refs[i]);
    Submit(job.release());
    return env.Undefined();
  }

  // The synchronous twins run the same code as a pool worker, on the calling (JS) thread: for
  // small buffered requests the page-cache copy costs less than the hand-off to a worker and the
  // completion back (futex wake, context switch, uv_async), which the profile showed dominating.
  // They return 0, or [err, failIndex, done] on failure.
  Napi::Value SyncResult(Napi::Env env, const IoJob& job) {
    if (job.err == 0) return Napi::Number::New(env, 0);
    Napi::Array r = Napi::Array::New(env, 3);
    r.Set(0u, Napi::Number::New(env, job.err));
    r.Set(1u, Napi::Number::New(env, job.failIndex));
    r.Set(2u, Napi::Number::New(env, static_cast<double>(job.done)));
    return r;
  }

  // (offset, buffer) on the calling thread: reads only from the page cache (kErrWouldBlock when a
  // page is not there, so a cold read never stalls the event loop behind the disk); writes as a
  // pool worker would.
  Napi::Value SingleSync(const Napi::CallbackInfo& info, IoOp op) {
    Napi::Env env = info.Env();
    Segment seg{0, nullptr, 0};
    if (!ParseSegment(info, 0, op, &seg)) return env.Undefined();
    IoJob job;
    job.op = op;
    job.dev = st_;
    job.seg = seg;
    if (st_->closed) job.err = kErrClosed;
    else if (op == IoOp::kRead) ReadIfCached(&job);
    else ExecuteJob(&job);
    return SyncResult(env, job);
  }

  Napi::Value ReadSync(const Napi::CallbackInfo& info) { return SingleSync(info, IoOp::kRead); }
  Napi::Value WriteSync(const Napi::CallbackInfo& info) { return SingleSync(info, IoOp::kWrite); }

  // writeBatchSync(offsets: Float64Array, buffers: Buffer[])
  Napi::Value WriteBatchSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    IoJob job;
    if (!ParseBatch(info, 0, "writeBatchSync(offsets: Float64Array, buffers: Buffer[])", &job.segs))
      return env.Undefined();
    job.op = IoOp::kWriteBatch;
    job.dev = st_;
    if (st_->closed) job.err = kErrClosed;
    else if (!job.segs.empty()) ExecuteJob(&job);
    return SyncResult(env, job);
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    IoJob* job = NewJob(info, IoOp::kFlush);
    if (job) Submit(job);
    return env.Undefined();
  }

  // discard(id, offset, length)
  Napi::Value Discard(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    uint64_t off, len;
    if (!GetUint(info, 1, "offset", &off) || !GetUint(info, 2, "length", &len))
      return env.Undefined();
    if (!CheckRange(env, "discard", off, len, false)) return env.Undefined();
    IoJob* job = NewJob(info, IoOp::kDiscard);
    if (!job) return env.Undefined();
    job->seg = {off, nullptr, len};
    Submit(job);
    return env.Undefined();
  }

  // injectFaults(flat: Float64Array of [offset, length, ops, errno] quadruples)
  Napi::Value InjectFaults(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    if (!st_->faultsEnabled) {
      Napi::Error::New(env, st_->path +
                                ": fault injection is disabled (set TANDEM_TEST_FAULTS=1 "
                                "before opening the device)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      ThrowType(env, "injectFaults(Float64Array)");
      return env.Undefined();
    }
    Napi::Float64Array a = info[0].As<Napi::Float64Array>();
    std::vector<Fault> add;
    for (size_t i = 0; i + 3 < a.ElementLength(); i += 4) {
      add.push_back({static_cast<uint64_t>(a[i]), static_cast<uint64_t>(a[i + 1]),
                     static_cast<int>(a[i + 2]), static_cast<int>(a[i + 3])});
    }
    std::lock_guard<std::mutex> lock(st_->faultMu);
    st_->faults.insert(st_->faults.end(), add.begin(), add.end());
    st_->hasFaults.store(!st_->faults.empty(), std::memory_order_release);
    return env.Undefined();
  }

  Napi::Value ClearFaults(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    if (!st_->faultsEnabled) {
      Napi::Error::New(env, st_->path + ": fault injection is disabled")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::lock_guard<std::mutex> lock(st_->faultMu);
    st_->faults.clear();
    st_->hasFaults.store(false, std::memory_order_release);
    return env.Undefined();
  }

  // Requests not yet started complete with kErrClosed; requests inside a syscall are waited
  // for, so when close() returns the fd is closed and an O_EXCL device can be reopened.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!st_ || st_->closed) return env.Undefined();
    DeviceState* st = st_.get();
    std::vector<IoJob*> queued =
        IoPool::Get().Sweep([st](const IoJob& j) { return j.dev.get() == st; });
    {
      std::unique_lock<std::mutex> lock(st->mu);
      st->closed = true;
      st->cv.wait(lock, [st] { return st->running == 0; });
      if (st->fd >= 0) ::close(st->fd);
      st->fd = -1;
      if (st->bulkFd >= 0) ::close(st->bulkFd);
      st->bulkFd = -1;
    }
    for (IoJob* j : queued) {
      j->err = kErrClosed;
      // Already counted as pending when submitted; Push only queues the delivery.
      j->completer->Push(j);
    }
    return env.Undefined();
  }

  std::shared_ptr<DeviceState> st_;
  std::shared_ptr<Completer> completer_;
};

}  // namespace

void InitBlockDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeDevice", DeviceWrap::Define(env));
}

}  // namespace tandem
