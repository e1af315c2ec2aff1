#include "kernels/reduce.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "isthmus/config.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda_codecs.h"
#include "test_util.h"

namespace isthmus::kernels {
namespace {

TEST(Reduce, SumIntoMatchesScalarFp32Arithmetic) {
  for (int portable = 0; portable < 2; ++portable) {
    cpu::setForcePortable(portable == 1);
    for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{1001}}) {
      auto a = testing::gaussian(n, 1), b = testing::studentT(n, 2);
      if (n > 3) {
        a[1] = std::numeric_limits<float>::quiet_NaN();
        a[2] = std::numeric_limits<float>::infinity();
      }
      auto ref = a;
      for (size_t i = 0; i < n; ++i) ref[i] = a[i] + b[i];
      ASSERT_TRUE(sumInto(a.data(), b.data(), n, DType::kFloat32).ok());
      for (size_t i = 0; i < n; ++i) ASSERT_TRUE(testing::bothNanOrSame(a[i], ref[i]));
      for (DType t : {DType::kFloat16, DType::kBFloat16}) {
        std::vector<uint16_t> ha(n), hb(n);
        auto a2 = testing::gaussian(n, 3), b2 = testing::gaussian(n, 4);
        ASSERT_TRUE(convert(a2.data(), DType::kFloat32, ha.data(), t, n).ok());
        ASSERT_TRUE(convert(b2.data(), DType::kFloat32, hb.data(), t, n).ok());
        std::vector<uint16_t> expect(n);
        for (size_t i = 0; i < n; ++i) {
          auto wide = [&](uint16_t h) {
            return t == DType::kFloat16 ? math::halfToFloat(h) : math::bf16ToFloat(h);
          };
          float s = wide(ha[i]) + wide(hb[i]);
          expect[i] = t == DType::kFloat16 ? math::floatToHalf(s) : math::floatToBf16(s);
        }
        ASSERT_TRUE(sumInto(ha.data(), hb.data(), n, t).ok());
        EXPECT_EQ(ha, expect);
      }
    }
  }
  cpu::setForcePortable(false);
  float x = 1;
  EXPECT_EQ(sumInto(&x, &x, 1, DType::kInt32).code(), StatusCode::kInvalidArgument);
}

TEST(Reduce, ConvertAndScale) {
  auto a = testing::studentT(1003, 5);
  a[0] = 1e-42f;
  a[1] = 1e6f;  // fp16 overflow
  a[2] = std::numeric_limits<float>::quiet_NaN();
  for (int portable = 0; portable < 2; ++portable) {
    cpu::setForcePortable(portable == 1);
    for (DType t : {DType::kFloat16, DType::kBFloat16}) {
      std::vector<uint16_t> h(a.size());
      ASSERT_TRUE(convert(a.data(), DType::kFloat32, h.data(), t, a.size()).ok());
      for (size_t i = 0; i < a.size(); ++i) {
        uint16_t e = t == DType::kFloat16 ? math::floatToHalf(a[i]) : math::floatToBf16(a[i]);
        ASSERT_EQ(h[i], e) << dtypeName(t) << " i " << i << " x " << a[i];
      }
      std::vector<float> back(a.size());
      ASSERT_TRUE(convert(h.data(), t, back.data(), DType::kFloat32, a.size()).ok());
      EXPECT_TRUE(std::isnan(back[2]));
      EXPECT_EQ(std::isinf(back[1]), t == DType::kFloat16);
      std::vector<uint16_t> other(a.size());
      DType o = t == DType::kFloat16 ? DType::kBFloat16 : DType::kFloat16;
      ASSERT_TRUE(convert(h.data(), t, other.data(), o, a.size()).ok());
      for (size_t i = 3; i < a.size(); ++i) {
        uint16_t e = o == DType::kFloat16 ? math::floatToHalf(back[i]) : math::floatToBf16(back[i]);
        ASSERT_EQ(other[i], e);
      }
      std::vector<uint16_t> s = h;
      ASSERT_TRUE(scale(s.data(), s.size(), t, 0.25f).ok());
      for (size_t i = 3; i < a.size(); ++i) {
        float w = t == DType::kFloat16 ? math::halfToFloat(h[i]) : math::bf16ToFloat(h[i]);
        uint16_t e =
            t == DType::kFloat16 ? math::floatToHalf(w * 0.25f) : math::floatToBf16(w * 0.25f);
        ASSERT_EQ(s[i], e);
      }
    }
    auto f = a;
    ASSERT_TRUE(scale(f.data(), f.size(), DType::kFloat32, 1.0f / 3).ok());
    for (size_t i = 3; i < a.size(); ++i) ASSERT_EQ(f[i], a[i] * (1.0f / 3));
  }
  cpu::setForcePortable(false);
}

}  // namespace
}  // namespace isthmus::kernels

#if !ISTHMUS_HAVE_CUDA

namespace isthmus::kernels {
namespace {

TEST(CudaEntryPoints, SayNotSupportedWithoutCuda) {
  EXPECT_FALSE(cuda::available());
  float x = 1;
  EXPECT_EQ(cuda::sumInto(&x, &x, 1, DType::kFloat32, nullptr).code(), StatusCode::kNotSupported);
  auto spec = parseCodecSpec("int8");
  ASSERT_TRUE(spec.ok());
  auto w = cuda::encode(*spec, ConstBufferView(&x, 1, DType::kFloat32), &x, 4, nullptr);
  EXPECT_EQ(w.status().code(), StatusCode::kNotSupported);
}

}  // namespace
}  // namespace isthmus::kernels
#endif
