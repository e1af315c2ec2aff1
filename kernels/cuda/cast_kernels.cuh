// fp32 / fp16 / bf16 codecs on the GPU, device code (cast_codecs.cu launches it;
// tests/unit/kernels/codecs_simt_test.cc runs it on the CPU under the SIMT emulator): one element
// per thread-iteration, four per thread in flight (coalesced scalar loads work for any alignment of
// a slice).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/device_io.cuh"

namespace isthmus::kernels::cuda::detail::cast {

constexpr unsigned kThreads = 256;
constexpr unsigned kUnroll = 4;

// A cast codec's payload is its wire dtype's array: the codec id doubles as the dtype index of
// loadIn / the kIn template parameters (fp32 0, fp16 1, bf16 2).
static_assert(static_cast<int>(CodecId::kFp32) == static_cast<int>(DType::kFloat32) &&
              static_cast<int>(CodecId::kFp16) == static_cast<int>(DType::kFloat16) &&
              static_cast<int>(CodecId::kBf16) == static_cast<int>(DType::kBFloat16));

template <int kId>
__device__ __forceinline__ float castStore(uint8_t* payload, size_t i, float v) {
  if (kId == static_cast<int>(CodecId::kFp16)) {
    uint16_t h = math::floatToHalf(v);
    reinterpret_cast<uint16_t*>(payload)[i] = h;
    return math::halfToFloat(h);
  } else if (kId == static_cast<int>(CodecId::kBf16)) {
    uint16_t h = math::floatToBf16(v);
    reinterpret_cast<uint16_t*>(payload)[i] = h;
    return math::bf16ToFloat(h);
  } else {
    reinterpret_cast<float*>(payload)[i] = v;
    return v;
  }
}

// f(i) for every element index i < n this thread owns: kUnroll of them in flight per iteration,
// kThreads apart (coalesced), over a grid-stride loop.
template <typename F>
__device__ __forceinline__ void forEachOwned(size_t n, F&& f) {
  const size_t stride = size_t{gridDim.x} * kThreads * kUnroll;
  for (size_t base = size_t{blockIdx.x} * kThreads * kUnroll + threadIdx.x; base < n;
       base += stride) {
#pragma unroll
    for (unsigned u = 0; u < kUnroll; ++u) {
      const size_t i = base + u * kThreads;
      if (i < n) f(i);
    }
  }
}

template <int kId, int kIn, bool kEf>
__global__ void encodeCastKernel(const void* __restrict__ x, size_t n, float* __restrict__ r,
                                 uint8_t* __restrict__ payload) {
  forEachOwned(n, [&](size_t i) {
    float v = loadIn<kIn>(x, i);
    if (kEf) v = math::add(v, r[i]);
    float d = castStore<kId>(payload, i, v);
    if (kEf) r[i] = math::sub(v, d);
  });
}

template <int kId, int kMode>
__global__ void decodeCastKernel(const uint8_t* __restrict__ payload, size_t n,
                                 void* __restrict__ out) {
  forEachOwned(n, [&](size_t i) { storeOut<kMode>(out, i, loadIn<kId>(payload, i)); });
}

}  // namespace isthmus::kernels::cuda::detail::cast
