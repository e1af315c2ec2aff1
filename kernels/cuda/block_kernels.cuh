// Blockwise absmax codecs (int8, int4, fp8 e4m3) on the GPU: device code (block_codecs.cu launches
// it; tests/unit/kernels/codecs_simt_test.cc runs it on the CPU under the SIMT emulator).
//
// Encode: one warp per codec block. Lanes walk the block in element pairs (so an int4 byte is
// written by one lane); pass A reduces max |x + r| as integer bits (__reduce_max_sync), pass B
// re-reads the block (now in L1/L2), quantises with math::blockScale / quantizeScaled / floatToE4M3
// (the CPU's exact operations) and writes codes and residuals. Decode: one element pair per
// thread-iteration.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/device_io.cuh"

namespace isthmus::kernels::cuda::detail::block {

constexpr unsigned kThreads = 256;
constexpr unsigned kWarps = kThreads / 32;

template <int kId>
__device__ __forceinline__ float levelsOf() {
  return kId == static_cast<int>(CodecId::kInt8)   ? 127.0f
         : kId == static_cast<int>(CodecId::kInt4) ? 7.0f
                                                   : math::kE4M3Max;
}

// Code for v (normal block) and its decoded value.
template <int kId>
__device__ __forceinline__ int encodeOne(float v, const math::BlockScale& b, float* decoded) {
  int code;
  float cv;
  if (kId == static_cast<int>(CodecId::kFp8E4M3)) {
    float t = b.useDivide ? math::div(v, b.scale) : math::mul(v, b.inv);
    code = math::floatToE4M3(t);
    cv = math::e4m3ToFloat(static_cast<uint8_t>(code));
  } else {
    cv = math::quantizeScaled(v, b, levelsOf<kId>());
    code = static_cast<int>(cv);
  }
  *decoded = math::mul(cv, b.scale);
  return code;
}

template <int kId>
__device__ __forceinline__ float decodeOne(int code, float scale) {
  float cv = kId == static_cast<int>(CodecId::kFp8E4M3)
                 ? math::e4m3ToFloat(static_cast<uint8_t>(code))
                 : static_cast<float>(code);
  return math::mul(cv, scale);
}

template <int kIn, bool kEf>
__device__ __forceinline__ float valueAt(const void* x, const float* r, size_t i) {
  float v = loadIn<kIn>(x, i);
  return kEf ? math::add(v, r[i]) : v;
}

template <int kId, int kIn, bool kEf>
__global__ void encodeBlockKernel(const void* __restrict__ x, size_t n, float* __restrict__ r,
                                  uint8_t* __restrict__ payload, uint32_t block, uint64_t nb) {
  float* scales = reinterpret_cast<float*>(payload);
  uint8_t* codes = payload + nb * 4;
  const unsigned lane = threadIdx.x & 31;
  const uint64_t stride = uint64_t{gridDim.x} * kWarps;
  for (uint64_t b = uint64_t{blockIdx.x} * kWarps + threadIdx.x / 32; b < nb; b += stride) {
    const size_t from = b * block;
    const size_t to = from + block < n ? from + block : n;
    const size_t pairs = (to - from + 1) / 2;
    uint32_t m = 0;
    for (size_t p = lane; p < pairs; p += 32) {
      size_t i = from + 2 * p;
      uint32_t k0 = math::magnitudeBits(valueAt<kIn, kEf>(x, r, i));
      m = k0 > m ? k0 : m;
      if (i + 1 < to) {
        uint32_t k1 = math::magnitudeBits(valueAt<kIn, kEf>(x, r, i + 1));
        m = k1 > m ? k1 : m;
      }
    }
    m = __reduce_max_sync(0xffffffffu, m);
    const math::BlockScale bs = math::blockScale(math::bitsFloat(m), levelsOf<kId>());
    if (lane == 0) scales[b] = bs.scale;
    const bool normal = math::isFinite(bs.scale) && bs.scale != 0.0f;
    for (size_t p = lane; p < pairs; p += 32) {
      size_t i = from + 2 * p;
      int c[2] = {0, 0};
      for (int e = 0; e < 2; ++e) {
        if (i + e >= to) break;
        float v = valueAt<kIn, kEf>(x, r, i + e);
        float d;
        if (normal) {
          c[e] = encodeOne<kId>(v, bs, &d);
        } else {
          d = math::mul(0.0f, bs.scale);  // 0, or NaN for a non-finite block
        }
        if (kEf) r[i + e] = math::sub(v, d);
        if (kId != static_cast<int>(CodecId::kInt4)) codes[i + e] = static_cast<uint8_t>(c[e]);
      }
      if (kId == static_cast<int>(CodecId::kInt4)) {
        codes[i / 2] = static_cast<uint8_t>((c[0] & 0xf) | ((c[1] & 0xf) << 4));
      }
    }
  }
}

template <int kId, int kMode>
__global__ void decodeBlockKernel(const uint8_t* __restrict__ payload, size_t n, uint32_t block,
                                  uint64_t nb, void* __restrict__ out) {
  const float* scales = reinterpret_cast<const float*>(payload);
  const uint8_t* codes = payload + nb * 4;
  const size_t pairs = (n + 1) / 2;
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t p = size_t{blockIdx.x} * blockDim.x + threadIdx.x; p < pairs; p += stride) {
    const size_t i = 2 * p;
    const float scale = scales[i / block];
    int c0, c1;
    if (kId == static_cast<int>(CodecId::kInt4)) {
      uint8_t byte = codes[p];
      c0 = ((byte & 0xf) ^ 8) - 8;
      c1 = ((byte >> 4) ^ 8) - 8;
    } else if (kId == static_cast<int>(CodecId::kInt8)) {
      c0 = static_cast<int8_t>(codes[i]);
      c1 = i + 1 < n ? static_cast<int8_t>(codes[i + 1]) : 0;
    } else {
      c0 = codes[i];
      c1 = i + 1 < n ? codes[i + 1] : 0;
    }
    storeOut<kMode>(out, i, decodeOne<kId>(c0, scale));
    if (i + 1 < n) storeOut<kMode>(out, i + 1, decodeOne<kId>(c1, scale));
  }
}

}  // namespace isthmus::kernels::cuda::detail::block
