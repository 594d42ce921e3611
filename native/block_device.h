// A block device or regular file opened for Tandem's backing storage, and its JS binding.
#pragma once
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace tandem {

// Test-only injected error: requests of the given kinds that overlap [offset, offset+length)
// fail with `err` before any syscall is made.
struct Fault {
  enum : int { kRead = 1, kWrite = 2, kFlush = 4 };
  uint64_t offset;
  uint64_t length;
  int ops;
  int err;
};

struct DeviceState {
  std::string path;
  int fd = -1;
  bool isBlock = false;
  bool direct = false;
  bool readOnly = false;
  bool faultsEnabled = false;
  uint64_t size = 0;
  uint32_t align = 1;  // O_DIRECT: offsets, lengths and buffer addresses are multiples of this
  // A second fd on a buffered device, opened O_DIRECT, for bulk writes (resync): copying a whole
  // resync through the page cache cost more CPU than the disk's own write time (-1: none, e.g. the
  // filesystem refuses O_DIRECT; bulk writes then take the buffered path).
  int bulkFd = -1;
  uint32_t bulkAlign = 0;

  // close() waits until no worker is inside a syscall on fd.
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  bool closed = false;  // written on the JS thread under mu

  // Buffered writes to one file serialise on its inode lock in the kernel anyway; workers that
  // queue here sleep instead of spinning on that lock (rwsem_spin_on_owner was 22 % of the
  // SyncTarget's CPU with four workers writing one file).
  std::mutex bufferedWriteMu;

  std::mutex faultMu;
  std::vector<Fault> faults;
  std::atomic<bool> hasFaults{false};

  ~DeviceState();
};

void InitBlockDevice(Napi::Env env, Napi::Object exports);

}  // namespace tandem
