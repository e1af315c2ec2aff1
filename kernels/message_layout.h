// Where each codec's payload lives inside a message (internal: CPU and CUDA implementations).
//
// Payloads follow the 32-byte header:
//   fp32/fp16/bf16: n values.
//   int8/fp8:       numBlocks fp32 scales, then n one-byte codes.
//   int4:           numBlocks fp32 scales, then ceil(n/2) bytes, element 2i in the low nibble of
//                   byte i, 2i+1 in the high nibble (two's complement, codes -7..7).
//   topk:           kept u32 indices (strictly increasing, < n), then kept fp32 values.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/codec.h"

namespace isthmus::kernels::detail {

inline uint64_t numBlocks(uint64_t n, uint64_t block) {
  return block ? (n + block - 1) / block : 0;
}

// Elements kept by top-k for n elements: ceil(fraction * n) clamped to [1, n] (0 when n == 0).
uint64_t topkKept(double fraction, uint64_t n);
bool payloadBytesFor(CodecId id, uint64_t n, uint32_t block, uint32_t kept, uint64_t* bytes);
// Writes the 32-byte header for info (info.payloadBytes must be consistent).
void writeHeader(const MessageInfo& info, void* out);

struct BlockPayload {
  float* scales;
  uint8_t* codes;
};
inline BlockPayload blockPayload(void* msg, uint64_t n, uint32_t block) {
  uint8_t* p = static_cast<uint8_t*>(msg) + kMessageHeaderBytes;
  return {reinterpret_cast<float*>(p), p + numBlocks(n, block) * 4};
}

}  // namespace isthmus::kernels::detail
