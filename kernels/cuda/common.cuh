// Shared device helpers for the CUDA codecs (internal).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/codec.h"
#include "kernels/codec_math.h"
#include "kernels/cuda/device_io.cuh"
#include "runtime/core/status.h"

namespace isthmus::kernels::cuda::detail {

inline cudaStream_t toStream(StreamHandle s) { return static_cast<cudaStream_t>(s); }

// Status for the last launch on this thread (launch errors are reported synchronously).
inline Status lastLaunch(const char* what) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    return cudaError("kernels::cuda::", what, ": launch failed: ", cudaGetErrorString(e));
  }
  return okStatus();
}

inline unsigned gridFor(uint64_t work, unsigned threads, unsigned perThread = 4) {
  uint64_t blocks = (work + uint64_t{threads} * perThread - 1) / (uint64_t{threads} * perThread);
  if (blocks < 1) blocks = 1;
  if (blocks > 65535u * 32u) blocks = 65535u * 32u;  // grid-stride loops cover the rest
  return static_cast<unsigned>(blocks);
}

// Launchers, one file each. payload = msg + header; n elements; all on `s`.
void launchEncodeCast(CodecId id, const void* x, DType inType, size_t n, float* residual,
                      uint8_t* payload, cudaStream_t s);
void launchDecodeCast(CodecId id, const uint8_t* payload, size_t n, void* out, int mode,
                      cudaStream_t s);
void launchEncodeBlock(CodecId id, uint32_t block, const void* x, DType inType, size_t n,
                       float* residual, uint8_t* payload, cudaStream_t s);
void launchDecodeBlock(CodecId id, uint32_t block, const uint8_t* payload, size_t n, void* out,
                       int mode, cudaStream_t s);
Status launchEncodeTopK(uint32_t kept, const void* x, DType inType, size_t n, float* residual,
                        uint8_t* payload, cudaStream_t s);
void launchDecodeTopK(const uint8_t* payload, size_t n, uint32_t kept, void* out, int mode,
                      uint32_t* errorFlag, cudaStream_t s);

}  // namespace isthmus::kernels::cuda::detail
