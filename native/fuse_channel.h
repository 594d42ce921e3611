// The kernel device's FUSE connection, served inside tandemd: /dev/fuse opened and mounted here,
// requests read on the JS thread's event loop, replies written straight back. The protocol
// (INIT, LOOKUP, READ, WRITE, FSYNC, ...) is decoded in TypeScript (src/fuse/); this part only
// moves bytes.
#pragma once
#include <napi.h>

namespace tandem {

void InitFuseChannel(Napi::Env env, Napi::Object exports);

// Frees the arenas and chunks kept for reuse (tandemd went idle after bulk I/O).
void DropFuseCaches();

}  // namespace tandem
