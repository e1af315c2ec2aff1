// PacketRing: order, wrap-around, full ring, and a producer/consumer pair on two threads.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "tools/wanem/packet_ring.h"

namespace isthmus::wanem {
namespace {

TEST(PacketRingTest, FifoAcrossWrapAround) {
  PacketRing ring(64 * 1024);
  ASSERT_TRUE(ring.ok());
  EXPECT_EQ(ring.capacity(), 64u * 1024);
  uint32_t next = 0, expect = 0;
  for (int round = 0; round < 200; ++round) {
    // Push a few packets of odd sizes, pop most of them: the ring wraps many times.
    for (int k = 0; k < 3; ++k) {
      size_t len = 100 + (next * 977) % 9000;
      uint8_t* slot = ring.reserve(len);
      if (slot == nullptr) break;
      std::memset(slot, static_cast<int>(next & 0xff), len);
      std::memcpy(slot, &next, sizeof(next));
      ring.commit(len, next);
      ++next;
    }
    for (int k = 0; k < 2 || (round == 199 && expect < next); ++k) {
      PacketRing::Packet p;
      if (!ring.front(&p)) break;
      uint32_t id;
      std::memcpy(&id, p.data, sizeof(id));
      ASSERT_EQ(id, expect);
      ASSERT_EQ(p.len, 100 + (id * 977) % 9000);
      ASSERT_EQ(p.dueNs, id);
      ASSERT_EQ(p.data[p.len - 1], id & 0xff);
      ring.pop();
      ++expect;
    }
  }
  EXPECT_EQ(expect, next);
}

TEST(PacketRingTest, ReserveFailsWhenFull) {
  PacketRing ring(64 * 1024);
  int committed = 0;
  while (uint8_t* slot = ring.reserve(10000)) {
    (void)slot;
    ring.commit(10000, 0);
    ++committed;
  }
  EXPECT_EQ(committed, 6);  // 6 x (10000 + 16) fit in 64 KiB, a 7th does not
  PacketRing::Packet p;
  ASSERT_TRUE(ring.front(&p));
  ring.pop();
  EXPECT_NE(ring.reserve(10000), nullptr);
}

TEST(PacketRingTest, ProducerConsumerThreads) {
  PacketRing ring(256 * 1024);
  const uint32_t kCount = 200000;
  std::thread producer([&] {
    for (uint32_t i = 0; i < kCount; ++i) {
      size_t len = 8 + i % 3000;
      uint8_t* slot;
      while ((slot = ring.reserve(len)) == nullptr) std::this_thread::yield();
      std::memcpy(slot, &i, sizeof(i));
      ring.commit(len, i);
    }
  });
  uint32_t expect = 0;
  while (expect < kCount) {
    PacketRing::Packet p;
    uint32_t token = ring.waitToken();
    if (!ring.front(&p)) {
      ring.waitForData(token, monotonicNs() + 100000000);
      continue;
    }
    uint32_t id;
    std::memcpy(&id, p.data, sizeof(id));
    ASSERT_EQ(id, expect);
    ASSERT_EQ(p.len, 8 + id % 3000);
    ring.pop();
    ++expect;
  }
  producer.join();
}

TEST(PacketRingTest, WakeAllInterruptsAWait) {
  PacketRing ring(64 * 1024);
  uint32_t token = ring.waitToken();
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ring.wakeAll();
  });
  int64_t t0 = monotonicNs();
  ring.waitForData(token, t0 + 5000000000LL);  // would be 5 s without the wake
  EXPECT_LT(monotonicNs() - t0, 2000000000LL);
  waker.join();
}

}  // namespace
}  // namespace isthmus::wanem
