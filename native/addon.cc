#include <napi.h>
// Placeholder entry point; the storage addon is filled in by the native work.
static Napi::Object Init(Napi::Env env, Napi::Object exports) { return exports; }
NODE_API_MODULE(tandem_native, Init)
