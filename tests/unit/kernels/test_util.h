// Helpers for the kernels tests: random inputs, encode/decode wrappers that assert success.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/codec.h"
#include "kernels/codec_math.h"

namespace isthmus::kernels::testing {

inline std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline std::vector<float> studentT(size_t n, uint32_t seed, float dof = 3.0f) {
  std::mt19937 rng(seed);
  std::student_t_distribution<float> d(dof);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline Codec makeCodec(const std::string& text) {
  Result<Codec> c = Codec::create(text);
  EXPECT_TRUE(c.ok()) << c.status().toString();
  return std::move(c).value();
}

inline std::vector<uint8_t> encodeOk(const Codec& c, ConstBufferView x, float* residual = nullptr) {
  std::vector<uint8_t> msg(c.maxEncodedBytes(x.count, x.dtype));
  Result<size_t> n = residual ? c.encodeWithErrorFeedback(x, residual, msg.data(), msg.size())
                              : c.encode(x, msg.data(), msg.size());
  EXPECT_TRUE(n.ok()) << n.status().toString();
  if (n.ok()) {
    EXPECT_EQ(*n, msg.size());
  }
  return msg;
}

inline std::vector<float> decodeOk(const Codec& c, const std::vector<uint8_t>& msg, size_t n) {
  std::vector<float> out(n, -12345.0f);
  Status st = c.decode(msg.data(), msg.size(), BufferView{out.data(), n, DType::kFloat32});
  EXPECT_TRUE(st.ok()) << st.toString();
  return out;
}

inline bool sameBits(float a, float b) { return math::floatBits(a) == math::floatBits(b); }
inline bool bothNanOrSame(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || sameBits(a, b);
}

inline const char* kAllCodecs[] = {"fp32",
                                   "fp16",
                                   "bf16",
                                   "int8",
                                   "int4",
                                   "topk:fraction=0.1",
                                   "fp8",
                                   "int8:block=64",
                                   "int4:block=256",
                                   "topk:fraction=0.01",
                                   "fp8:block=32"};

}  // namespace isthmus::kernels::testing
