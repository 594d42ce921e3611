#include "fuse_channel.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "napi_util.h"

namespace tandem {
namespace {

// Every request is read with two iovecs: its first 80 bytes (fuse_in_header + fuse_write_in, so a
// WRITE's payload lands page-aligned, ready for O_DIRECT) into the request's slot of the table JS
// reads, the rest into a landing chunk of max_write bytes (the kernel refuses a smaller read
// buffer).
constexpr size_t kHeadBytes = 80;
// Slot: 80 head bytes, then u32 arena offset, u32 payload bytes, u32 total length, u32 chunk index
// (0: the payload is in the arena; i > 0: it is the batch's chunk i - 1).
constexpr size_t kSlotBytes = 96;
constexpr size_t kMaxBatch = 64;
constexpr size_t kPage = 4096;
constexpr size_t kMaxWrite = 1u << 20;
// A payload up to this size is copied from the landing chunk into the arena (a 4 KiB copy costs
// less than a Buffer of its own); a larger one keeps the landing chunk as its own Buffer, and a
// new chunk lands the next request. Large payloads used to stay in 8 MiB arenas: an arena lived as
// long as its slowest request, so it outlived young-generation GCs, and only V8's mark-compacts
// (run for the external memory) freed them: 16 % of the Primary's CPU at 1 MiB writes.
constexpr size_t kCopyMaxBytes = 128u << 10;
constexpr size_t kArenaBytes = 8u << 20;
constexpr size_t kCachedArenas = 8;
// chunks in flight are bounded by the kernel's requests in flight (max_background 128)
constexpr size_t kCachedChunks = 32;

// Arenas and chunks freed by the GC are kept for the next ones: fresh memory costs a page fault
// and a zeroed page per 4 KiB, more than the copy it saves. Shared by all environments (worker
// threads).
std::mutex gArenaMu;
std::vector<uint8_t*> gFreeArenas;
std::vector<uint8_t*> gFreeChunks;

uint8_t* TakeFrom(std::vector<uint8_t*>& cache, size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(gArenaMu);
    if (!cache.empty()) {
      uint8_t* a = cache.back();
      cache.pop_back();
      return a;
    }
  }
  void* p = nullptr;
  if (posix_memalign(&p, kPage, bytes) != 0) return nullptr;
  return static_cast<uint8_t*>(p);
}

void GiveBack(std::vector<uint8_t*>& cache, size_t keep, uint8_t* a) {
  std::lock_guard<std::mutex> lock(gArenaMu);
  if (cache.size() < keep) cache.push_back(a);
  else free(a);
}

uint8_t* TakeArena() { return TakeFrom(gFreeArenas, kArenaBytes); }
uint8_t* TakeChunk() { return TakeFrom(gFreeChunks, kMaxWrite); }
void ReturnArena(Napi::Env, uint8_t* a) { GiveBack(gFreeArenas, kCachedArenas, a); }
void ReturnChunk(Napi::Env, uint8_t* c) { GiveBack(gFreeChunks, kCachedChunks, c); }

void PutU32(uint8_t* p, uint32_t v) { memcpy(p, &v, 4); }

Napi::Error ErrnoError(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

// fuseMount(mountpoint, source, options): opens /dev/fuse and mounts it (root only); returns the fd.
Napi::Value FuseMount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString()) {
    ThrowType(env, "fuseMount(mountpoint: string, source: string, options: string)");
    return env.Undefined();
  }
  std::string mp = info[0].As<Napi::String>().Utf8Value();
  std::string source = info[1].As<Napi::String>().Utf8Value();
  std::string extra = info[2].As<Napi::String>().Utf8Value();
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    ErrnoError(env, "open /dev/fuse", errno).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string opts = "fd=" + std::to_string(fd) + ",rootmode=40000,user_id=0,group_id=0";
  if (!extra.empty()) opts += "," + extra;
  if (mount(source.c_str(), mp.c_str(), "fuse.tandem", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts.c_str()) != 0) {
    int err = errno;
    close(fd);
    ErrnoError(env, "mount " + mp, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

class FuseChannel : public Napi::ObjectWrap<FuseChannel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FuseChannel",
                       {
                           InstanceMethod<&FuseChannel::Reply>("reply"),
                           InstanceMethod<&FuseChannel::ReplyWrite>("replyWrite"),
                           InstanceMethod<&FuseChannel::Notify>("notify"),
                           InstanceMethod<&FuseChannel::Close>("close"),
                       });
  }

  // new FuseChannel(fd, table: Uint8Array, onRequests: (count, arena) => void)
  // count < 0: the connection ended (-errno; ENODEV after an unmount); nothing follows.
  explicit FuseChannel(const Napi::CallbackInfo& info) : ObjectWrap(info) {
    Napi::Env env = info.Env();
    uint64_t fd;
    uint8_t* table;
    size_t tableLen;
    if (!GetUint(info, 0, "fd", &fd) || !GetBuffer(info, 1, "table", &table, &tableLen)) return;
    if (tableLen < kMaxBatch * kSlotBytes) {
      ThrowRange(env, "table must hold " + std::to_string(kMaxBatch * kSlotBytes) + " bytes");
      return;
    }
    if (info.Length() < 3 || !info[2].IsFunction()) {
      ThrowType(env, "onRequests must be a function");
      return;
    }
    fd_ = static_cast<int>(fd);
    int fl = fcntl(fd_, F_GETFL);
    if (fl < 0 || fcntl(fd_, F_SETFL, fl | O_NONBLOCK) < 0) {
      ErrnoError(env, "fcntl O_NONBLOCK", errno).ThrowAsJavaScriptException();
      return;
    }
    table_ = table;
    tableRef_ = Napi::Persistent(info[1].As<Napi::Object>());
    handler_ = Napi::Persistent(info[2].As<Napi::Function>());
    async_ = std::make_unique<Napi::AsyncContext>(env, "tandem-fuse");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "no event loop").ThrowAsJavaScriptException();
      return;
    }
    poll_ = new uv_poll_t;
    poll_->data = this;
    if (uv_poll_init(loop, poll_, fd_) != 0) {
      delete poll_;
      poll_ = nullptr;
      Napi::Error::New(env, "uv_poll_init on the FUSE fd failed").ThrowAsJavaScriptException();
      return;
    }
    uv_poll_start(poll_, UV_READABLE, OnReadable);
    Ref();  // alive while the kernel can send requests, whatever JS holds
    napi_add_env_cleanup_hook(env, CleanupHook, this);
    hooked_ = true;
  }

  ~FuseChannel() override { Shutdown(); }

 private:
  static void CleanupHook(void* arg) {
    auto* self = static_cast<FuseChannel*>(arg);
    self->hooked_ = false;
    self->Shutdown();
  }

  static void OnReadable(uv_poll_t* h, int status, int) {
    auto* self = static_cast<FuseChannel*>(h->data);
    if (status < 0) {
      self->End(-status);
      return;
    }
    self->ReadBatch();
  }

  // JS thread: reads what the kernel has queued, up to a batch, and hands it to JS in one call.
  void ReadBatch() {
    size_t n = 0;
    int ended = 0;
    while (fd_ >= 0 && n < kMaxBatch) {
      if (landing_ == nullptr && (landing_ = TakeChunk()) == nullptr) {
        ended = ENOMEM;
        break;
      }
      uint8_t* slot = table_ + n * kSlotBytes;
      struct iovec iov[2] = {{slot, kHeadBytes}, {landing_, kMaxWrite}};
      ssize_t r = readv(fd_, iov, 2);
      if (r < 0) {
        int err = errno;
        if (err == EINTR || err == ENOENT) continue;  // ENOENT: the request was interrupted
        if (err == EAGAIN) break;
        ended = err;  // ENODEV: unmounted
        break;
      }
      size_t len = static_cast<size_t>(r);
      size_t rest = len > kHeadBytes ? len - kHeadBytes : 0;
      uint32_t chunkIndex = 0;
      uint32_t at = 0;
      if (rest > kCopyMaxBytes) {
        chunks_.push_back(landing_);
        chunkSizes_.push_back(rest);
        landing_ = nullptr;
        chunkIndex = static_cast<uint32_t>(chunks_.size());
      } else if (rest > 0) {
        if (arena_ == nullptr || kArenaBytes - arenaPos_ < rest) {
          // the requests read so far are views into the current arena: JS gets them first
          if (n > 0) {
            uint8_t keep[kSlotBytes];
            memcpy(keep, slot, kSlotBytes);
            Deliver(n);
            n = 0;
            if (fd_ < 0) return;  // closed by JS during delivery
            slot = table_;
            memcpy(slot, keep, kSlotBytes);
          }
          if (!NewArena()) {
            ended = ENOMEM;
            break;
          }
        }
        at = static_cast<uint32_t>(arenaPos_);
        memcpy(arena_ + arenaPos_, landing_, rest);
        // page-aligned, as O_DIRECT wants it
        arenaPos_ += (rest + kPage - 1) & ~(kPage - 1);
      }
      PutU32(slot + 80, at);
      PutU32(slot + 84, static_cast<uint32_t>(rest));
      PutU32(slot + 88, static_cast<uint32_t>(len));
      PutU32(slot + 92, chunkIndex);
      n++;
    }
    if (n > 0) Deliver(n);
    if (ended != 0) End(ended);
  }

  bool NewArena() {
    arenaRef_.Reset();
    arena_ = TakeArena();
    arenaPos_ = 0;
    if (arena_ == nullptr) return false;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    // the arena goes back to the cache once no Buffer view of it is left (GC)
    arenaRef_ = Napi::Persistent(Napi::Buffer<uint8_t>::New(env, arena_, kArenaBytes, ReturnArena));
    return true;
  }

  void Deliver(size_t n) { Call(static_cast<double>(n)); }

  void Call(double count) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    napi_value chunks = env.Null();
    if (!chunks_.empty()) {
      // each large payload is a Buffer of its own: it goes back to the cache once its request is
      // done with it and a young-generation GC has run (fuse-mount.ts paces those)
      Napi::Array a = Napi::Array::New(env, chunks_.size());
      for (size_t i = 0; i < chunks_.size(); i++) {
        a.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::New(env, chunks_[i], chunkSizes_[i], ReturnChunk));
      }
      chunks_.clear();
      chunkSizes_.clear();
      chunks = a;
    }
    napi_value args[3] = {Napi::Number::New(env, count),
                          arenaRef_.IsEmpty() ? env.Null() : arenaRef_.Value(), chunks};
    napi_value recv = Value();
    napi_value result;
    if (napi_make_callback(env, *async_, recv, handler_.Value(), 3, args, &result) != napi_ok) {
      // the JS side catches per request; an exception here is a bug there: report it as uncaught
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
    }
  }

  void End(int err) {
    if (fd_ < 0) return;
    StopPolling();
    Call(-static_cast<double>(err));
  }

  void StopPolling() {
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
      Unref();
    }
  }

  void Shutdown() {
    if (hooked_) {
      napi_remove_env_cleanup_hook(Env(), CleanupHook, this);
      hooked_ = false;
    }
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
    for (uint8_t* c : chunks_) free(c);
    chunks_.clear();
    chunkSizes_.clear();
    if (landing_ != nullptr) {
      free(landing_);
      landing_ = nullptr;
    }
  }

  // reply(unique, errno, data?, data2?): 0, or the errno of the write (ENOENT: the request was
  // interrupted meanwhile; ENODEV: the connection is gone)
  Napi::Value Reply(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t unique, err;
    if (!GetUint(info, 0, "unique", &unique) || !GetUint(info, 1, "errno", &err)) return env.Undefined();
    uint8_t head[16];
    struct iovec iov[3];
    int cnt = 1;
    size_t total = sizeof head;
    for (size_t i = 2; i < 4 && i < info.Length() && err == 0; i++) {
      if (info[i].IsUndefined() || info[i].IsNull()) continue;
      uint8_t* d;
      size_t l;
      if (!GetBuffer(info, i, "data", &d, &l)) return env.Undefined();
      iov[cnt].iov_base = d;
      iov[cnt].iov_len = l;
      total += l;
      cnt++;
    }
    return Napi::Number::New(env, Write(head, unique, static_cast<int32_t>(err), total, iov, cnt));
  }

  // notify(code, data): an unsolicited message to the kernel (unique 0, the notify code where a
  // reply has its error), e.g. FUSE_NOTIFY_INVAL_INODE after the file's size changed
  Napi::Value Notify(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t code;
    if (!GetUint(info, 0, "code", &code)) return env.Undefined();
    uint8_t* d;
    size_t l;
    if (!GetBuffer(info, 1, "data", &d, &l)) return env.Undefined();
    uint8_t head[16];
    struct iovec iov[2];
    iov[1].iov_base = d;
    iov[1].iov_len = l;
    return Napi::Number::New(env, Write(head, 0, -static_cast<int32_t>(code), sizeof head + l, iov, 2));
  }

  // replyWrite(unique, size): WRITE's reply (fuse_write_out) without a Buffer from JS
  Napi::Value ReplyWrite(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t unique, size;
    if (!GetUint(info, 0, "unique", &unique) || !GetUint(info, 1, "size", &size)) return env.Undefined();
    uint8_t head[16];
    uint8_t out[8] = {0};
    PutU32(out, static_cast<uint32_t>(size));
    struct iovec iov[2];
    iov[1].iov_base = out;
    iov[1].iov_len = sizeof out;
    return Napi::Number::New(env, Write(head, unique, 0, sizeof head + sizeof out, iov, 2));
  }

  int Write(uint8_t* head, uint64_t unique, int32_t err, size_t total, struct iovec* iov, int cnt) {
    if (fd_ < 0) return ENODEV;
    PutU32(head, static_cast<uint32_t>(total));
    int32_t e = -err;
    memcpy(head + 4, &e, 4);
    memcpy(head + 8, &unique, 8);
    iov[0].iov_base = head;
    iov[0].iov_len = 16;
    for (;;) {
      ssize_t r = writev(fd_, iov, cnt);
      if (r >= 0) return 0;
      if (errno != EINTR) return errno;
    }
  }

  // close(): stops reading and closes /dev/fuse; a mount still in place is aborted by the kernel
  Napi::Value Close(const Napi::CallbackInfo& info) {
    StopPolling();
    Shutdown();
    return info.Env().Undefined();
  }

  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  bool hooked_ = false;
  uint8_t* table_ = nullptr;
  Napi::ObjectReference tableRef_;
  Napi::FunctionReference handler_;
  std::unique_ptr<Napi::AsyncContext> async_;
  uint8_t* arena_ = nullptr;
  size_t arenaPos_ = 0;
  Napi::Reference<Napi::Buffer<uint8_t>> arenaRef_;
  // the chunk the next request is read into; large payloads read in this batch, not yet delivered
  uint8_t* landing_ = nullptr;
  std::vector<uint8_t*> chunks_;
  std::vector<size_t> chunkSizes_;
};

}  // namespace

void DropFuseCaches() {
  std::lock_guard<std::mutex> lock(gArenaMu);
  for (uint8_t* a : gFreeArenas) free(a);
  for (uint8_t* c : gFreeChunks) free(c);
  gFreeArenas.clear();
  gFreeChunks.clear();
}

void InitFuseChannel(Napi::Env env, Napi::Object exports) {
  exports.Set("fuseMount", Napi::Function::New(env, FuseMount));
  exports.Set("FuseChannel", FuseChannel::Define(env));
  Napi::Object c = Napi::Object::New(env);
  c.Set("slotBytes", Napi::Number::New(env, kSlotBytes));
  c.Set("maxBatch", Napi::Number::New(env, kMaxBatch));
  c.Set("headBytes", Napi::Number::New(env, kHeadBytes));
  c.Set("maxWrite", Napi::Number::New(env, kMaxWrite));
  c.Set("copyMaxBytes", Napi::Number::New(env, kCopyMaxBytes));
  exports.Set("fuseLimits", c);
}

}  // namespace tandem
