// fp32 / fp16 / bf16 codecs on the GPU: the launches (device code: kernels/cuda/cast_kernels.cuh).
#include "kernels/cuda/cast_kernels.cuh"
#include "kernels/cuda/common.cuh"

namespace isthmus::kernels::cuda::detail {
namespace {

using cast::kThreads;
using cast::kUnroll;

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
        cast::encodeCastKernel<kid.value, kin.value, true>
            <<<grid, kThreads, 0, s>>>(x, n, residual, payload);
      } else {
        cast::encodeCastKernel<kid.value, kin.value, false>
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
      cast::decodeCastKernel<kid.value, km.value><<<grid, kThreads, 0, s>>>(payload, n, out);
    });
  });
}

}  // namespace isthmus::kernels::cuda::detail
