// The dirty bitmap's storage: one bit per block, 64-bit words, with a running population count
// so "how much is out of sync" (DRBD's oos:) is O(1). No JS here; see dirty_bitmap.cc.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tandem {

class Bitmap {
 public:
  Bitmap() = default;
  ~Bitmap();
  Bitmap(const Bitmap&) = delete;
  Bitmap& operator=(const Bitmap&) = delete;

  // One zeroed allocation of ceil(bits/64)*8 bytes; false when it cannot be allocated.
  bool Allocate(uint64_t bits);

  uint64_t bits() const { return bits_; }
  uint64_t words() const { return words_; }
  uint64_t count() const { return count_; }
  const uint64_t* data() const { return w_; }

  // Bit ranges are inclusive [first, last] and must lie inside the map (callers check).
  void Set(uint64_t first, uint64_t last);
  void Clear(uint64_t first, uint64_t last);
  bool Any(uint64_t first, uint64_t last) const;
  void SetAll();
  void ClearAll();

  // First set bit >= from, or false when there is none.
  bool NextSet(uint64_t from, uint64_t* bit) const;
  // Number of consecutive set bits starting at `start`, at most maxBits.
  uint64_t RunLength(uint64_t start, uint64_t maxBits) const;

  // Word-wise load/OR from little-endian bytes (exactly words()*8 of them). Bits past the end
  // of the map are dropped so count() only ever counts real blocks.
  void Load(const uint8_t* bytes);
  void Merge(const uint8_t* bytes);
  // The same for words [first, first + count) only (callers check the range), so a large bitmap
  // can be loaded or merged piecewise without a second full-size copy.
  void LoadRange(uint64_t first, const uint8_t* bytes, uint64_t count, bool merge);
  // Writes words()*8 little-endian bytes.
  void Store(uint8_t* bytes) const;

 private:
  uint64_t TailMask() const;
  void Recount();

  uint64_t* w_ = nullptr;
  uint64_t bits_ = 0;
  uint64_t words_ = 0;
  uint64_t count_ = 0;
};

}  // namespace tandem
