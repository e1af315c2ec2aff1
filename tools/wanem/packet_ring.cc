// PacketRing: see packet_ring.h.
#include "tools/wanem/packet_ring.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace isthmus::wanem {
namespace {

void futexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t untilNs) {
  struct timespec ts;
  struct timespec* tsp = nullptr;
  if (untilNs >= 0) {
    ts.tv_sec = untilNs / 1000000000;
    ts.tv_nsec = untilNs % 1000000000;
    tsp = &ts;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
          expected, tsp, nullptr, FUTEX_BITSET_MATCH_ANY);
}

void futexWake(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr,
          nullptr, 0);
}

}  // namespace

int64_t monotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

PacketRing::PacketRing(size_t capacityBytes) {
  const size_t kUnit = 64 * 1024;
  capacity_ = (capacityBytes + kUnit - 1) / kUnit * kUnit;
  void* p = mmap(nullptr, capacity_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    capacity_ = 0;
    return;
  }
  base_ = static_cast<uint8_t*>(p);
}

PacketRing::~PacketRing() {
  if (base_ != nullptr) munmap(base_, capacity_);
}

uint8_t* PacketRing::reserve(size_t maxLen) {
  uint64_t head = head_.load(std::memory_order_relaxed);
  uint64_t tail = tail_.load(std::memory_order_acquire);
  size_t freeBytes = capacity_ - static_cast<size_t>(head - tail);
  size_t pos = static_cast<size_t>(head % capacity_);
  size_t need = entrySize(maxLen);
  size_t skip = pos + need > capacity_ ? capacity_ - pos : 0;  // wrap to the start
  if (skip + need > freeBytes) return nullptr;
  reservedAt_ = head + skip;
  return base_ + (reservedAt_ % capacity_) + sizeof(Header);
}

void PacketRing::commit(size_t len, int64_t dueNs) {
  uint64_t head = head_.load(std::memory_order_relaxed);
  if (reservedAt_ != head) {
    // Mark the unused end of the ring so the consumer skips to the start.
    auto* wrap = reinterpret_cast<Header*>(base_ + head % capacity_);
    wrap->wrap = 1;
    wrap->len = 0;
    wrap->dueNs = 0;
  }
  auto* h = reinterpret_cast<Header*>(base_ + reservedAt_ % capacity_);
  h->dueNs = dueNs;
  h->len = static_cast<uint32_t>(len);
  h->wrap = 0;
  head_.store(reservedAt_ + entrySize(len), std::memory_order_seq_cst);
  if (consumerWaiting_.load(std::memory_order_seq_cst) != 0) {
    seq_.fetch_add(1, std::memory_order_seq_cst);
    futexWake(&seq_);
  }
}

bool PacketRing::front(Packet* out) {
  for (;;) {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    uint64_t head = head_.load(std::memory_order_acquire);
    if (tail == head) return false;
    auto* h = reinterpret_cast<const Header*>(base_ + tail % capacity_);
    if (h->wrap != 0) {
      tail_.store(tail + (capacity_ - tail % capacity_), std::memory_order_release);
      continue;
    }
    out->data = reinterpret_cast<const uint8_t*>(h) + sizeof(Header);
    out->len = h->len;
    out->dueNs = h->dueNs;
    return true;
  }
}

void PacketRing::pop() {
  uint64_t tail = tail_.load(std::memory_order_relaxed);
  auto* h = reinterpret_cast<const Header*>(base_ + tail % capacity_);
  tail_.store(tail + entrySize(h->len), std::memory_order_release);
}

void PacketRing::waitForData(uint32_t token, int64_t untilNs) {
  consumerWaiting_.store(1, std::memory_order_seq_cst);
  if (head_.load(std::memory_order_seq_cst) == tail_.load(std::memory_order_relaxed)) {
    futexWait(&seq_, token, untilNs);
  }
  consumerWaiting_.store(0, std::memory_order_relaxed);
}

void PacketRing::sleepUntil(uint32_t token, int64_t untilNs) { futexWait(&seq_, token, untilNs); }

void PacketRing::wakeAll() {
  seq_.fetch_add(1, std::memory_order_seq_cst);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&seq_), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1 << 30,
          nullptr, nullptr, 0);
}

}  // namespace isthmus::wanem
