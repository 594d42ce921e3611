#include "bitmap.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

namespace tandem {
namespace {

constexpr uint64_t kOnes = ~0ull;
// One page of the mapping: 4 KiB of words, 32768 blocks (128 MiB of device at 4 KiB blocks).
constexpr uint64_t kPageWords = 512;
constexpr uint64_t kPageBytes = kPageWords * 8;

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

Bitmap::~Bitmap() { Release(); }

void Bitmap::Release() {
  if (w_) munmap(w_, mapBytes_);
  w_ = nullptr;
  mapBytes_ = 0;
  state_.clear();
}

bool Bitmap::Allocate(uint64_t bits) {
  Release();
  bits_ = bits;
  words_ = (bits + 63) / 64;
  count_ = 0;
  if (words_ == 0) return true;
  uint64_t pages = (words_ + kPageWords - 1) / kPageWords;
  // NORESERVE: untouched pages read as zero and cost nothing, whatever the device size.
  void* p = mmap(nullptr, pages * kPageBytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  w_ = static_cast<uint64_t*>(p);
  mapBytes_ = pages * kPageBytes;
  state_.assign(pages, kClear);
  return true;
}

uint64_t Bitmap::TailMask() const {
  uint64_t r = bits_ & 63;
  return r == 0 ? kOnes : (kOnes >> (64 - r));
}

uint64_t Bitmap::FullWord(uint64_t i) const { return i == words_ - 1 ? TailMask() : kOnes; }
uint64_t Bitmap::PageFirstWord(uint64_t p) const { return p * kPageWords; }
uint64_t Bitmap::PageEndWord(uint64_t p) const { return std::min(words_, (p + 1) * kPageWords); }
uint64_t Bitmap::PageBits(uint64_t p) const {
  return std::min(bits_, PageEndWord(p) * 64) - PageFirstWord(p) * 64;
}

uint64_t Bitmap::Word(uint64_t i) const {
  switch (state_[i / kPageWords]) {
    case kClear:
      return 0;
    case kFull:
      return FullWord(i);
    default:
      return w_[i];
  }
}

uint64_t Bitmap::MixedPages() const {
  uint64_t n = 0;
  for (uint8_t s : state_) n += s == kMixed;
  return n;
}

uint64_t Bitmap::PagePop(uint64_t p) const {
  if (state_[p] == kClear) return 0;
  if (state_[p] == kFull) return PageBits(p);
  uint64_t c = 0;
  for (uint64_t i = PageFirstWord(p), e = PageEndWord(p); i < e; i++) c += Pop(w_[i]);
  return c;
}

void Bitmap::Materialize(uint64_t p) {
  if (state_[p] == kMixed) return;
  if (state_[p] == kFull) {
    for (uint64_t i = PageFirstWord(p), e = PageEndWord(p); i < e; i++) w_[i] = FullWord(i);
  }
  state_[p] = kMixed;
}

void Bitmap::MakeUniform(uint64_t p, PageState s) {
  if (state_[p] == kMixed) {
    uint64_t* page = w_ + PageFirstWord(p);
    // private anonymous memory reads back as zero after MADV_DONTNEED
    if (madvise(page, kPageBytes, MADV_DONTNEED) != 0) std::memset(page, 0, kPageBytes);
  }
  state_[p] = s;
}

void Bitmap::Settle(uint64_t p) {
  if (state_[p] != kMixed) return;
  bool clear = true, full = true;
  for (uint64_t i = PageFirstWord(p), e = PageEndWord(p); i < e && (clear || full); i++) {
    clear = clear && w_[i] == 0;
    full = full && w_[i] == FullWord(i);
  }
  if (clear) MakeUniform(p, kClear);
  else if (full) MakeUniform(p, kFull);
}

void Bitmap::Set(uint64_t first, uint64_t last) {
  for (uint64_t p = (first >> 6) / kPageWords, lp = (last >> 6) / kPageWords; p <= lp; p++) {
    if (state_[p] == kFull) continue;
    uint64_t a = std::max(first, PageFirstWord(p) * 64);
    uint64_t b = std::min(last, PageFirstWord(p) * 64 + PageBits(p) - 1);
    if (a == PageFirstWord(p) * 64 && b == a + PageBits(p) - 1) {
      count_ += PageBits(p) - PagePop(p);
      MakeUniform(p, kFull);
      continue;
    }
    Materialize(p);
    bool maybeFull = true;
    ForWords(a, b, [this, &maybeFull](uint64_t i, uint64_t m) {
      count_ += Pop(m & ~w_[i]);
      w_[i] |= m;
      maybeFull = maybeFull && w_[i] == FullWord(i);
    });
    if (maybeFull) Settle(p);
  }
}

void Bitmap::Clear(uint64_t first, uint64_t last) {
  for (uint64_t p = (first >> 6) / kPageWords, lp = (last >> 6) / kPageWords; p <= lp; p++) {
    if (state_[p] == kClear) continue;
    uint64_t a = std::max(first, PageFirstWord(p) * 64);
    uint64_t b = std::min(last, PageFirstWord(p) * 64 + PageBits(p) - 1);
    if (a == PageFirstWord(p) * 64 && b == a + PageBits(p) - 1) {
      count_ -= PagePop(p);
      MakeUniform(p, kClear);
      continue;
    }
    Materialize(p);
    bool maybeClear = true;
    ForWords(a, b, [this, &maybeClear](uint64_t i, uint64_t m) {
      count_ -= Pop(m & w_[i]);
      w_[i] &= ~m;
      maybeClear = maybeClear && w_[i] == 0;
    });
    if (maybeClear) Settle(p);
  }
}

bool Bitmap::Any(uint64_t first, uint64_t last) const {
  for (uint64_t p = (first >> 6) / kPageWords, lp = (last >> 6) / kPageWords; p <= lp; p++) {
    if (state_[p] == kClear) continue;
    if (state_[p] == kFull) return true;  // the range has at least one real bit in this page
    uint64_t a = std::max(first, PageFirstWord(p) * 64);
    uint64_t b = std::min(last, PageFirstWord(p) * 64 + PageBits(p) - 1);
    bool any = false;
    ForWords(a, b, [this, &any](uint64_t i, uint64_t m) { any = any || (w_[i] & m) != 0; });
    if (any) return true;
  }
  return false;
}

void Bitmap::SetAll() {
  if (words_ == 0) return;
  for (uint64_t p = 0; p < state_.size(); p++) MakeUniform(p, kFull);
  count_ = bits_;
}

void Bitmap::ClearAll() {
  if (words_ == 0) return;
  for (uint64_t p = 0; p < state_.size(); p++) MakeUniform(p, kClear);
  count_ = 0;
}

bool Bitmap::NextSet(uint64_t from, uint64_t* bit) const {
  if (from >= bits_) return false;
  for (uint64_t p = (from >> 6) / kPageWords; p < state_.size(); p++) {
    if (state_[p] == kClear) continue;
    uint64_t start = std::max(from, PageFirstWord(p) * 64);
    if (state_[p] == kFull) {
      *bit = start;
      return true;
    }
    uint64_t i = start >> 6, e = PageEndWord(p);
    uint64_t w = w_[i] & (kOnes << (start & 63));
    for (;;) {
      if (w) {
        *bit = (i << 6) + static_cast<uint64_t>(__builtin_ctzll(w));
        return *bit < bits_;
      }
      if (++i >= e) break;
      w = w_[i];
    }
  }
  return false;
}

uint64_t Bitmap::RunLength(uint64_t start, uint64_t maxBits) const {
  if (start >= bits_ || maxBits == 0) return 0;
  uint64_t limit = bits_ - start < maxBits ? bits_ : start + maxBits;
  uint64_t pos = start;
  while (pos < limit) {
    uint64_t p = (pos >> 6) / kPageWords;
    if (state_[p] == kClear) break;
    uint64_t pageEnd = PageEndWord(p) * 64;
    if (state_[p] == kFull) {
      pos = pageEnd;
      continue;
    }
    // the first clear bit at or after pos in this page (bits past the device end are clear)
    uint64_t i = pos >> 6, e = PageEndWord(p);
    uint64_t z = ~w_[i] & (kOnes << (pos & 63));
    while (z == 0 && ++i < e) z = ~w_[i];
    if (z != 0) {
      pos = (i << 6) + static_cast<uint64_t>(__builtin_ctzll(z));
      break;
    }
    pos = pageEnd;
  }
  return std::min(pos, limit) - start;
}

void Bitmap::Load(const uint8_t* bytes) { LoadRange(0, bytes, words_, false); }

void Bitmap::Merge(const uint8_t* bytes) { LoadRange(0, bytes, words_, true); }

void Bitmap::LoadRange(uint64_t first, const uint8_t* bytes, uint64_t count, bool merge) {
  uint64_t k = 0;
  while (k < count) {
    uint64_t p = (first + k) / kPageWords;
    uint64_t end = std::min(PageEndWord(p), first + count);
    Materialize(p);
    for (uint64_t i = first + k; i < end; i++, k++) {
      uint64_t v = LoadLE(bytes + k * 8);
      uint64_t nv = (merge ? (w_[i] | v) : v) & FullWord(i);
      // an unchanged word is not written: loading zeros over a clear page keeps it unbacked
      if (nv == w_[i]) continue;
      count_ += Pop(nv);
      count_ -= Pop(w_[i]);
      w_[i] = nv;
    }
    Settle(p);
  }
}

void Bitmap::StoreRange(uint64_t first, uint64_t count, uint8_t* bytes) const {
  for (uint64_t k = 0; k < count; k++) StoreLE(bytes + k * 8, Word(first + k));
}

namespace {

enum RunKind : uint8_t { kRunClear = 0, kRunFull = 1, kRunLiteral = 2 };

// Appends runs, merging a run into the previous one of the same kind.
class RunWriter {
 public:
  explicit RunWriter(std::vector<uint8_t>* out) : out_(out) {}
  void Add(uint8_t kind, uint64_t n, uint64_t literal = 0) {
    while (n > 0) {
      if (kind != kind_ || count_ == UINT32_MAX) Start(kind);
      uint64_t take = std::min<uint64_t>(n, UINT32_MAX - count_);
      if (kind == kRunLiteral) {
        uint8_t b[8];
        StoreLE(b, literal);
        out_->insert(out_->end(), b, b + 8);
      }
      count_ += static_cast<uint32_t>(take);
      n -= take;
      Patch();
    }
  }

 private:
  void Start(uint8_t kind) {
    kind_ = kind;
    count_ = 0;
    at_ = out_->size();
    out_->push_back(kind);
    out_->insert(out_->end(), 4, 0);
  }
  void Patch() {
    for (int b = 0; b < 4; b++) (*out_)[at_ + 1 + b] = static_cast<uint8_t>(count_ >> (8 * b));
  }
  std::vector<uint8_t>* out_;
  uint8_t kind_ = 0xff;
  uint32_t count_ = 0;
  size_t at_ = 0;
};

}  // namespace

void Bitmap::EncodeRange(uint64_t first, uint64_t count, std::vector<uint8_t>* out) const {
  RunWriter runs(out);
  uint64_t i = first, end = first + count;
  while (i < end) {
    uint64_t p = i / kPageWords;
    if (state_[p] != kMixed) {
      uint64_t stop = std::min(end, PageEndWord(p));
      runs.Add(state_[p] == kClear ? kRunClear : kRunFull, stop - i);
      i = stop;
      continue;
    }
    uint64_t w = w_[i];
    if (w == 0) runs.Add(kRunClear, 1);
    else if (w == FullWord(i)) runs.Add(kRunFull, 1);
    else runs.Add(kRunLiteral, 1, w);
    i++;
  }
}

bool Bitmap::DecodeRange(uint64_t first, const uint8_t* data, size_t len, bool merge,
                         uint64_t* words, const char** err) {
  uint64_t w = first;
  size_t pos = 0;
  while (pos < len) {
    if (len - pos < 5) return *err = "truncated run header", false;
    uint8_t kind = data[pos];
    uint64_t n = 0;
    for (int b = 0; b < 4; b++) n |= static_cast<uint64_t>(data[pos + 1 + b]) << (8 * b);
    pos += 5;
    if (n == 0) return *err = "empty run", false;
    if (w > words_ || n > words_ - w) return *err = "runs past the end of the bitmap", false;
    uint64_t a = w * 64, b = std::min(bits_, (w + n) * 64) - 1;
    if (kind == kRunClear) {
      if (!merge) Clear(a, b);
    } else if (kind == kRunFull) {
      Set(a, b);
    } else if (kind == kRunLiteral) {
      if ((len - pos) / 8 < n) return *err = "truncated literal words", false;
      LoadRange(w, data + pos, n, merge);
      pos += n * 8;
    } else {
      return *err = "unknown run kind", false;
    }
    w += n;
  }
  *words = w - first;
  return true;
}

void Bitmap::Store(uint8_t* bytes) const {
  for (uint64_t i = 0; i < words_; i++) StoreLE(bytes + i * 8, Word(i));
}

}  // namespace tandem
