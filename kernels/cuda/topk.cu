// Top-k on the GPU: the encode's launches (device code: kernels/cuda/topk_kernels.cuh, which also
// describes the algorithm) and the decode.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/topk_kernels.cuh"

namespace isthmus::kernels::cuda::detail {
namespace {

template <int kIn, bool kEf>
Status runTopK(uint32_t kept, const void* x, size_t n, float* r, uint8_t* payload, cudaStream_t s) {
  int dev = 0, sms = 0;
  cudaError_t e = cudaGetDevice(&dev);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  if (e != cudaSuccess) {
    return cudaError("kernels::cuda topk: device query failed: ", cudaGetErrorString(e));
  }
  const topk::Plan p = topk::plan(n, kept, sms);
  void* ws = nullptr;
  e = cudaMallocAsync(&ws, p.bytes, s);
  if (e != cudaSuccess) {
    return cudaError("kernels::cuda topk: cudaMallocAsync(", p.bytes,
                     ") failed: ", cudaGetErrorString(e));
  }
  const topk::SelectArgs a = topk::selectArgs(p, static_cast<uint8_t*>(ws), x, r, n, kept, payload);
  const unsigned g = static_cast<unsigned>(p.grid), t = topk::kThreads;
  topk::sampleKernel<kIn, kEf>
      <<<1, topk::kSampleThreads, 0, s>>>(x, r, p.samples, p.stride, p.rho, a.st);
  topk::fusedCandKernel<kIn, kEf><<<static_cast<unsigned>(p.tiles), t, 0, s>>>(
      x, n, r, a.st, p.capTile, a.candIdx, a.candKey, a.tileCount);
  for (int pass = 0; pass < 3; ++pass) topk::histKernel<kIn, kEf><<<g, t, 0, s>>>(a, pass);
  topk::countKernel<kIn, kEf><<<g, t, 0, s>>>(a);
  topk::writeKernel<kIn, kEf><<<g, t, 0, s>>>(a);
  Status launched = lastLaunch("topk encode");
  cudaFreeAsync(ws, s);
  return launched;
}

}  // namespace

Status launchEncodeTopK(uint32_t kept, const void* x, DType inType, size_t n, float* residual,
                        uint8_t* payload, cudaStream_t s) {
  if (n == 0) return okStatus();
  if (n > (size_t{1} << 32) - 1) {
    return invalidArgumentError("kernels::cuda topk: ", n, " elements is more than u32 indices");
  }
  Status st;
  withInDType(inType, [&](auto kin) {
    st = residual ? runTopK<kin.value, true>(kept, x, n, residual, payload, s)
                  : runTopK<kin.value, false>(kept, x, n, residual, payload, s);
  });
  return st;
}

void launchDecodeTopK(const uint8_t* payload, size_t n, uint32_t kept, void* out, int mode,
                      uint32_t* errorFlag, cudaStream_t s) {
  if (mode != 0 && n > 0) {
    cudaMemsetAsync(out, 0, n * (mode == 1 ? 4 : 2), s);  // +0 in every float format
  }
  if (kept == 0) return;
  const unsigned grid = gridFor(kept, topk::kThreads, 4);
  withOutMode(mode, [&](auto km) {
    topk::decodeTopKKernel<km.value>
        <<<grid, topk::kThreads, 0, s>>>(payload, n, kept, out, errorFlag);
  });
}

}  // namespace isthmus::kernels::cuda::detail
