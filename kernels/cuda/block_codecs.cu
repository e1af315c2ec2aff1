// Blockwise absmax codecs (int8, int4, fp8 e4m3) on the GPU: the launches (device code and its
// description: kernels/cuda/block_kernels.cuh).
#include "kernels/cuda/block_kernels.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/message_layout.h"

namespace isthmus::kernels::cuda::detail {
namespace {

using block::kThreads;
using block::kWarps;

template <typename F>
void withBlockId(CodecId id, F&& f) {
  switch (id) {
    case CodecId::kInt8: f(std::integral_constant<int, 3>{}); break;
    case CodecId::kInt4: f(std::integral_constant<int, 4>{}); break;
    default: f(std::integral_constant<int, 6>{}); break;
  }
}

}  // namespace

void launchEncodeBlock(CodecId id, uint32_t block, const void* x, DType inType, size_t n,
                       float* residual, uint8_t* payload, cudaStream_t s) {
  if (n == 0) return;
  const uint64_t nb = kernels::detail::numBlocks(n, block);
  const unsigned grid = gridFor(nb, kWarps, 1);
  withBlockId(id, [&](auto kid) {
    withInDType(inType, [&](auto kin) {
      if (residual) {
        block::encodeBlockKernel<kid.value, kin.value, true>
            <<<grid, kThreads, 0, s>>>(x, n, residual, payload, block, nb);
      } else {
        block::encodeBlockKernel<kid.value, kin.value, false>
            <<<grid, kThreads, 0, s>>>(x, n, residual, payload, block, nb);
      }
    });
  });
}

void launchDecodeBlock(CodecId id, uint32_t block, const uint8_t* payload, size_t n, void* out,
                       int mode, cudaStream_t s) {
  if (n == 0) return;
  const uint64_t nb = kernels::detail::numBlocks(n, block);
  const unsigned grid = gridFor((n + 1) / 2, kThreads, 4);
  withBlockId(id, [&](auto kid) {
    withOutMode(mode, [&](auto km) {
      block::decodeBlockKernel<kid.value, km.value>
          <<<grid, kThreads, 0, s>>>(payload, n, block, nb, out);
    });
  });
}

}  // namespace isthmus::kernels::cuda::detail
