#pragma once
#include <napi.h>

namespace tandem {
void InitDirtyBitmap(Napi::Env env, Napi::Object exports);
}
