// PacketRing: a single-producer single-consumer ring of variable-size packets, each stamped with
// the time it is due, for one direction of one emulated link.
//
// The producer (the relay thread reading the source center's TUN) reserves room for a packet of
// up to maxLen bytes, read()s straight into it, then commits the actual length and due time. The
// consumer (the thread writing into the destination's TUN) takes packets in order. Waiting uses
// a futex on a sequence word: the consumer sleeps until the head packet is due, or until a
// producer commits into an empty ring, or until wakeAll() (shutdown). Memory is one anonymous
// mapping (MAP_NORESERVE: pages are touched only as the ring fills).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace isthmus::wanem {

class PacketRing {
 public:
  // capacityBytes is rounded up to a multiple of 64 KiB. Check ok() after construction.
  explicit PacketRing(size_t capacityBytes);
  ~PacketRing();
  PacketRing(const PacketRing&) = delete;
  PacketRing& operator=(const PacketRing&) = delete;

  bool ok() const { return base_ != nullptr; }
  size_t capacity() const { return capacity_; }

  // Producer side. reserve() returns room for maxLen bytes, or null when the ring is full.
  uint8_t* reserve(size_t maxLen);
  // Publishes the last reservation holding len bytes (len <= the reserved maxLen).
  void commit(size_t len, int64_t dueNs);

  // Consumer side. front() returns the oldest packet or null; pop() releases it.
  struct Packet {
    const uint8_t* data;
    size_t len;
    int64_t dueNs;
  };
  bool front(Packet* out);
  void pop();
  // Take a token before checking the stop flag, then wait with it, so wakeAll() between the
  // check and the wait is not lost.
  uint32_t waitToken() const { return seq_.load(std::memory_order_seq_cst); }
  // Blocks until the ring is non-empty, untilNs (CLOCK_MONOTONIC, < 0: no limit) passes or
  // wakeAll() is called. Spurious returns are allowed.
  void waitForData(uint32_t token, int64_t untilNs);
  // Blocks until untilNs or wakeAll(), whatever producers do (the head is not due yet).
  void sleepUntil(uint32_t token, int64_t untilNs);
  // Wakes the consumer whatever it waits for (shutdown).
  void wakeAll();

 private:
  struct Header {
    int64_t dueNs;
    uint32_t len;
    uint32_t wrap;  // 1: skip to the start of the ring
  };
  static constexpr size_t kAlign = 16;
  static size_t entrySize(size_t len) {
    return (sizeof(Header) + len + kAlign - 1) & ~(kAlign - 1);
  }

  uint8_t* base_ = nullptr;
  size_t capacity_ = 0;
  alignas(64) std::atomic<uint64_t> head_{0};  // producer position (bytes ever written)
  uint64_t reservedAt_ = 0;                    // producer-private: where the reservation lies
  alignas(64) std::atomic<uint64_t> tail_{0};  // consumer position
  alignas(64) std::atomic<uint32_t> seq_{0};   // futex word
  std::atomic<uint32_t> consumerWaiting_{0};
};

// Nanoseconds on CLOCK_MONOTONIC.
int64_t monotonicNs();

}  // namespace isthmus::wanem
