#include "crc32c.h"

#include <cstring>

#include "napi_util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define TANDEM_HAVE_X86_CRC 1
#endif

namespace tandem {
namespace {

constexpr uint32_t kPolyReflected = 0x82F63B78u;

// Slicing-by-8 tables: eight bytes per step without any CPU extension.
struct Tables {
  uint32_t t[8][256];
  Tables() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c >> 1) ^ ((c & 1) ? kPolyReflected : 0);
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
      for (int s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
  }
};

const Tables& GetTables() {
  static const Tables tables;
  return tables;
}

uint32_t RawTable(uint32_t crc, const uint8_t* p, size_t n) {
  const Tables& T = GetTables();
  while (n >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    lo = __builtin_bswap32(lo);
    hi = __builtin_bswap32(hi);
#endif
    lo ^= crc;
    crc = T.t[7][lo & 0xff] ^ T.t[6][(lo >> 8) & 0xff] ^ T.t[5][(lo >> 16) & 0xff] ^
          T.t[4][lo >> 24] ^ T.t[3][hi & 0xff] ^ T.t[2][(hi >> 8) & 0xff] ^
          T.t[1][(hi >> 16) & 0xff] ^ T.t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) crc = (crc >> 8) ^ T.t[0][(crc ^ *p++) & 0xff];
  return crc;
}

#ifdef TANDEM_HAVE_X86_CRC
__attribute__((target("sse4.2"))) uint32_t RawSse42(uint32_t crc, const uint8_t* p, size_t n) {
  while (n && (reinterpret_cast<uintptr_t>(p) & 7)) {
    crc = _mm_crc32_u8(crc, *p++);
    n--;
  }
#if defined(__x86_64__)
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  crc = static_cast<uint32_t>(c);
#endif
  while (n >= 4) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    crc = _mm_crc32_u32(crc, v);
    p += 4;
    n -= 4;
  }
  while (n--) crc = _mm_crc32_u8(crc, *p++);
  return crc;
}

bool DetectSse42() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#endif

const bool kHardware =
#ifdef TANDEM_HAVE_X86_CRC
    DetectSse42();
#else
    false;
#endif

Napi::Value JsCrc(const Napi::CallbackInfo& info, bool forceTable) {
  Napi::Env env = info.Env();
  uint8_t* data;
  size_t len;
  if (!GetBuffer(info, 0, "data", &data, &len)) return env.Undefined();
  uint32_t seed = 0;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    uint64_t s;
    if (!GetUint(info, 1, "seed", &s)) return env.Undefined();
    if (s > 0xFFFFFFFFull) {
      ThrowRange(env, "seed must be a 32-bit unsigned integer");
      return env.Undefined();
    }
    seed = static_cast<uint32_t>(s);
  }
  uint32_t crc = forceTable ? Crc32cTable(data, len, seed) : Crc32c(data, len, seed);
  return Napi::Number::New(env, crc);
}

}  // namespace

uint32_t Crc32cTable(const uint8_t* data, size_t len, uint32_t seed) {
  return ~RawTable(~seed, data, len);
}

uint32_t Crc32c(const uint8_t* data, size_t len, uint32_t seed) {
#ifdef TANDEM_HAVE_X86_CRC
  if (kHardware) return ~RawSse42(~seed, data, len);
#endif
  return ~RawTable(~seed, data, len);
}

bool Crc32cHardware() { return kHardware; }

void InitCrc32c(Napi::Env env, Napi::Object exports) {
  exports.Set("crc32c", Napi::Function::New(
                            env, [](const Napi::CallbackInfo& info) { return JsCrc(info, false); },
                            "crc32c"));
  exports.Set("crc32cTable",
              Napi::Function::New(
                  env, [](const Napi::CallbackInfo& info) { return JsCrc(info, true); },
                  "crc32cTable"));
  exports.Set("crc32cHardware", Napi::Boolean::New(env, kHardware));
}

}  // namespace tandem
