// A bound for top-k's decode-accumulate, measured in the same run as it: the bare scattered
// read-modify-write acc[idx[j]] += val[j] over the same message, launched like the decode (256
// threads, 4 kept elements per thread) but with none of its checks. Bench only.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace {

__global__ void scatterAdd(const uint32_t* __restrict__ idx, const float* __restrict__ val,
                           uint32_t kept, float* __restrict__ acc) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t j = size_t{blockIdx.x} * blockDim.x + threadIdx.x; j < kept; j += stride) {
    acc[idx[j]] += val[j];
  }
}

}  // namespace

void launchScatterBound(const void* payload, uint32_t kept, float* acc, cudaStream_t s) {
  const uint32_t* idx = static_cast<const uint32_t*>(payload);
  const float* val = reinterpret_cast<const float*>(idx + kept);
  size_t blocks = (size_t{kept} + 1023) / 1024;
  if (blocks < 1) blocks = 1;
  if (blocks > 65535u * 32u) blocks = 65535u * 32u;
  scatterAdd<<<static_cast<unsigned>(blocks), 256, 0, s>>>(idx, val, kept, acc);
}
