#include "runtime/core/deadline.h"

#include <gtest/gtest.h>

#include <thread>

namespace isthmus {
namespace {

TEST(Deadline, ExpiresAndClamps) {
  Deadline d = Deadline::after(std::chrono::milliseconds(20));
  EXPECT_FALSE(d.expired());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(d.remaining().count(), 0);
  EXPECT_EQ(d.remainingMsForPoll(), 0);
}

TEST(Deadline, Infinite) {
  Deadline d = Deadline::infinite();
  EXPECT_FALSE(d.expired());
  EXPECT_TRUE(d.isInfinite());
  EXPECT_EQ(d.remainingMsForPoll(), -1);
  Deadline e = Deadline::earliest(d, Deadline::afterSeconds(1));
  EXPECT_FALSE(e.isInfinite());
}

}  // namespace
}  // namespace isthmus
