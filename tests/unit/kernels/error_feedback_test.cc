// Error feedback: over 100 steps, sum of decoded messages = sum of inputs - final residual, to
// fp32 rounding (each step rounds v = x + r and r = v - d at most half an ulp each).
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace isthmus::kernels {
namespace {

using testing::makeCodec;

class ErrorFeedback : public ::testing::TestWithParam<const char*> {};

TEST_P(ErrorFeedback, IdentityOver100Steps) {
  Codec c = makeCodec(GetParam());
  const size_t n = 3001;
  std::vector<float> r(n, 0.0f);
  std::vector<double> sumIn(n, 0.0), sumDec(n, 0.0), tol(n, 0.0);
  std::vector<uint8_t> msg(c.maxEncodedBytes(n, DType::kFloat32));
  std::vector<float> d(n);
  for (int step = 0; step < 100; ++step) {
    auto x = step % 2 ? testing::studentT(n, 100 + step) : testing::gaussian(n, 100 + step);
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = x[i] + r[i];
    auto w = c.encodeWithErrorFeedback(ConstBufferView(x.data(), n, DType::kFloat32), r.data(),
                                       msg.data(), msg.size());
    ASSERT_TRUE(w.ok()) << w.status().toString();
    ASSERT_TRUE(c.decode(msg.data(), msg.size(), BufferView{d.data(), n}).ok());
    for (size_t i = 0; i < n; ++i) {
      // The residual is exactly v - d as one fp32 operation.
      ASSERT_EQ(r[i], v[i] - d[i]) << GetParam() << " step " << step << " i " << i;
      sumIn[i] += x[i];
      sumDec[i] += d[i];
      tol[i] += (std::fabs(v[i]) + std::fabs(r[i])) * 0x1p-24 * 1.01;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    ASSERT_NEAR(sumDec[i], sumIn[i] - r[i], tol[i] + 1e-30) << GetParam() << " i " << i;
  }
}

TEST_P(ErrorFeedback, ResidualShrinksTheLongRunError) {
  // With EF the mean of decoded messages converges to the mean input; without, a bias remains.
  Codec c = makeCodec(GetParam());
  if (c.id() == CodecId::kFp32) GTEST_SKIP() << "lossless";
  const size_t n = 2048;
  auto x = testing::studentT(n, 7);  // the same input every step: the worst case for bias
  std::vector<float> r(n, 0.0f), d(n);
  std::vector<double> withEf(n, 0.0), without(n, 0.0);
  std::vector<uint8_t> msg(c.maxEncodedBytes(n, DType::kFloat32));
  for (int step = 0; step < 100; ++step) {
    ASSERT_TRUE(c.encodeWithErrorFeedback(ConstBufferView(x.data(), n, DType::kFloat32), r.data(),
                                          msg.data(), msg.size())
                    .ok());
    ASSERT_TRUE(c.decode(msg.data(), msg.size(), BufferView{d.data(), n}).ok());
    for (size_t i = 0; i < n; ++i) withEf[i] += d[i];
    ASSERT_TRUE(
        c.encode(ConstBufferView(x.data(), n, DType::kFloat32), msg.data(), msg.size()).ok());
    ASSERT_TRUE(c.decode(msg.data(), msg.size(), BufferView{d.data(), n}).ok());
    for (size_t i = 0; i < n; ++i) without[i] += d[i];
  }
  double eEf = 0, eNo = 0, ref = 0;
  for (size_t i = 0; i < n; ++i) {
    eEf += std::pow(withEf[i] / 100 - x[i], 2);
    eNo += std::pow(without[i] / 100 - x[i], 2);
    ref += std::pow(double(x[i]), 2);
  }
  EXPECT_LT(eEf, eNo) << GetParam();
  // Top-k at 1% sends each element about once per 100 steps: its residual is still large at the
  // end, so only the ordering is asserted there.
  if (c.spec().fraction == 0 || c.spec().fraction >= 0.1) {
    EXPECT_LT(std::sqrt(eEf / ref), 0.05) << GetParam();
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, ErrorFeedback,
                         ::testing::Values("fp32", "fp16", "bf16", "int8", "int8:block=64", "int4",
                                           "int4:block=128", "topk:fraction=0.01",
                                           "topk:fraction=0.1", "fp8", "fp8:block=64"));

}  // namespace
}  // namespace isthmus::kernels
