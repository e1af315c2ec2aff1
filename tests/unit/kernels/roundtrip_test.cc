// Round-trip error bounds per codec, decode targets, input dtypes, and SIMD == portable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/message_layout.h"
#include "kernels/reduce.h"
#include "test_util.h"

namespace isthmus::kernels {
namespace {

using testing::decodeOk;
using testing::encodeOk;
using testing::gaussian;
using testing::makeCodec;
using testing::sameBits;

float blockScaleOf(const std::vector<uint8_t>& msg, size_t block) {
  float s;
  std::memcpy(&s, msg.data() + kMessageHeaderBytes + 4 * block, 4);
  return s;
}

class IntCodecs : public ::testing::TestWithParam<const char*> {};

TEST_P(IntCodecs, PerElementWithinHalfAStep) {
  Codec c = makeCodec(GetParam());
  const float levels = c.id() == CodecId::kInt8 ? 127.0f : 7.0f;
  for (size_t n : {size_t{1}, size_t{7}, size_t{255}, size_t{256}, size_t{1000}, size_t{4097}}) {
    auto x = testing::studentT(n, 10 + n);
    auto msg = encodeOk(c, ConstBufferView(x.data(), n, DType::kFloat32));
    auto d = decodeOk(c, msg, n);
    for (size_t i = 0; i < n; ++i) {
      size_t b = i / c.spec().blockSize;
      float scale = blockScaleOf(msg, b);
      float absmax = 0;
      for (size_t j = b * c.spec().blockSize; j < std::min(n, (b + 1) * c.spec().blockSize); ++j)
        absmax = std::max(absmax, std::fabs(x[j]));
      ASSERT_EQ(scale, absmax / levels);
      ASSERT_LE(std::fabs(x[i] - d[i]), 0.5f * scale * (1 + 1e-3f))
          << GetParam() << " n=" << n << " i=" << i << " x=" << x[i] << " d=" << d[i];
    }
  }
}
INSTANTIATE_TEST_SUITE_P(Codecs, IntCodecs,
                         ::testing::Values("int8", "int8:block=64", "int8:block=8", "int4",
                                           "int4:block=256", "int4:block=8"));

TEST(RoundTrip, CastCodecs) {
  auto x = gaussian(1001, 7, 100.0f);
  x[3] = 1e-6f;
  x[4] = 70000.0f;  // fp16 overflow -> Inf
  x[5] = -1e-30f;   // fp16 underflow -> -0
  Codec f32 = makeCodec("fp32"), f16 = makeCodec("fp16"), b16 = makeCodec("bf16");
  auto d32 =
      decodeOk(f32, encodeOk(f32, ConstBufferView(x.data(), x.size(), DType::kFloat32)), x.size());
  auto d16 =
      decodeOk(f16, encodeOk(f16, ConstBufferView(x.data(), x.size(), DType::kFloat32)), x.size());
  auto db =
      decodeOk(b16, encodeOk(b16, ConstBufferView(x.data(), x.size(), DType::kFloat32)), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_TRUE(sameBits(d32[i], x[i]));
    ASSERT_TRUE(sameBits(d16[i], math::halfToFloat(math::floatToHalf(x[i]))));
    ASSERT_TRUE(sameBits(db[i], math::bf16ToFloat(math::floatToBf16(x[i]))));
    ASSERT_LE(std::fabs(db[i] - x[i]), std::fabs(x[i]) * 0x1p-8f);
    if (std::fabs(x[i]) < 65504 && std::fabs(x[i]) > 6.2e-5f) {
      ASSERT_LE(std::fabs(d16[i] - x[i]), std::fabs(x[i]) * 0x1p-11f);
    }
  }
  EXPECT_TRUE(std::isinf(d16[4]));
  EXPECT_TRUE(std::signbit(d16[5]) && d16[5] == 0.0f);
}

TEST(RoundTrip, Fp8WithinHalfAnE4M3Step) {
  for (const char* name : {"fp8", "fp8:block=32"}) {
    Codec c = makeCodec(name);
    auto x = testing::studentT(3000, 8);
    auto msg = encodeOk(c, ConstBufferView(x.data(), x.size(), DType::kFloat32));
    auto d = decodeOk(c, msg, x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      float scale = blockScaleOf(msg, i / c.spec().blockSize);
      float bound = std::max(std::fabs(x[i]) * 0x1p-4f, scale * 0x1p-10f) * (1 + 1e-3f);
      ASSERT_LE(std::fabs(x[i] - d[i]), bound) << name << " i=" << i;
    }
  }
}

TEST(RoundTrip, TopKKeepsTheLargestExactly) {
  for (double f : {0.01, 0.1, 0.5, 1.0}) {
    Codec c = makeCodec("topk:fraction=" + std::to_string(f));
    auto x = gaussian(20000, 9);
    auto msg = encodeOk(c, ConstBufferView(x.data(), x.size(), DType::kFloat32));
    auto d = decodeOk(c, msg, x.size());
    size_t k = static_cast<size_t>(std::ceil(f * x.size()));
    size_t nonzero = 0;
    float minKept = INFINITY, maxDropped = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      if (d[i] != 0.0f) {
        ++nonzero;
        ASSERT_TRUE(sameBits(d[i], x[i]));
        minKept = std::min(minKept, std::fabs(x[i]));
      } else {
        maxDropped = std::max(maxDropped, std::fabs(x[i]));
      }
    }
    EXPECT_EQ(nonzero, k) << f;
    EXPECT_GE(minKept, maxDropped) << f;
  }
}

TEST(RoundTrip, TopKTiesGoToTheLowerIndex) {
  std::vector<float> x(1000, 1.0f);
  x[500] = -3.0f;
  Codec c = makeCodec("topk:fraction=0.01");  // k = 10
  auto d = decodeOk(c, encodeOk(c, ConstBufferView(x.data(), x.size(), DType::kFloat32)), x.size());
  EXPECT_EQ(d[500], -3.0f);
  for (size_t i = 0; i < 9; ++i) EXPECT_EQ(d[i], 1.0f) << i;
  for (size_t i = 9; i < 1000; ++i) {
    if (i != 500) {
      ASSERT_EQ(d[i], 0.0f) << i;
    }
  }
}

TEST(RoundTrip, DecodeTargetsAgree) {
  auto x = testing::studentT(999, 11);
  for (const char* name : testing::kAllCodecs) {
    Codec c = makeCodec(name);
    auto msg = encodeOk(c, ConstBufferView(x.data(), x.size(), DType::kFloat32));
    auto d = decodeOk(c, msg, x.size());
    std::vector<float> acc = gaussian(x.size(), 12);
    std::vector<float> expect(acc.size());
    for (size_t i = 0; i < acc.size(); ++i) expect[i] = acc[i] + d[i];
    ASSERT_TRUE(c.decodeAccumulate(msg.data(), msg.size(), acc.data(), acc.size()).ok());
    for (size_t i = 0; i < acc.size(); ++i) ASSERT_TRUE(sameBits(acc[i], expect[i])) << name << i;
    for (DType t : {DType::kFloat16, DType::kBFloat16}) {
      std::vector<uint16_t> out(x.size()), ref(x.size());
      ASSERT_TRUE(c.decode(msg.data(), msg.size(), BufferView{out.data(), out.size(), t}).ok());
      ASSERT_TRUE(convert(d.data(), DType::kFloat32, ref.data(), t, d.size()).ok());
      EXPECT_EQ(out, ref) << name << " " << dtypeName(t);
    }
  }
}

TEST(RoundTrip, HalfInputsEncodeLikeTheirFp32Values) {
  auto x = testing::studentT(1003, 13);
  for (DType t : {DType::kFloat16, DType::kBFloat16}) {
    std::vector<uint16_t> h(x.size());
    ASSERT_TRUE(convert(x.data(), DType::kFloat32, h.data(), t, x.size()).ok());
    std::vector<float> wide(x.size());
    ASSERT_TRUE(convert(h.data(), t, wide.data(), DType::kFloat32, x.size()).ok());
    for (const char* name : testing::kAllCodecs) {
      Codec c = makeCodec(name);
      std::vector<float> r1(x.size(), 0.25f), r2(x.size(), 0.25f);
      auto a = encodeOk(c, ConstBufferView(h.data(), h.size(), t), r1.data());
      auto b = encodeOk(c, ConstBufferView(wide.data(), wide.size(), DType::kFloat32), r2.data());
      ASSERT_EQ(a.size(), b.size());
      EXPECT_EQ(a[6], static_cast<uint8_t>(t));
      EXPECT_TRUE(
          std::equal(a.begin() + kMessageHeaderBytes, a.end(), b.begin() + kMessageHeaderBytes))
          << name << " " << dtypeName(t);
      EXPECT_EQ(0, std::memcmp(r1.data(), r2.data(), r1.size() * 4)) << name;
    }
  }
}

TEST(RoundTrip, SimdAndPortablePathsGiveTheSameBits) {
  auto x = testing::studentT(4133, 14);
  x[10] = 1e-42f;  // denormal
  x[300] = 0.0f;
  for (size_t i = 512; i < 768; ++i) x[i] = 1e-40f * static_cast<float>(i % 7);  // tiny block
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    std::vector<uint8_t> in(x.size() * 4);
    ASSERT_TRUE(convert(x.data(), DType::kFloat32, in.data(), t, x.size()).ok());
    ConstBufferView xv(in.data(), x.size(), t);
    for (const char* name : testing::kAllCodecs) {
      Codec c = makeCodec(name);
      std::vector<uint8_t> msgs[2];
      std::vector<float> res[2];
      std::vector<float> outs[2];
      for (int portable = 0; portable < 2; ++portable) {
        cpu::setForcePortable(portable == 1);
        res[portable] = gaussian(x.size(), 15, 0.01f);
        msgs[portable] = encodeOk(c, xv, res[portable].data());
        outs[portable] = gaussian(x.size(), 16);
        EXPECT_TRUE(c.decodeAccumulate(msgs[portable].data(), msgs[portable].size(),
                                       outs[portable].data(), x.size())
                        .ok());
      }
      cpu::setForcePortable(false);
      EXPECT_EQ(msgs[0], msgs[1]) << name << " " << dtypeName(t);
      EXPECT_EQ(0, std::memcmp(res[0].data(), res[1].data(), x.size() * 4)) << name;
      EXPECT_EQ(0, std::memcmp(outs[0].data(), outs[1].data(), x.size() * 4)) << name;
    }
  }
}

}  // namespace
}  // namespace isthmus::kernels
