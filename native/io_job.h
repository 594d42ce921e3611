// One I/O request travelling from the JS thread to a pool worker and back.
#pragma once
#include <node_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace tandem {

struct DeviceState;
class Completer;

// kWriteBulk: a large write nobody will read back soon (resync data). On a buffered device it
// goes through the O_DIRECT companion fd when the range is aligned, so it costs no page-cache copy.
enum class IoOp : uint8_t { kRead, kWrite, kWriteBulk, kWriteBatch, kFlush, kDiscard };

// Results that are not errnos; the TS side maps them to codes.
constexpr int kErrShortIo = -1;  // the kernel transferred fewer bytes than asked, without errno
constexpr int kErrClosed = -2;   // the device was closed before the request ran
constexpr int kErrWouldBlock = -3;  // readSync: not all pages are cached; use the pool instead

struct Segment {
  uint64_t offset;
  uint8_t* data;
  size_t length;
};

struct IoJob {
  double id = 0;  // chosen by JS; echoed back in the completion record
  IoOp op = IoOp::kRead;
  std::shared_ptr<DeviceState> dev;
  std::shared_ptr<Completer> completer;

  // kRead / kWrite / kDiscard use a single segment; kWriteBatch uses segs.
  Segment seg{0, nullptr, 0};
  std::vector<Segment> segs;

  // References that keep the caller's Buffers alive until completion (JS thread only).
  napi_ref ref = nullptr;
  std::vector<napi_ref> refs;

  // Outcome, written by the worker.
  int err = 0;           // 0, an errno, or one of kErr*
  uint32_t failIndex = 0;  // which batch entry failed
  uint64_t done = 0;     // bytes transferred before a short I/O or error
};

}  // namespace tandem
