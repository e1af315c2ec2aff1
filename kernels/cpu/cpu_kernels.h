// Internal interface between the Codec front end (codec.cc) and the per-codec CPU kernels.
//
// Each kernel exists twice: an AVX2/F16C path (chosen at run time when the CPU has it) and a
// portable path built on kernels/codec_math.h. Both give the same bits; the tests force each path
// in turn (setForcePortable) and compare them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/codec.h"
#include "runtime/core/buffer.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ISTHMUS_X86_SIMD 1
#define ISTHMUS_TARGET_AVX2 __attribute__((target("avx2,f16c")))
#else
#define ISTHMUS_X86_SIMD 0
#define ISTHMUS_TARGET_AVX2
#endif

namespace isthmus::kernels::cpu {

// True when the AVX2/F16C paths run (CPU support, and not forced off).
bool useAvx2();
// Tests: force the portable paths even where AVX2 is available.
void setForcePortable(bool force);

// Where decoded fp32 values go: acc += v (accumulate, fp32 only) or out = v (fp32/fp16/bf16).
struct DecodeTarget {
  void* data;
  DType dtype;
  bool accumulate;
};

// Encoders write the payload (after the header). residual == nullptr: plain encode.
void encodeCast(CodecId id, ConstBufferView x, float* residual, uint8_t* payload);
void encodeBlock(CodecId id, uint32_t block, ConstBufferView x, float* residual, uint8_t* payload);
void encodeTopK(uint32_t kept, ConstBufferView x, float* residual, uint8_t* payload);

// Decoders read a payload whose size inspect() has checked.
void decodeCast(CodecId id, const uint8_t* payload, size_t n, const DecodeTarget& t);
void decodeBlock(CodecId id, uint32_t block, const uint8_t* payload, size_t n,
                 const DecodeTarget& t);
// Top-k: the caller validated the indices with topkIndicesValid first.
bool topkIndicesValid(const uint8_t* payload, size_t n, uint32_t kept);
void decodeTopK(const uint8_t* payload, size_t n, uint32_t kept, const DecodeTarget& t);

}  // namespace isthmus::kernels::cpu
