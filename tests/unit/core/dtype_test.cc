#include "runtime/core/dtype.h"

#include <gtest/gtest.h>

#include "runtime/core/buffer.h"
#include "runtime/core/logging.h"

namespace isthmus {
namespace {

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtypeSize(DType::kFloat32), 4u);
  EXPECT_EQ(dtypeSize(DType::kFloat16), 2u);
  EXPECT_EQ(dtypeSize(DType::kBFloat16), 2u);
  EXPECT_EQ(dtypeSize(DType::kInt8), 1u);
  EXPECT_EQ(dtypeSize(DType::kUInt8), 1u);
  EXPECT_EQ(dtypeSize(DType::kInt32), 4u);
  for (int i = 0; i < kNumDTypes; ++i) {
    DType t = static_cast<DType>(i);
    auto parsed = parseDType(dtypeName(t));
    ASSERT_TRUE(parsed.ok()) << dtypeName(t);
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_FALSE(isValidDType(kNumDTypes));
}

TEST(DType, UnknownNameIsNamed) {
  auto r = parseDType("fp64");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'fp64'"), std::string::npos);
}

TEST(BufferView, SliceAndBytes) {
  float data[10] = {};
  BufferView v{data, 10, DType::kFloat32, MemoryKind::kHost, -1};
  EXPECT_EQ(v.bytes(), 40u);
  BufferView s = v.slice(3, 4);
  EXPECT_EQ(s.data, data + 3);
  EXPECT_EQ(s.count, 4u);
  ConstBufferView c = s;
  EXPECT_EQ(c.bytes(), 16u);
  EXPECT_STREQ(memoryKindName(MemoryKind::kCuda), "cuda");
}

TEST(Logging, ParseLevels) {
  LogLevel l;
  EXPECT_TRUE(parseLogLevel("DEBUG", &l));
  EXPECT_EQ(l, LogLevel::kDebug);
  EXPECT_TRUE(parseLogLevel("off", &l));
  EXPECT_EQ(l, LogLevel::kOff);
  EXPECT_FALSE(parseLogLevel("loud", &l));
}

}  // namespace
}  // namespace isthmus
