// fp32 / fp16 / bf16 codecs on the GPU: one element per thread-iteration, four per thread in
// flight (coalesced scalar loads work for any alignment of a slice).
#include "kernels/cuda/common.cuh"

namespace isthmus::kernels::cuda::detail {
namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kUnroll = 4;

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

template <int kId>
__device__ __forceinline__ float castLoad(const uint8_t* payload, size_t i) {
  if (kId == static_cast<int>(CodecId::kFp16)) {
    return math::halfToFloat(reinterpret_cast<const uint16_t*>(payload)[i]);
  } else if (kId == static_cast<int>(CodecId::kBf16)) {
    return math::bf16ToFloat(reinterpret_cast<const uint16_t*>(payload)[i]);
  } else {
    return reinterpret_cast<const float*>(payload)[i];
  }
}

template <int kId, int kIn, bool kEf>
__global__ void encodeCastKernel(const void* __restrict__ x, size_t n, float* __restrict__ r,
                                 uint8_t* __restrict__ payload) {
  const size_t stride = size_t{gridDim.x} * kThreads * kUnroll;
  for (size_t base = size_t{blockIdx.x} * kThreads * kUnroll + threadIdx.x; base < n;
       base += stride) {
#pragma unroll
    for (unsigned u = 0; u < kUnroll; ++u) {
      size_t i = base + u * kThreads;
      if (i < n) {
        float v = loadIn<kIn>(x, i);
        if (kEf) v = math::add(v, r[i]);
        float d = castStore<kId>(payload, i, v);
        if (kEf) r[i] = math::sub(v, d);
      }
    }
  }
}

template <int kId, int kMode>
__global__ void decodeCastKernel(const uint8_t* __restrict__ payload, size_t n,
                                 void* __restrict__ out) {
  const size_t stride = size_t{gridDim.x} * kThreads * kUnroll;
  for (size_t base = size_t{blockIdx.x} * kThreads * kUnroll + threadIdx.x; base < n;
       base += stride) {
#pragma unroll
    for (unsigned u = 0; u < kUnroll; ++u) {
      size_t i = base + u * kThreads;
      if (i < n) storeOut<kMode>(out, i, castLoad<kId>(payload, i));
    }
  }
}

template <typename F>
void withCastId(CodecId id, F&& f) {
  switch (id) {
    case CodecId::kFp16: f(std::integral_constant<int, 1>{}); break;
    case CodecId::kBf16: f(std::integral_constant<int, 2>{}); break;
    default: f(std::integral_constant<int, 0>{}); break;
  }
}

}  // namespace

void launchEncodeCast(CodecId id, const void* x, DType inType, size_t n, float* residual,
                      uint8_t* payload, cudaStream_t s) {
  if (n == 0) return;
  const unsigned grid = gridFor(n, kThreads, kUnroll);
  withCastId(id, [&](auto kid) {
    withInDType(inType, [&](auto kin) {
      if (residual) {
        encodeCastKernel<kid.value, kin.value, true>
            <<<grid, kThreads, 0, s>>>(x, n, residual, payload);
      } else {
        encodeCastKernel<kid.value, kin.value, false>
            <<<grid, kThreads, 0, s>>>(x, n, residual, payload);
      }
    });
  });
}

void launchDecodeCast(CodecId id, const uint8_t* payload, size_t n, void* out, int mode,
                      cudaStream_t s) {
  if (n == 0) return;
  const unsigned grid = gridFor(n, kThreads, kUnroll);
  withCastId(id, [&](auto kid) {
    withOutMode(mode, [&](auto km) {
      decodeCastKernel<kid.value, km.value><<<grid, kThreads, 0, s>>>(payload, n, out);
    });
  });
}

}  // namespace isthmus::kernels::cuda::detail
