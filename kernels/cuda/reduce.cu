// kernels/reduce.h on the GPU: fp32 arithmetic, explicitly rounded (no FMA), RNE to 16 bits.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda_codecs.h"

namespace isthmus::kernels::cuda {
namespace {

using detail::loadIn;

constexpr unsigned kThreads = 256;

template <int kT>
__device__ __forceinline__ void storeAs(void* p, size_t i, float v) {
  detail::storeOut<kT == 0 ? 1 : (kT == 1 ? 2 : 3)>(p, i, v);
}

template <int kT>
__global__ void sumKernel(void* dst, const void* src, size_t n) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    storeAs<kT>(dst, i, math::add(loadIn<kT>(dst, i), loadIn<kT>(src, i)));
  }
}

template <int kS, int kD>
__global__ void convertKernel(const void* src, void* dst, size_t n) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    storeAs<kD>(dst, i, loadIn<kS>(src, i));
  }
}

template <int kT>
__global__ void scaleKernel(void* x, size_t n, float f) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    storeAs<kT>(x, i, math::mul(loadIn<kT>(x, i), f));
  }
}

Status checkType(const char* what, DType t) {
  if (!isFloatingPoint(t)) {
    return invalidArgumentError("kernels::cuda::", what, ": dtype ", dtypeName(t),
                                " is not fp32/fp16/bf16");
  }
  return okStatus();
}

}  // namespace

Status sumInto(void* dst, const void* src, size_t n, DType dtype, StreamHandle stream) {
  ISTHMUS_RETURN_IF_ERROR(checkType("sumInto", dtype));
  if (n == 0) return okStatus();
  const unsigned grid = detail::gridFor(n, kThreads);
  detail::withInDType(dtype, [&](auto kt) {
    sumKernel<kt.value><<<grid, kThreads, 0, detail::toStream(stream)>>>(dst, src, n);
  });
  return detail::lastLaunch("sumInto");
}

Status convert(const void* src, DType srcType, void* dst, DType dstType, size_t n,
               StreamHandle stream) {
  ISTHMUS_RETURN_IF_ERROR(checkType("convert", srcType));
  ISTHMUS_RETURN_IF_ERROR(checkType("convert", dstType));
  if (n == 0) return okStatus();
  if (srcType == dstType) {
    cudaError_t e = cudaMemcpyAsync(dst, src, n * dtypeSize(srcType), cudaMemcpyDeviceToDevice,
                                    detail::toStream(stream));
    if (e != cudaSuccess) return cudaError("kernels::cuda::convert: ", cudaGetErrorString(e));
    return okStatus();
  }
  const unsigned grid = detail::gridFor(n, kThreads);
  detail::withInDType(srcType, [&](auto ks) {
    detail::withInDType(dstType, [&](auto kd) {
      convertKernel<ks.value, kd.value>
          <<<grid, kThreads, 0, detail::toStream(stream)>>>(src, dst, n);
    });
  });
  return detail::lastLaunch("convert");
}

Status scale(void* x, size_t n, DType dtype, float factor, StreamHandle stream) {
  ISTHMUS_RETURN_IF_ERROR(checkType("scale", dtype));
  if (n == 0) return okStatus();
  const unsigned grid = detail::gridFor(n, kThreads);
  detail::withInDType(dtype, [&](auto kt) {
    scaleKernel<kt.value><<<grid, kThreads, 0, detail::toStream(stream)>>>(x, n, factor);
  });
  return detail::lastLaunch("scale");
}

}  // namespace isthmus::kernels::cuda
