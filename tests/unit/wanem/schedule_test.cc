// LinkSchedule: rate spacing, delay, tail drop at the queue limit, jitter keeping order, loss.
#include <gtest/gtest.h>

#include "tools/wanem/link_schedule.h"

namespace isthmus::wanem {
namespace {

constexpr int64_t kMs = 1000000;

TEST(LinkScheduleTest, IdleLinkAddsSerialisationPlusDelay) {
  // 1 Gbit/s: 1500 bytes take 12 us; one-way delay 20 ms.
  LinkSchedule s(1e9, 20, 0, 10, 0, 1);
  auto d = s.admit(1000 * kMs, 1500);
  ASSERT_FALSE(d.dropQueue);
  EXPECT_EQ(d.dueNs, 1000 * kMs + 12000 + 20 * kMs);
  EXPECT_EQ(d.waitNs, 0);
}

TEST(LinkScheduleTest, BackToBackPacketsAreSpacedAtTheRate) {
  LinkSchedule s(1e9, 20, 0, 10, 0, 1);
  int64_t now = 5 * kMs;
  int64_t prev = 0;
  for (int i = 0; i < 100; ++i) {
    auto d = s.admit(now, 1500);  // all arrive at once
    ASSERT_FALSE(d.dropQueue);
    if (i > 0) {
      EXPECT_EQ(d.dueNs - prev, 12000) << i;
    }
    prev = d.dueNs;
  }
  // 1 MB in a burst at 1 Gbit/s leaves at 8 ms: the last one is due 8 ms + 20 ms later.
  LinkSchedule t(1e9, 20, 0, 100, 0, 1);
  int64_t last = 0;
  for (int i = 0; i < 1000; ++i) last = t.admit(0, 1000).dueNs;
  EXPECT_EQ(last, 8 * kMs + 20 * kMs);
}

TEST(LinkScheduleTest, TailDropsBeyondTheQueueLimit) {
  // 100 Mbit/s, 1 ms queue: 12.5 KB may wait; a 1250-byte packet takes 100 us.
  LinkSchedule s(100e6, 5, 0, 1, 0, 1);
  int accepted = 0, dropped = 0;
  for (int i = 0; i < 50; ++i) {
    auto d = s.admit(0, 1250);
    d.dropQueue ? ++dropped : ++accepted;
  }
  // Packets 0..10 start at 0, 100, ..., 1000 us (wait <= 1 ms); the rest would wait longer.
  EXPECT_EQ(accepted, 11);
  EXPECT_EQ(dropped, 39);
  // Once the backlog drains, packets are accepted again.
  EXPECT_FALSE(s.admit(2 * kMs, 1250).dropQueue);
}

TEST(LinkScheduleTest, JitterNeverReordersAndStaysInBounds) {
  LinkSchedule s(10e9, 10, 2, 50, 0, 42);
  int64_t prev = 0;
  double minExtra = 1e18, maxExtra = -1e18;
  for (int i = 0; i < 10000; ++i) {
    int64_t now = i * 5 * kMs;  // further apart than the jitter: order keeping never bites
    auto d = s.admit(now, 100);
    ASSERT_GE(d.dueNs, prev);
    prev = d.dueNs;
    double extra = static_cast<double>(d.dueNs - now) / 1e6 - 10;
    minExtra = std::min(minExtra, extra);
    maxExtra = std::max(maxExtra, extra);
  }
  EXPECT_GE(minExtra, -2.0 - 1e-3);
  EXPECT_LE(maxExtra, 2.0 + 1e-3);
  EXPECT_LT(minExtra, -1.0);  // the spread is actually used
  EXPECT_GT(maxExtra, 1.0);
  // Packets closer together than the jitter: order is still kept (the early ones wait).
  LinkSchedule close(10e9, 10, 2, 50, 0, 43);
  prev = 0;
  for (int i = 0; i < 10000; ++i) {
    auto d = close.admit(i * 100000, 100);
    ASSERT_GE(d.dueNs, prev);
    prev = d.dueNs;
  }
}

TEST(LinkScheduleTest, LossRateMatchesSetting) {
  LinkSchedule s(1e9, 1, 0, 10, 0.01, 7);
  int lost = 0;
  const int n = 1000000;
  for (int i = 0; i < n; ++i) lost += s.lose() ? 1 : 0;
  EXPECT_NEAR(lost / static_cast<double>(n), 0.01, 0.0005);
  LinkSchedule none(1e9, 1, 0, 10, 0, 7), all(1e9, 1, 0, 10, 1, 7);
  EXPECT_FALSE(none.lose());
  EXPECT_TRUE(all.lose());
}

TEST(LinkScheduleTest, BufferBoundCoversQueueDelayAndJitter) {
  LinkSchedule s(8e9, 20, 5, 25, 0, 1);  // 1 GB/s
  EXPECT_NEAR(s.bytesInFlightBound(), 1e9 * 0.050, 1);
}

}  // namespace
}  // namespace isthmus::wanem
