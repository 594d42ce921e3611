// Entry point of tandem_native: block I/O on the addon's own thread pool, the dirty bitmap,
// CRC-32C, the kernel device's FUSE connection and a unix datagram socket (syslog). Nothing here knows about peers or roles.
#include <napi.h>

#if defined(__linux__)
#include <malloc.h>
#endif

#include <memory>

#include "block_device.h"
#include "crc32c.h"
#include "dirty_bitmap.h"
#include "fuse_channel.h"
#include "io_pool.h"
#include "napi_util.h"
#include "unix_dgram.h"

namespace tandem {
namespace {

// setCompletionHandler(records: Float64Array, fn: (count: number) => void)
Napi::Value SetCompletionHandler(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* c = env.GetInstanceData<std::shared_ptr<Completer>>();
  if (info.Length() < 2 || !(*c)->SetHandler(env, info[0], info[1]))
    ThrowType(env, "setCompletionHandler(records: Float64Array (>= 64 entries), fn: Function)");
  return env.Undefined();
}

// alignPad(buffer, alignment): bytes to skip from the start of `buffer` to reach an address
// that is a multiple of `alignment` (a power of two). Lets JS carve aligned Buffers for
// O_DIRECT out of ordinary V8-owned memory.
Napi::Value AlignPad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* data;
  size_t len;
  uint64_t align;
  if (!GetBuffer(info, 0, "buffer", &data, &len) || !GetUint(info, 1, "alignment", &align))
    return env.Undefined();
  if (align == 0 || (align & (align - 1)) != 0) {
    ThrowRange(env, "alignment must be a power of two");
    return env.Undefined();
  }
  uintptr_t p = reinterpret_cast<uintptr_t>(data);
  return Napi::Number::New(env, static_cast<double>((align - (p & (align - 1))) & (align - 1)));
}

// releaseIdleMemory(): gives memory kept for the next burst of bulk I/O back to the system: the
// FUSE arenas and chunks kept for reuse, and what glibc's malloc holds free. After a burst of
// 1 MiB writes the Secondary kept about 120 MiB resident: payloads are 1 MiB mallocs, and once
// one mmapped chunk is freed glibc raises its mmap threshold, so later ones come from heaps it
// does not give back by itself (malloc_trim(0) returns the free pages of every arena).
Napi::Value ReleaseIdleMemory(const Napi::CallbackInfo& info) {
  DropFuseCaches();
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  std::shared_ptr<Completer> c = Completer::Create(env);
  if (!c) {
    Napi::Error::New(env, "tandem_native: cannot create the I/O completion channel")
        .ThrowAsJavaScriptException();
    return exports;
  }
  env.SetInstanceData<std::shared_ptr<Completer>>(new std::shared_ptr<Completer>(c));
  exports.Set("setCompletionHandler", Napi::Function::New(env, SetCompletionHandler));
  exports.Set("alignPad", Napi::Function::New(env, AlignPad));
  exports.Set("releaseIdleMemory", Napi::Function::New(env, ReleaseIdleMemory));
  InitBlockDevice(env, exports);
  InitDirtyBitmap(env, exports);
  InitCrc32c(env, exports);
  InitFuseChannel(env, exports);
  InitUnixDgram(env, exports);
  return exports;
}

}  // namespace
}  // namespace tandem

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return tandem::Init(env, exports);
}

NODE_API_MODULE(tandem_native, InitModule)
