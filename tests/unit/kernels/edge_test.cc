// Edge cases: n = 0, 1, partial blocks, all-zero blocks, denormals, +-Inf and NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/cpu_kernels.h"
#include "test_util.h"

namespace isthmus::kernels {
namespace {

using testing::decodeOk;
using testing::encodeOk;
using testing::makeCodec;

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNan = std::numeric_limits<float>::quiet_NaN();

bool isBlock(const Codec& c) { return c.spec().blockSize != 0; }

TEST(Edge, EmptyInput) {
  for (const char* name : testing::kAllCodecs) {
    Codec c = makeCodec(name);
    EXPECT_EQ(c.maxEncodedBytes(0, DType::kFloat32), kMessageHeaderBytes) << name;
    std::vector<uint8_t> msg(kMessageHeaderBytes);
    auto w = c.encodeWithErrorFeedback(ConstBufferView(nullptr, 0, DType::kFloat32), nullptr,
                                       msg.data(), msg.size());
    ASSERT_TRUE(w.ok()) << name << w.status().toString();
    EXPECT_EQ(*w, kMessageHeaderBytes);
    auto info = inspect(msg.data(), msg.size());
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->count, 0u);
    EXPECT_TRUE(c.decodeAccumulate(msg.data(), msg.size(), nullptr, 0).ok());
    EXPECT_TRUE(c.decode(msg.data(), msg.size(), BufferView{nullptr, 0}).ok());
  }
}

TEST(Edge, OneElementAndPartialBlocks) {
  for (const char* name : testing::kAllCodecs) {
    Codec c = makeCodec(name);
    for (size_t n : {size_t{1}, size_t{2}, size_t{3}, size_t{9}, size_t{257}, size_t{513}}) {
      auto x = testing::gaussian(n, 20 + n);
      std::vector<float> r(n, 0.0f);
      auto msg = encodeOk(c, ConstBufferView(x.data(), n, DType::kFloat32), r.data());
      auto d = decodeOk(c, msg, n);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(r[i], x[i] - d[i]) << name << " n " << n;
      if (n == 1 && c.id() != CodecId::kTopK) {
        // One element is its own block max: int8/int4/fp8 reproduce it to a rounding of the scale.
        EXPECT_NEAR(d[0], x[0], std::fabs(x[0]) * 0.07f) << name;
      }
      if (n == 1 && c.id() == CodecId::kTopK) {
        EXPECT_EQ(d[0], x[0]);
      }
    }
  }
}

TEST(Edge, CapacityTooSmallIsAnArgumentError) {
  Codec c = makeCodec("int8");
  std::vector<float> x(100, 1.0f);
  std::vector<uint8_t> msg(c.maxEncodedBytes(100, DType::kFloat32) - 1);
  auto w = c.encode(ConstBufferView(x.data(), 100, DType::kFloat32), msg.data(), msg.size());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  w = c.encode(ConstBufferView(x.data(), 100, DType::kInt32), msg.data(), msg.size() + 1);
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
}

TEST(Edge, AllZeroBlocksStayZero) {
  for (const char* name : testing::kAllCodecs) {
    Codec c = makeCodec(name);
    std::vector<float> x(1000, 0.0f), r(1000, 0.0f);
    auto msg = encodeOk(c, ConstBufferView(x.data(), x.size(), DType::kFloat32), r.data());
    auto d = decodeOk(c, msg, x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(d[i], 0.0f) << name;
      ASSERT_EQ(r[i], 0.0f) << name;
    }
  }
}

TEST(Edge, DenormalsStayFiniteAndAreNotLost) {
  for (const char* name : testing::kAllCodecs) {
    Codec c = makeCodec(name);
    std::vector<float> x(600);
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = std::numeric_limits<float>::denorm_min() * static_cast<float>(i * 37 % 1000) *
             (i % 2 ? 1.0f : -1.0f);
    }
    x[599] = 1e-39f;
    std::vector<float> r(x.size(), 0.0f);
    auto msg = encodeOk(c, ConstBufferView(x.data(), x.size(), DType::kFloat32), r.data());
    auto d = decodeOk(c, msg, x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_TRUE(std::isfinite(d[i]) && std::isfinite(r[i])) << name << " i " << i;
      ASSERT_EQ(r[i], x[i] - d[i]) << name << " i " << i;  // EF keeps what was not sent
      ASSERT_LE(std::fabs(d[i]), 2e-39f) << name;
    }
  }
}

// What each codec does with a non-finite element at position `pos` of a 600-element input.
TEST(Edge, NanAndInfNeverBecomeFinite) {
  for (float bad : {kNan, kInf, -kInf}) {
    for (const char* name : testing::kAllCodecs) {
      Codec c = makeCodec(name);
      auto x = testing::gaussian(600, 30);
      const size_t pos = 300;
      x[pos] = bad;
      std::vector<float> r(x.size(), 0.0f);
      auto msg = encodeOk(c, ConstBufferView(x.data(), x.size(), DType::kFloat32), r.data());
      auto d = decodeOk(c, msg, x.size());
      const bool isNanIn = std::isnan(bad);
      if (isBlock(c)) {
        // The whole block decodes NaN (Inf included: a block scale cannot carry it); others finite.
        size_t b = c.spec().blockSize;
        for (size_t i = 0; i < x.size(); ++i) {
          bool inBlock = i / b == pos / b;
          ASSERT_EQ(std::isnan(d[i]), inBlock) << name << " i " << i;
          ASSERT_EQ(std::isnan(r[i]), inBlock) << name << " residual i " << i;
        }
      } else {
        // Element-wise codecs (and top-k, which always sends NaN/Inf first) keep the value.
        EXPECT_EQ(std::isnan(d[pos]), isNanIn) << name;
        if (!isNanIn) {
          EXPECT_EQ(d[pos], bad) << name;
        }
        EXPECT_TRUE(std::isnan(r[pos])) << name << ": residual of a non-finite element is NaN";
        for (size_t i = 0; i < x.size(); ++i) {
          if (i != pos) {
            ASSERT_TRUE(std::isfinite(d[i]) && std::isfinite(r[i])) << name << i;
          }
        }
      }
      // The NaN residual stays: the next step decodes NaN there again, even for finite input.
      auto y = testing::gaussian(600, 31);
      msg = encodeOk(c, ConstBufferView(y.data(), y.size(), DType::kFloat32), r.data());
      d = decodeOk(c, msg, y.size());
      EXPECT_TRUE(std::isnan(d[pos])) << name;
      EXPECT_TRUE(std::isnan(r[pos])) << name;
    }
  }
}

TEST(Edge, TopKSendsNanBeforeLargeFiniteValues) {
  std::vector<float> x(1000, 0.0f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 1e30f + static_cast<float>(i) * 1e24f;
  x[17] = kNan;
  x[18] = -kInf;
  Codec c = makeCodec("topk:fraction=0.002");  // k = 2
  auto d = decodeOk(c, encodeOk(c, ConstBufferView(x.data(), x.size(), DType::kFloat32)), x.size());
  EXPECT_TRUE(std::isnan(d[17]));
  EXPECT_EQ(d[18], -kInf);
  for (size_t i = 0; i < x.size(); ++i) {
    if (i != 17 && i != 18) {
      ASSERT_EQ(d[i], 0.0f);
    }
  }
}

}  // namespace
}  // namespace isthmus::kernels

namespace isthmus::kernels {
namespace {

TEST(Edge, SignallingNanHalfInputsAreQuietedAlikeOnEveryPath) {
  std::vector<uint16_t> h(40, 0x3c00);  // 1.0 in fp16
  h[3] = 0x7c01;                        // signalling NaN
  h[20] = 0xfd55;                       // negative signalling NaN with payload
  std::vector<uint8_t> msgs[2];
  for (const char* name : testing::kAllCodecs) {
    Codec c = testing::makeCodec(name);
    for (int portable = 0; portable < 2; ++portable) {
      cpu::setForcePortable(portable == 1);
      std::vector<float> r(h.size(), 0.0f);
      msgs[portable] =
          testing::encodeOk(c, ConstBufferView(h.data(), h.size(), DType::kFloat16), r.data());
      auto d = testing::decodeOk(c, msgs[portable], h.size());
      if (c.id() == CodecId::kTopK) {
        // k = 1 here and two NaNs: the larger-payload one is sent, the other waits in r.
        EXPECT_TRUE(std::isnan(d[20]) && std::isnan(r[3])) << name;
      } else {
        EXPECT_TRUE(std::isnan(d[3]) && std::isnan(r[3])) << name;
      }
    }
    cpu::setForcePortable(false);
    EXPECT_EQ(msgs[0], msgs[1]) << name;
  }
}

}  // namespace
}  // namespace isthmus::kernels
