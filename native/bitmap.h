// The dirty bitmap's storage: one bit per block, 64-bit words, with a running population count
// so "how much is out of sync" (DRBD's oos:) is O(1). No JS here; see dirty_bitmap.cc.
//
// Memory follows the content, not the device size: the words live in one anonymous mapping cut
// into 4 KiB pages, and a page whose bits are all clear or all set is kept as a state byte with
// its memory given back to the kernel. A 1 TiB device has a 32 MiB bitmap; clean, fully dirty
// (a full sync) or being resynced front to back, it costs a few pages of RSS, not 32 MiB.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem {

class Bitmap {
 public:
  Bitmap() = default;
  ~Bitmap();
  Bitmap(const Bitmap&) = delete;
  Bitmap& operator=(const Bitmap&) = delete;

  // Reserves ceil(bits/64)*8 bytes of address space, all clear; false when it cannot.
  bool Allocate(uint64_t bits);

  uint64_t bits() const { return bits_; }
  uint64_t words() const { return words_; }
  uint64_t count() const { return count_; }
  // Word i as stored on disk (callers check i < words()).
  uint64_t Word(uint64_t i) const;
  // Pages whose words are held in memory (neither all clear nor all set); for tests.
  uint64_t MixedPages() const;

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
  // Words [first, first + count) as little-endian bytes (callers check the range).
  void StoreRange(uint64_t first, uint64_t count, uint8_t* bytes) const;

  // Run-length form of words [first, first + count) for the peer link (DRBD compresses its
  // bitmap exchange the same way): records of [kind u8][words u32 LE], kind 0 = all clear, 1 = all
  // set, 2 = that many literal little-endian words following. A clean or fully dirty 1 TiB map is
  // a few bytes instead of 32 MiB.
  void EncodeRange(uint64_t first, uint64_t count, std::vector<uint8_t>* out) const;
  // Loads (or ORs, with merge) an encoded run list at word `first`. Returns false with *err set
  // when it is malformed or runs past the end; the map is then partly updated.
  bool DecodeRange(uint64_t first, const uint8_t* data, size_t len, bool merge, uint64_t* words,
                   const char** err);

 private:
  enum PageState : uint8_t { kClear = 0, kFull = 1, kMixed = 2 };

  uint64_t TailMask() const;
  uint64_t FullWord(uint64_t i) const;
  uint64_t PageFirstWord(uint64_t p) const;
  uint64_t PageEndWord(uint64_t p) const;
  uint64_t PageBits(uint64_t p) const;
  uint64_t PagePop(uint64_t p) const;
  // Gives a uniform page real words (all set for a full page) so single bits can change.
  void Materialize(uint64_t p);
  // Makes a page uniform: its memory goes back to the kernel (it reads as zero from then on).
  void MakeUniform(uint64_t p, PageState s);
  // After words of a mixed page changed: uniform again if it became all clear or all set.
  void Settle(uint64_t p);
  void Release();

  uint64_t* w_ = nullptr;
  size_t mapBytes_ = 0;
  // Invariant: the memory of a page that is not kMixed is all zero (or not resident).
  std::vector<uint8_t> state_;
  uint64_t bits_ = 0;
  uint64_t words_ = 0;
  uint64_t count_ = 0;
};

}  // namespace tandem
