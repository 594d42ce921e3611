// Small helpers shared by the addon's bindings: argument checks that throw instead of crashing.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace tandem {

// JS numbers are exact integers only up to 2^53; byte offsets are accepted in that range.
constexpr double kMaxSafeInteger = 9007199254740991.0;

inline void ThrowRange(Napi::Env env, const std::string& msg) {
  Napi::RangeError::New(env, msg).ThrowAsJavaScriptException();
}

inline void ThrowType(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
}

// Reads argument `i` as a non-negative safe integer. On failure a JS exception is pending and
// false is returned.
inline bool GetUint(const Napi::CallbackInfo& info, size_t i, const char* name, uint64_t* out) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsNumber()) {
    ThrowType(env, std::string(name) + " must be a number");
    return false;
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < 0 || d > kMaxSafeInteger || std::floor(d) != d) {
    ThrowRange(env, std::string(name) + " must be a non-negative safe integer");
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

inline bool GetBuffer(const Napi::CallbackInfo& info, size_t i, const char* name, uint8_t** data,
                      size_t* len) {
  if (i >= info.Length() || !info[i].IsTypedArray()) {
    ThrowType(info.Env(), std::string(name) + " must be a Buffer or Uint8Array");
    return false;
  }
  Napi::TypedArray ta = info[i].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) {
    ThrowType(info.Env(), std::string(name) + " must be a Buffer or Uint8Array");
    return false;
  }
  Napi::Uint8Array u8 = ta.As<Napi::Uint8Array>();
  *data = u8.Data();
  *len = u8.ByteLength();
  return true;
}

}  // namespace tandem
