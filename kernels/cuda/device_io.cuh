// Device-side loads of codec inputs and stores of decoded values, and the host dispatch to them
// (internal). Plain CUDA C++ with
// no runtime calls, so that it also compiles for the CPU under the unit tests' SIMT emulator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/codec.h"
#include "kernels/codec_math.h"

namespace isthmus::kernels::cuda::detail {

template <int kDType>
__device__ __forceinline__ float loadIn(const void* p, size_t i) {
  if (kDType == static_cast<int>(DType::kFloat16)) {
    return math::halfToFloat(static_cast<const uint16_t*>(p)[i]);
  } else if (kDType == static_cast<int>(DType::kBFloat16)) {
    return math::bf16ToFloat(static_cast<const uint16_t*>(p)[i]);
  } else {
    return static_cast<const float*>(p)[i];
  }
}

// Decode sink: kMode 0 = acc += v (fp32), 1 = fp32 out, 2 = fp16 out, 3 = bf16 out.
template <int kMode>
__device__ __forceinline__ void storeOut(void* p, size_t i, float v) {
  if (kMode == 0) {
    float* a = static_cast<float*>(p);
    a[i] = math::add(a[i], v);
  } else if (kMode == 1) {
    static_cast<float*>(p)[i] = v;
  } else if (kMode == 2) {
    static_cast<uint16_t*>(p)[i] = math::floatToHalf(v);
  } else {
    static_cast<uint16_t*>(p)[i] = math::floatToBf16(v);
  }
}

// Host side: the kMode of storeOut for a decode, and dispatch from runtime values to the template
// parameters of loadIn (kDType) and storeOut (kMode).
inline int outMode(bool accumulate, DType t) {
  if (accumulate) return 0;
  return t == DType::kFloat16 ? 2 : (t == DType::kBFloat16 ? 3 : 1);
}

// Calls f(std::integral_constant<int, dtype>{}) for a runtime input dtype.
template <typename F>
void withInDType(DType t, F&& f) {
  switch (t) {
    case DType::kFloat16: f(std::integral_constant<int, 1>{}); break;
    case DType::kBFloat16: f(std::integral_constant<int, 2>{}); break;
    default: f(std::integral_constant<int, 0>{}); break;
  }
}

template <typename F>
void withOutMode(int mode, F&& f) {
  switch (mode) {
    case 0: f(std::integral_constant<int, 0>{}); break;
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    default: f(std::integral_constant<int, 3>{}); break;
  }
}

}  // namespace isthmus::kernels::cuda::detail
