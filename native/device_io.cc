// What a pool worker does for each request: fault check, then pread/pwrite(v)/fdatasync/
// discard on the device's fd, retrying partial transfers, bouncing through an aligned buffer
// only when O_DIRECT meets a caller's misaligned Buffer.
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "block_device.h"
#include "io_job.h"
#include "io_pool.h"

namespace tandem {
namespace {

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

// Per-worker bounce buffer, grown on demand and given back when it got large.
struct Bounce {
  uint8_t* p = nullptr;
  size_t cap = 0;
};
thread_local Bounce tlBounce;
constexpr size_t kBounceKeep = 8u << 20;

uint8_t* GetBounce(size_t len, size_t align) {
  if (tlBounce.cap >= len && tlBounce.p) return tlBounce.p;
  std::free(tlBounce.p);
  tlBounce.p = nullptr;
  tlBounce.cap = 0;
  size_t a = std::max<size_t>(align, 4096);
  size_t cap = (len + a - 1) / a * a;
  void* p = nullptr;
  if (posix_memalign(&p, a, cap == 0 ? a : cap) != 0) return nullptr;
  tlBounce.p = static_cast<uint8_t*>(p);
  tlBounce.cap = cap;
  return tlBounce.p;
}

void TrimBounce() {
  if (tlBounce.cap > kBounceKeep) {
    std::free(tlBounce.p);
    tlBounce.p = nullptr;
    tlBounce.cap = 0;
  }
}

bool Misaligned(const DeviceState& d, const void* p) {
  return d.direct && (reinterpret_cast<uintptr_t>(p) % d.align) != 0;
}

int CheckFault(DeviceState& d, int op, uint64_t off, uint64_t len) {
  if (!d.hasFaults.load(std::memory_order_acquire)) return 0;
  std::lock_guard<std::mutex> lock(d.faultMu);
  for (const Fault& f : d.faults) {
    if (!(f.ops & op)) continue;
    if (op == Fault::kFlush) return f.err;  // a flush covers the whole device
    if (len > 0 && f.length > 0 && off < f.offset + f.length && f.offset < off + len) return f.err;
  }
  return 0;
}

int PreadFull(int fd, uint8_t* buf, size_t len, uint64_t off, uint64_t* done) {
  while (*done < len) {
    ssize_t n = pread(fd, buf + *done, len - *done, static_cast<off_t>(off + *done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return kErrShortIo;
    *done += static_cast<uint64_t>(n);
  }
  return 0;
}

int PwriteFull(int fd, const uint8_t* buf, size_t len, uint64_t off, uint64_t* done) {
  while (*done < len) {
    ssize_t n = pwrite(fd, buf + *done, len - *done, static_cast<off_t>(off + *done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return kErrShortIo;
    *done += static_cast<uint64_t>(n);
  }
  return 0;
}

void DoRead(DeviceState& d, IoJob* j) {
  Segment& s = j->seg;
  if ((j->err = CheckFault(d, Fault::kRead, s.offset, s.length))) return;
  if (Misaligned(d, s.data)) {
    uint8_t* b = GetBounce(s.length, d.align);
    if (!b) {
      j->err = ENOMEM;
      return;
    }
    j->err = PreadFull(d.fd, b, s.length, s.offset, &j->done);
    if (j->err == 0) std::memcpy(s.data, b, s.length);
    TrimBounce();
    return;
  }
  j->err = PreadFull(d.fd, s.data, s.length, s.offset, &j->done);
}

// Writes one segment, bouncing when O_DIRECT needs it.
int WriteOne(DeviceState& d, const Segment& s, uint64_t* done) {
  if (Misaligned(d, s.data)) {
    uint8_t* b = GetBounce(s.length, d.align);
    if (!b) return ENOMEM;
    std::memcpy(b, s.data, s.length);
    int err = PwriteFull(d.fd, b, s.length, s.offset, done);
    TrimBounce();
    return err;
  }
  return PwriteFull(d.fd, s.data, s.length, s.offset, done);
}

// A bulk write through the O_DIRECT companion fd, bouncing a misaligned Buffer. Returns false
// when the range does not suit O_DIRECT; the caller then writes through the page cache.
bool WriteBulkDirect(DeviceState& d, const Segment& s, uint64_t* done, int* err) {
  uint32_t a = d.bulkAlign;
  if (d.bulkFd < 0 || a == 0 || s.offset % a || s.length % a || s.length == 0) return false;
  const uint8_t* src = s.data;
  if (reinterpret_cast<uintptr_t>(src) % a) {
    uint8_t* b = GetBounce(s.length, a);
    if (!b) return false;
    std::memcpy(b, s.data, s.length);
    src = b;
  }
  *err = PwriteFull(d.bulkFd, src, s.length, s.offset, done);
  if (*err == EINVAL && *done == 0) {
    // this filesystem takes O_DIRECT opens but not this request (a stricter alignment)
    TrimBounce();
    return false;
  }
  TrimBounce();
  return true;
}

// Index of the segment in [i, k) that holds byte `done` of the group.
uint32_t SegmentAt(const std::vector<Segment>& segs, size_t i, size_t k, uint64_t done) {
  for (size_t x = i; x < k; x++) {
    if (done < segs[x].length) return static_cast<uint32_t>(x);
    done -= segs[x].length;
  }
  return static_cast<uint32_t>(k - 1);
}

// Writes contiguous segments [i, k) with pwritev (one syscall for the whole run).
int WriteGroup(DeviceState& d, const std::vector<Segment>& segs, size_t i, size_t k,
               uint32_t* failIndex, uint64_t* failDone) {
  uint64_t total = 0;
  bool bounce = false;
  for (size_t x = i; x < k; x++) {
    total += segs[x].length;
    bounce = bounce || Misaligned(d, segs[x].data);
  }
  uint64_t off = segs[i].offset;
  uint64_t done = 0;
  int err = 0;
  if (k - i == 1) {
    err = WriteOne(d, segs[i], &done);
  } else if (bounce) {
    uint8_t* b = GetBounce(total, d.align);
    if (!b) {
      err = ENOMEM;
    } else {
      uint64_t pos = 0;
      for (size_t x = i; x < k; x++) {
        std::memcpy(b + pos, segs[x].data, segs[x].length);
        pos += segs[x].length;
      }
      err = PwriteFull(d.fd, b, total, off, &done);
      TrimBounce();
    }
  } else {
    std::vector<iovec> iov(k - i);
    for (size_t x = i; x < k; x++) iov[x - i] = {segs[x].data, segs[x].length};
    size_t idx = 0;
    while (done < total) {
      while (idx < iov.size() && iov[idx].iov_len == 0) idx++;
      int cnt = static_cast<int>(std::min<size_t>(iov.size() - idx, IOV_MAX));
      ssize_t n = pwritev(d.fd, &iov[idx], cnt, static_cast<off_t>(off + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        err = errno;
        break;
      }
      if (n == 0) {
        err = kErrShortIo;
        break;
      }
      done += static_cast<uint64_t>(n);
      size_t r = static_cast<size_t>(n);
      while (r > 0 && r >= iov[idx].iov_len) {
        r -= iov[idx].iov_len;
        idx++;
      }
      if (r > 0) {
        iov[idx].iov_base = static_cast<uint8_t*>(iov[idx].iov_base) + r;
        iov[idx].iov_len -= r;
      }
    }
  }
  if (err) {
    uint32_t at = SegmentAt(segs, i, k, done);
    uint64_t before = 0;
    for (size_t x = i; x < at; x++) before += segs[x].length;
    *failIndex = at;
    *failDone = done - before;
  }
  return err;
}

void DoWriteBatch(DeviceState& d, IoJob* j) {
  const std::vector<Segment>& segs = j->segs;
  size_t n = segs.size(), i = 0;
  while (i < n) {
    // Group entries in the caller's order while each starts where the previous ended; the
    // order is kept so overlapping writes in one batch land as the caller listed them.
    size_t k = i;
    uint64_t end = segs[i].offset;
    int fault = 0;
    while (k < n && (k == i || segs[k].offset == end) && k - i < IOV_MAX) {
      if ((fault = CheckFault(d, Fault::kWrite, segs[k].offset, segs[k].length))) break;
      end = segs[k].offset + segs[k].length;
      k++;
    }
    if (k > i) {
      if ((j->err = WriteGroup(d, segs, i, k, &j->failIndex, &j->done))) return;
    }
    if (fault) {
      j->err = fault;
      j->failIndex = static_cast<uint32_t>(k);
      j->done = 0;
      return;
    }
    i = k;
  }
}

void DoDiscard(DeviceState& d, IoJob* j) {
  Segment& s = j->seg;
  if ((j->err = CheckFault(d, Fault::kWrite, s.offset, s.length))) return;
  if (s.length == 0) return;
  if (d.isBlock) {
    uint64_t range[2] = {s.offset, s.length};
    if (ioctl(d.fd, BLKDISCARD, range) < 0) j->err = errno;
  } else {
    // KEEP_SIZE: a discard never changes the device size; the hole reads back as zeros.
    if (fallocate(d.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(s.offset),
                  static_cast<off_t>(s.length)) < 0)
      j->err = errno;
  }
}

void DoFlush(DeviceState& d, IoJob* j) {
  if ((j->err = CheckFault(d, Fault::kFlush, 0, 0))) return;
  while (fdatasync(d.fd) < 0) {
    if (errno == EINTR) continue;
    j->err = errno;
    return;
  }
}

}  // namespace

int ReadIfCached(IoJob* job) {
  DeviceState& d = *job->dev;
  Segment& s = job->seg;
  if ((job->err = CheckFault(d, Fault::kRead, s.offset, s.length))) return job->err;
  // O_DIRECT reads never come from the cache; the caller keeps those on the pool anyway
  if (d.direct) return job->err = kErrWouldBlock;
  while (job->done < s.length) {
    iovec iov{s.data + job->done, s.length - job->done};
    ssize_t n = preadv2(d.fd, &iov, 1, static_cast<off_t>(s.offset + job->done), RWF_NOWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      // EAGAIN: some page is not cached (reading it means waiting for the disk); EOPNOTSUPP:
      // the filesystem cannot say. Either way the pool does the read.
      if (errno == EAGAIN || errno == EOPNOTSUPP) return job->err = kErrWouldBlock;
      return job->err = errno;
    }
    if (n == 0) {
      // at or past EOF: only the blocking path can tell a short read from an uncached page
      return job->err = kErrWouldBlock;
    }
    job->done += static_cast<uint64_t>(n);
  }
  return 0;
}

void ExecuteJob(IoJob* job) {
  DeviceState& d = *job->dev;
  switch (job->op) {
    case IoOp::kRead:
      DoRead(d, job);
      break;
    case IoOp::kWrite: {
      if ((job->err = CheckFault(d, Fault::kWrite, job->seg.offset, job->seg.length))) break;
      std::unique_lock<std::mutex> serial(d.bufferedWriteMu, std::defer_lock);
      if (!d.direct) serial.lock();
      job->err = WriteOne(d, job->seg, &job->done);
      break;
    }
    case IoOp::kWriteBulk: {
      if ((job->err = CheckFault(d, Fault::kWrite, job->seg.offset, job->seg.length))) break;
      if (WriteBulkDirect(d, job->seg, &job->done, &job->err)) break;
      std::unique_lock<std::mutex> serial(d.bufferedWriteMu, std::defer_lock);
      if (!d.direct) serial.lock();
      job->err = WriteOne(d, job->seg, &job->done);
      break;
    }
    case IoOp::kWriteBatch: {
      std::unique_lock<std::mutex> serial(d.bufferedWriteMu, std::defer_lock);
      if (!d.direct) serial.lock();
      DoWriteBatch(d, job);
      break;
    }
    case IoOp::kFlush:
      DoFlush(d, job);
      break;
    case IoOp::kDiscard:
      DoDiscard(d, job);
      break;
  }
}

void DeviceJobStarted(DeviceState* dev) {
  std::lock_guard<std::mutex> lock(dev->mu);
  dev->running++;
}

void DeviceJobFinished(DeviceState* dev) {
  std::lock_guard<std::mutex> lock(dev->mu);
  if (--dev->running == 0) dev->cv.notify_all();
}

}  // namespace tandem
