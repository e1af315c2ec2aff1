#include <gtest/gtest.h>

#include "kernels/codec.h"

namespace isthmus::kernels {
namespace {

TEST(CodecSpec, ParsesNamesAndOptions) {
  auto s = parseCodecSpec("int8");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->id, CodecId::kInt8);
  EXPECT_EQ(s->blockSize, kDefaultInt8Block);
  s = parseCodecSpec("int8:block=512");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->blockSize, 512u);
  s = parseCodecSpec("int4:block=64");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->id, CodecId::kInt4);
  EXPECT_EQ(s->blockSize, 64u);
  s = parseCodecSpec("topk:fraction=0.01");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->id, CodecId::kTopK);
  EXPECT_DOUBLE_EQ(s->fraction, 0.01);
  s = parseCodecSpec("fp8:block=128");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->id, CodecId::kFp8E4M3);
  for (const char* t : {"fp32", "fp16", "bf16"}) {
    s = parseCodecSpec(t);
    ASSERT_TRUE(s.ok()) << t;
    EXPECT_EQ(s->blockSize, 0u);
  }
}

TEST(CodecSpec, RejectsBadText) {
  for (const char* t :
       {"", "int9", "int8:block=7", "int8:block=0", "int8:block=abc", "int8:block=12",
        "int8:block=99999999", "topk:fraction=0", "topk:fraction=1.5", "topk:fraction=x",
        "fp16:block=8", "int8:fraction=0.1", "int8:block", "topk:k=3"}) {
    auto s = parseCodecSpec(t);
    EXPECT_FALSE(s.ok()) << t;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << t;
    }
  }
}

TEST(CodecSpec, ToStringRoundTrips) {
  for (const char* t : {"fp32", "fp16", "bf16", "int8:block=256", "int4:block=64",
                        "topk:fraction=0.01", "fp8:block=256", "topk:fraction=0.333"}) {
    auto s = parseCodecSpec(t);
    ASSERT_TRUE(s.ok()) << t;
    auto again = parseCodecSpec(s->toString());
    ASSERT_TRUE(again.ok()) << s->toString();
    EXPECT_TRUE(*again == *s) << t;
    EXPECT_TRUE(Codec::create(*s).ok()) << t;
  }
  CodecSpec bad;
  bad.id = CodecId::kInt8;
  bad.blockSize = 3;
  EXPECT_FALSE(Codec::create(bad).ok());
}

}  // namespace
}  // namespace isthmus::kernels
