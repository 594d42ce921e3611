#include "bitmap.h"

#include <cstdlib>
#include <cstring>

namespace tandem {
namespace {

constexpr uint64_t kOnes = ~0ull;

inline uint64_t Pop(uint64_t x) { return static_cast<uint64_t>(__builtin_popcountll(x)); }

inline uint64_t LoadLE(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

inline void StoreLE(uint8_t* p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  std::memcpy(p, &v, 8);
}

// Calls f(wordIndex, mask) for each word touched by the inclusive bit range.
template <typename F>
inline void ForWords(uint64_t first, uint64_t last, F f) {
  uint64_t fw = first >> 6, lw = last >> 6;
  uint64_t headMask = kOnes << (first & 63);
  uint64_t tailMask = kOnes >> (63 - (last & 63));
  if (fw == lw) {
    f(fw, headMask & tailMask);
    return;
  }
  f(fw, headMask);
  for (uint64_t i = fw + 1; i < lw; i++) f(i, kOnes);
  f(lw, tailMask);
}

}  // namespace

Bitmap::~Bitmap() { std::free(w_); }

bool Bitmap::Allocate(uint64_t bits) {
  std::free(w_);
  w_ = nullptr;
  bits_ = bits;
  words_ = (bits + 63) / 64;
  count_ = 0;
  if (words_ == 0) return true;
  // calloc: the zero pages of a large, mostly clean map are never touched, so cost no RSS.
  w_ = static_cast<uint64_t*>(std::calloc(words_, 8));
  return w_ != nullptr;
}

uint64_t Bitmap::TailMask() const {
  uint64_t r = bits_ & 63;
  return r == 0 ? kOnes : (kOnes >> (64 - r));
}

void Bitmap::Recount() {
  uint64_t c = 0;
  for (uint64_t i = 0; i < words_; i++) c += Pop(w_[i]);
  count_ = c;
}

void Bitmap::Set(uint64_t first, uint64_t last) {
  ForWords(first, last, [this](uint64_t i, uint64_t m) {
    count_ += Pop(m & ~w_[i]);
    w_[i] |= m;
  });
}

void Bitmap::Clear(uint64_t first, uint64_t last) {
  ForWords(first, last, [this](uint64_t i, uint64_t m) {
    count_ -= Pop(m & w_[i]);
    w_[i] &= ~m;
  });
}

bool Bitmap::Any(uint64_t first, uint64_t last) const {
  uint64_t fw = first >> 6, lw = last >> 6;
  uint64_t headMask = kOnes << (first & 63);
  uint64_t tailMask = kOnes >> (63 - (last & 63));
  if (fw == lw) return (w_[fw] & headMask & tailMask) != 0;
  if (w_[fw] & headMask) return true;
  for (uint64_t i = fw + 1; i < lw; i++)
    if (w_[i]) return true;
  return (w_[lw] & tailMask) != 0;
}

void Bitmap::SetAll() {
  if (words_ == 0) return;
  std::memset(w_, 0xff, words_ * 8);
  w_[words_ - 1] &= TailMask();
  count_ = bits_;
}

void Bitmap::ClearAll() {
  if (words_ == 0) return;
  std::memset(w_, 0, words_ * 8);
  count_ = 0;
}

bool Bitmap::NextSet(uint64_t from, uint64_t* bit) const {
  if (from >= bits_) return false;
  uint64_t i = from >> 6;
  uint64_t w = w_[i] & (kOnes << (from & 63));
  while (w == 0) {
    if (++i >= words_) return false;
    w = w_[i];
  }
  *bit = (i << 6) + static_cast<uint64_t>(__builtin_ctzll(w));
  return *bit < bits_;
}

uint64_t Bitmap::RunLength(uint64_t start, uint64_t maxBits) const {
  if (start >= bits_ || maxBits == 0) return 0;
  uint64_t limit = bits_ - start < maxBits ? bits_ : start + maxBits;
  uint64_t i = start >> 6;
  // Look for the first clear bit at or after start, a word at a time.
  uint64_t z = ~w_[i] & (kOnes << (start & 63));
  while (z == 0) {
    ++i;
    if ((i << 6) >= limit) return limit - start;
    z = ~w_[i];
  }
  uint64_t end = (i << 6) + static_cast<uint64_t>(__builtin_ctzll(z));
  return (end < limit ? end : limit) - start;
}

void Bitmap::Load(const uint8_t* bytes) {
  for (uint64_t i = 0; i < words_; i++) w_[i] = LoadLE(bytes + i * 8);
  if (words_) w_[words_ - 1] &= TailMask();
  Recount();
}

void Bitmap::Merge(const uint8_t* bytes) {
  for (uint64_t i = 0; i < words_; i++) w_[i] |= LoadLE(bytes + i * 8);
  if (words_) w_[words_ - 1] &= TailMask();
  Recount();
}

void Bitmap::LoadRange(uint64_t first, const uint8_t* bytes, uint64_t count, bool merge) {
  for (uint64_t k = 0; k < count; k++) {
    uint64_t i = first + k;
    uint64_t v = LoadLE(bytes + k * 8);
    uint64_t nv = merge ? (w_[i] | v) : v;
    if (i == words_ - 1) nv &= TailMask();
    count_ -= static_cast<uint64_t>(__builtin_popcountll(w_[i]));
    count_ += static_cast<uint64_t>(__builtin_popcountll(nv));
    w_[i] = nv;
  }
}

void Bitmap::Store(uint8_t* bytes) const {
  for (uint64_t i = 0; i < words_; i++) StoreLE(bytes + i * 8, w_[i]);
}

}  // namespace tandem
