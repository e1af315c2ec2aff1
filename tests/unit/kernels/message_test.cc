// Malformed messages: every decoder and inspect() answer kCorrupt and touch nothing.
#include <gtest/gtest.h>

#include <cstring>

#include "kernels/codec.h"
#include "test_util.h"

namespace isthmus::kernels {
namespace {

using testing::encodeOk;
using testing::gaussian;
using testing::makeCodec;

void expectCorrupt(const Codec& c, const std::vector<uint8_t>& msg, size_t bytes, size_t n,
                   const std::string& what) {
  std::vector<float> acc(n + 16, 7.0f);
  Status st = c.decodeAccumulate(msg.data(), bytes, acc.data(), n);
  EXPECT_EQ(st.code(), StatusCode::kCorrupt) << what << ": " << st.toString();
  for (float a : acc) ASSERT_EQ(a, 7.0f) << what << ": acc written on error";
  std::vector<float> out(n + 16, 5.0f);
  st = c.decode(msg.data(), bytes, BufferView{out.data(), n, DType::kFloat32});
  EXPECT_EQ(st.code(), StatusCode::kCorrupt) << what;
  for (float o : out) ASSERT_EQ(o, 5.0f) << what << ": out written on error";
}

TEST(Message, HeaderIsSelfDescribing) {
  auto x = gaussian(1000, 1);
  Codec c = makeCodec("int8:block=64");
  auto msg = encodeOk(c, ConstBufferView(x.data(), x.size(), DType::kFloat32));
  auto info = inspect(msg.data(), msg.size());
  ASSERT_TRUE(info.ok()) << info.status().toString();
  EXPECT_EQ(info->codec, CodecId::kInt8);
  EXPECT_EQ(info->inputDType, DType::kFloat32);
  EXPECT_EQ(info->count, 1000u);
  EXPECT_EQ(info->blockSize, 64u);
  EXPECT_EQ(info->payloadBytes, 16u * 4 + 1000);
  EXPECT_EQ(info->totalBytes(), msg.size());
  auto expected = expectedMessageInfo(c.spec(), 1000, DType::kFloat32);
  ASSERT_TRUE(expected.ok());
  EXPECT_TRUE(*expected == *info);
  // A larger receive buffer is fine.
  msg.resize(msg.size() + 100);
  EXPECT_TRUE(inspect(msg.data(), msg.size()).ok());
  // Any message decodes through the generic entry point.
  std::vector<float> out(1000);
  EXPECT_TRUE(decodeMessage(msg.data(), msg.size(), BufferView{out.data(), 1000}).ok());
}

TEST(Message, EveryTruncationIsCorrupt) {
  auto x = gaussian(77, 2);
  for (const char* name : testing::kAllCodecs) {
    Codec c = makeCodec(name);
    auto msg = encodeOk(c, ConstBufferView(x.data(), x.size(), DType::kFloat32));
    for (size_t len = 0; len < msg.size(); ++len) {
      auto info = inspect(msg.data(), len);
      ASSERT_FALSE(info.ok()) << name << " len " << len;
      EXPECT_EQ(info.status().code(), StatusCode::kCorrupt);
      expectCorrupt(c, msg, len, x.size(), std::string(name) + " truncated");
    }
    EXPECT_EQ(inspect(nullptr, 100).status().code(), StatusCode::kCorrupt);
  }
}

TEST(Message, BadFieldsAreCorrupt) {
  auto x = gaussian(300, 3);
  for (const char* name : testing::kAllCodecs) {
    Codec c = makeCodec(name);
    const auto good = encodeOk(c, ConstBufferView(x.data(), x.size(), DType::kFloat32));
    auto mutate = [&](size_t off, const void* v, size_t len, const std::string& what) {
      auto m = good;
      std::memcpy(m.data() + off, v, len);
      auto info = inspect(m.data(), m.size());
      if (!info.ok()) {
        EXPECT_EQ(info.status().code(), StatusCode::kCorrupt) << what;
      }
      expectCorrupt(c, m, m.size(), x.size(), std::string(name) + ": " + what);
    };
    uint32_t magic = 0x12345678;
    mutate(0, &magic, 4, "magic");
    uint8_t b = 2;
    mutate(4, &b, 1, "version 2");
    b = 0;
    mutate(4, &b, 1, "version 0");
    b = 7;
    mutate(5, &b, 1, "codec id 7");
    b = 255;
    mutate(5, &b, 1, "codec id 255");
    b = 3;
    mutate(6, &b, 1, "input dtype int8");
    b = 99;
    mutate(6, &b, 1, "input dtype 99");
    b = 1;
    mutate(7, &b, 1, "flags");
    for (uint64_t count : {uint64_t{0}, uint64_t{299}, uint64_t{301}, uint64_t{1} << 40,
                           ~uint64_t{0}, uint64_t{1} << 62}) {
      mutate(8, &count, 8, "count " + std::to_string(count));
    }
    for (uint32_t block : {0u, 4u, 12u, 1u << 21, 0xffffffffu, 128u}) {
      if (c.spec().blockSize == block) continue;
      mutate(16, &block, 4, "block " + std::to_string(block));
    }
    for (uint32_t kept : {0u, 1u, 301u, 0xffffffffu}) {
      uint32_t cur;
      std::memcpy(&cur, good.data() + 20, 4);
      if (kept == cur) continue;
      mutate(20, &kept, 4, "kept " + std::to_string(kept));
    }
    for (uint64_t payload : {uint64_t{0}, uint64_t{1} << 60, ~uint64_t{0}}) {
      mutate(24, &payload, 8, "payload " + std::to_string(payload));
    }
  }
}

TEST(Message, WrongCodecOrCountForTheDecoder) {
  auto x = gaussian(256, 4);
  auto msg = encodeOk(makeCodec("int8:block=64"), ConstBufferView(x.data(), 256, DType::kFloat32));
  expectCorrupt(makeCodec("int8:block=128"), msg, msg.size(), 256, "block mismatch");
  expectCorrupt(makeCodec("int4:block=64"), msg, msg.size(), 256, "codec mismatch");
  expectCorrupt(makeCodec("fp16"), msg, msg.size(), 256, "codec mismatch fp16");
  expectCorrupt(makeCodec("int8:block=64"), msg, msg.size(), 255, "count 255");
  expectCorrupt(makeCodec("int8:block=64"), msg, msg.size(), 257, "count 257");
}

TEST(Message, TopKIndicesAreChecked) {
  auto x = gaussian(1000, 5);
  Codec c = makeCodec("topk:fraction=0.01");
  const auto good = encodeOk(c, ConstBufferView(x.data(), 1000, DType::kFloat32));
  auto info = inspect(good.data(), good.size());
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->kept, 10u);
  auto setIdx = [&](uint32_t j, uint32_t v) {
    auto m = good;
    std::memcpy(m.data() + kMessageHeaderBytes + 4 * j, &v, 4);
    return m;
  };
  uint32_t first, second;
  std::memcpy(&first, good.data() + kMessageHeaderBytes, 4);
  std::memcpy(&second, good.data() + kMessageHeaderBytes + 4, 4);
  expectCorrupt(c, setIdx(9, 1000), good.size(), 1000, "index == n");
  expectCorrupt(c, setIdx(9, 0xffffffffu), good.size(), 1000, "index huge");
  expectCorrupt(c, setIdx(1, first), good.size(), 1000, "duplicate index");
  expectCorrupt(c, setIdx(0, second + 1 > 999 ? 999 : second + 1), good.size(), 1000,
                "decreasing index");
}

}  // namespace
}  // namespace isthmus::kernels
