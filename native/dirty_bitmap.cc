// JS binding of the dirty bitmap: byte ranges in, block bits out. Every argument is checked
// here so a bad offset from JS is a RangeError, never an out-of-bounds write.
#include "dirty_bitmap.h"

#include <string>

#include "bitmap.h"
#include "napi_util.h"

namespace tandem {
namespace {

class DirtyBitmapWrap : public Napi::ObjectWrap<DirtyBitmapWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NativeDirtyBitmap",
        {
            InstanceMethod<&DirtyBitmapWrap::SetRange>("setRange"),
            InstanceMethod<&DirtyBitmapWrap::ClearRange>("clearRange"),
            InstanceMethod<&DirtyBitmapWrap::TestRange>("testRange"),
            InstanceMethod<&DirtyBitmapWrap::Count>("count"),
            InstanceMethod<&DirtyBitmapWrap::NextDirtyRun>("nextDirtyRun"),
            InstanceMethod<&DirtyBitmapWrap::ToBuffer>("toBuffer"),
            InstanceMethod<&DirtyBitmapWrap::ToBufferRange>("toBufferRange"),
            InstanceMethod<&DirtyBitmapWrap::LoadRange>("loadRange"),
            InstanceMethod<&DirtyBitmapWrap::StoreRange>("storeRange"),
            InstanceMethod<&DirtyBitmapWrap::EncodeRange>("encodeRange"),
            InstanceMethod<&DirtyBitmapWrap::DecodeRange>("decodeRange"),
            InstanceMethod<&DirtyBitmapWrap::LoadBuffer>("loadBuffer"),
            InstanceMethod<&DirtyBitmapWrap::Merge>("merge"),
            InstanceMethod<&DirtyBitmapWrap::SetAll>("setAll"),
            InstanceMethod<&DirtyBitmapWrap::ClearAll>("clearAll"),
            InstanceMethod<&DirtyBitmapWrap::Info>("info"),
        });
  }

  explicit DirtyBitmapWrap(const Napi::CallbackInfo& info) : ObjectWrap(info) {
    Napi::Env env = info.Env();
    uint64_t gran;
    if (!GetUint(info, 0, "deviceBytes", &deviceBytes_)) return;
    if (!GetUint(info, 1, "granularity", &gran)) return;
    if (gran < 512 || gran > (1ull << 30) || (gran & (gran - 1)) != 0) {
      ThrowRange(env, "granularity must be a power of two between 512 and 1 GiB, got " +
                          std::to_string(gran));
      return;
    }
    shift_ = static_cast<unsigned>(__builtin_ctzll(gran));
    uint64_t bits = (deviceBytes_ + gran - 1) >> shift_;
    if (!map_.Allocate(bits)) {
      Napi::Error::New(env, "cannot allocate a dirty bitmap of " + std::to_string(bits) + " bits")
          .ThrowAsJavaScriptException();
    }
  }

 private:
  // Converts a byte range to the inclusive block range it touches. Returns false (with a JS
  // exception pending) when out of range; *empty is set for a zero-length range.
  bool Blocks(const Napi::CallbackInfo& info, const char* what, uint64_t* first, uint64_t* last,
              bool* empty) {
    uint64_t off, len;
    if (!GetUint(info, 0, "offset", &off) || !GetUint(info, 1, "length", &len)) return false;
    if (off > deviceBytes_ || len > deviceBytes_ - off) {
      ThrowRange(info.Env(), std::string(what) + ": range [" + std::to_string(off) + ", +" +
                                 std::to_string(len) + ") is beyond the device end (" +
                                 std::to_string(deviceBytes_) + " bytes)");
      return false;
    }
    *empty = len == 0;
    if (*empty) return true;
    *first = off >> shift_;
    *last = (off + len - 1) >> shift_;
    return true;
  }

  Napi::Value SetRange(const Napi::CallbackInfo& info) {
    uint64_t f, l;
    bool empty;
    if (Blocks(info, "setRange", &f, &l, &empty) && !empty) map_.Set(f, l);
    return info.Env().Undefined();
  }

  Napi::Value ClearRange(const Napi::CallbackInfo& info) {
    uint64_t f, l;
    bool empty;
    if (Blocks(info, "clearRange", &f, &l, &empty) && !empty) map_.Clear(f, l);
    return info.Env().Undefined();
  }

  Napi::Value TestRange(const Napi::CallbackInfo& info) {
    uint64_t f, l;
    bool empty;
    if (!Blocks(info, "testRange", &f, &l, &empty)) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), !empty && map_.Any(f, l));
  }

  Napi::Value Count(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(map_.count()));
  }

  Napi::Value NextDirtyRun(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t from, maxBytes;
    if (!GetUint(info, 0, "fromOffset", &from) || !GetUint(info, 1, "maxBytes", &maxBytes))
      return env.Undefined();
    if ((maxBytes >> shift_) == 0) {
      ThrowRange(env, "maxBytes (" + std::to_string(maxBytes) +
                          ") must be at least the granularity (" +
                          std::to_string(1ull << shift_) + ")");
      return env.Undefined();
    }
    uint64_t bit;
    if (from >= deviceBytes_ || !map_.NextSet(from >> shift_, &bit)) return env.Null();
    uint64_t n = map_.RunLength(bit, maxBytes >> shift_);
    uint64_t offset = bit << shift_;
    uint64_t length = n << shift_;
    // The last block may be partial: a run never reaches past the device end.
    if (length > deviceBytes_ - offset) length = deviceBytes_ - offset;
    Napi::Object run = Napi::Object::New(env);
    run.Set("offset", Napi::Number::New(env, static_cast<double>(offset)));
    run.Set("length", Napi::Number::New(env, static_cast<double>(length)));
    return run;
  }

  Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
    Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::New(info.Env(), map_.words() * 8);
    map_.Store(buf.Data());
    return buf;
  }

  // Only words [first, first + count): persisting the pages that changed must not copy the
  // whole bitmap (32 MiB for 1 TiB) every second.
  Napi::Value ToBufferRange(const Napi::CallbackInfo& info) {
    uint64_t first, count;
    if (!GetUint(info, 0, "firstWord", &first)) return info.Env().Undefined();
    if (!GetUint(info, 1, "wordCount", &count)) return info.Env().Undefined();
    if (first > map_.words() || count > map_.words() - first) {
      ThrowRange(info.Env(), "toBufferRange: words " + std::to_string(first) + "+" + std::to_string(count) +
                                 " outside a bitmap of " + std::to_string(map_.words()) + " words");
      return info.Env().Undefined();
    }
    Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::New(info.Env(), count * 8);
    uint8_t* out = buf.Data();
    for (uint64_t i = 0; i < count; i++) {
      uint64_t v = map_.Word(first + i);
      for (int b = 0; b < 8; b++) out[i * 8 + b] = static_cast<uint8_t>(v >> (8 * b));
    }
    return buf;
  }

  bool WordRange(const Napi::CallbackInfo& info, const char* what, uint64_t first, uint64_t count) {
    if (first > map_.words() || count > map_.words() - first) {
      ThrowRange(info.Env(), std::string(what) + ": words " + std::to_string(first) + "+" + std::to_string(count) +
                                 " outside a bitmap of " + std::to_string(map_.words()) + " words");
      return false;
    }
    return true;
  }

  // (firstWord, buffer) arguments; false with a JS exception pending when they are not that.
  bool WordAndBuffer(const Napi::CallbackInfo& info, uint64_t* first, uint8_t** data, size_t* len) {
    return GetUint(info, 0, "firstWord", first) && GetBuffer(info, 1, "buffer", data, len);
  }

  // storeRange(firstWord, buffer): fills the buffer (a multiple of 8 bytes) with words from firstWord,
  // so a caller can reuse one buffer instead of allocating a copy per piece.
  Napi::Value StoreRange(const Napi::CallbackInfo& info) {
    uint64_t first;
    uint8_t* data;
    size_t len;
    if (!WordAndBuffer(info, &first, &data, &len)) return info.Env().Undefined();
    if (len % 8 != 0) {
      ThrowRange(info.Env(), "storeRange: buffer length must be a multiple of 8");
      return info.Env().Undefined();
    }
    if (WordRange(info, "storeRange", first, len / 8)) map_.StoreRange(first, len / 8, data);
    return info.Env().Undefined();
  }

  // encodeRange(firstWord, wordCount): the run-length form (Bitmap::EncodeRange) as a Buffer.
  Napi::Value EncodeRange(const Napi::CallbackInfo& info) {
    uint64_t first, count;
    if (!GetUint(info, 0, "firstWord", &first) || !GetUint(info, 1, "wordCount", &count))
      return info.Env().Undefined();
    if (!WordRange(info, "encodeRange", first, count)) return info.Env().Undefined();
    std::vector<uint8_t> out;
    map_.EncodeRange(first, count, &out);
    return Napi::Buffer<uint8_t>::Copy(info.Env(), out.data(), out.size());
  }

  // decodeRange(firstWord, buffer, merge): loads or ORs an encoded piece (peer input: a malformed
  // one is a RangeError); returns the number of words it covered.
  Napi::Value DecodeRange(const Napi::CallbackInfo& info) {
    uint64_t first;
    uint8_t* data;
    size_t len;
    if (!WordAndBuffer(info, &first, &data, &len)) return info.Env().Undefined();
    bool merge = info.Length() > 2 && info[2].ToBoolean().Value();
    uint64_t words = 0;
    const char* err = nullptr;
    if (!map_.DecodeRange(first, data, len, merge, &words, &err)) {
      ThrowRange(info.Env(), std::string("malformed bitmap piece at word ") + std::to_string(first) + ": " + err);
      return info.Env().Undefined();
    }
    return Napi::Number::New(info.Env(), static_cast<double>(words));
  }

  // loadRange(firstWord, buffer, merge): replace (or OR into) the words the buffer covers.
  Napi::Value LoadRange(const Napi::CallbackInfo& info) {
    uint64_t first;
    if (!GetUint(info, 0, "firstWord", &first)) return info.Env().Undefined();
    if (info.Length() < 2 || !info[1].IsBuffer()) {
      ThrowRange(info.Env(), "loadRange: buffer expected");
      return info.Env().Undefined();
    }
    Napi::Buffer<uint8_t> buf = info[1].As<Napi::Buffer<uint8_t>>();
    bool merge = info.Length() > 2 && info[2].ToBoolean().Value();
    if (buf.Length() % 8 != 0 || first > map_.words() || buf.Length() / 8 > map_.words() - first) {
      ThrowRange(info.Env(), "loadRange: " + std::to_string(buf.Length()) + " bytes at word " + std::to_string(first) +
                                 " do not fit a bitmap of " + std::to_string(map_.words()) + " words");
      return info.Env().Undefined();
    }
    map_.LoadRange(first, buf.Data(), buf.Length() / 8, merge);
    return info.Env().Undefined();
  }

  bool CheckedBytes(const Napi::CallbackInfo& info, const char* what, uint8_t** data) {
    size_t len;
    if (!GetBuffer(info, 0, "buffer", data, &len)) return false;
    if (len != map_.words() * 8) {
      ThrowRange(info.Env(), std::string(what) + ": bitmap buffer is " + std::to_string(len) +
                                 " bytes, expected " + std::to_string(map_.words() * 8) + " (" +
                                 std::to_string(map_.bits()) + " bits in 64-bit words)");
      return false;
    }
    return true;
  }

  Napi::Value LoadBuffer(const Napi::CallbackInfo& info) {
    uint8_t* data;
    if (CheckedBytes(info, "loadBuffer", &data)) map_.Load(data);
    return info.Env().Undefined();
  }

  Napi::Value Merge(const Napi::CallbackInfo& info) {
    uint8_t* data;
    if (CheckedBytes(info, "merge", &data)) map_.Merge(data);
    return info.Env().Undefined();
  }

  Napi::Value SetAll(const Napi::CallbackInfo& info) {
    map_.SetAll();
    return info.Env().Undefined();
  }

  Napi::Value ClearAll(const Napi::CallbackInfo& info) {
    map_.ClearAll();
    return info.Env().Undefined();
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("totalBits", Napi::Number::New(env, static_cast<double>(map_.bits())));
    o.Set("granularity", Napi::Number::New(env, static_cast<double>(1ull << shift_)));
    o.Set("byteLength", Napi::Number::New(env, static_cast<double>(map_.words() * 8)));
    // 4 KiB pages of the bitmap held in memory (the others are all clear or all set)
    o.Set("mixedPages", Napi::Number::New(env, static_cast<double>(map_.MixedPages())));
    return o;
  }

  Bitmap map_;
  uint64_t deviceBytes_ = 0;
  unsigned shift_ = 12;
};

}  // namespace

void InitDirtyBitmap(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeDirtyBitmap", DirtyBitmapWrap::Define(env));
}

}  // namespace tandem
