#include "runtime/core/format.h"

#include <gtest/gtest.h>

namespace isthmus {
namespace {

TEST(Format, HumanBytesPicksTheUnitAndKeepsTwoDecimalsBelowTen) {
  EXPECT_EQ(humanBytes(0), "0 B");
  EXPECT_EQ(humanBytes(512), "512 B");
  EXPECT_EQ(humanBytes(1536), "1.50 KiB");
  EXPECT_EQ(humanBytes(256.0 * (1 << 20)), "256 MiB");
  EXPECT_EQ(humanBytes(3.25 * (1 << 30)), "3.25 GiB");
  EXPECT_EQ(humanBytes(2048.0 * (1ull << 40)), "2048 TiB");  // TiB is the largest unit
}

}  // namespace
}  // namespace isthmus
