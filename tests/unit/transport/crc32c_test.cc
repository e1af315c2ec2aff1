#include "runtime/transport/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace isthmus {
namespace {

TEST(Crc32c, KnownVectors) {
  const std::string digits = "123456789";
  EXPECT_EQ(crc32c(digits.data(), digits.size()), 0xE3069283u);
  EXPECT_EQ(crc32cPortable(digits.data(), digits.size()), 0xE3069283u);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
  std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  std::vector<uint8_t> ones(32, 0xFF);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
}

TEST(Crc32c, HardwareMatchesPortableOnEverySizeAndAlignment) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(3 * 8192 * 3 + 100);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 4096u, 24575u, 24576u, 24577u, 49152u, 73828u}) {
    for (size_t off : {0u, 1u, 3u, 7u}) {
      if (off + len > buf.size()) continue;
      EXPECT_EQ(crc32c(buf.data() + off, len), crc32cPortable(buf.data() + off, len))
          << "len " << len << " offset " << off << " hw " << crc32cHardware();
    }
  }
}

TEST(Crc32c, ChainsAcrossSplits) {
  std::mt19937 rng(11);
  std::vector<uint8_t> buf(100000);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  uint32_t whole = crc32c(buf.data(), buf.size());
  for (size_t split : {1u, 4096u, 30000u, 99999u}) {
    uint32_t a = crc32c(buf.data(), split);
    EXPECT_EQ(crc32c(buf.data() + split, buf.size() - split, a), whole) << split;
  }
}

TEST(Crc32c, DetectsASingleFlippedBit) {
  std::vector<uint8_t> buf(1 << 20, 0x5A);
  uint32_t before = crc32c(buf.data(), buf.size());
  buf[123457] ^= 0x20;
  EXPECT_NE(crc32c(buf.data(), buf.size()), before);
}

}  // namespace
}  // namespace isthmus
