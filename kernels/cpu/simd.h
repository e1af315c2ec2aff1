// Element access helpers for the CPU kernels (internal): load inputs as fp32 and store decoded
// fp32 values into a DecodeTarget, one element (portable) or eight (AVX2/F16C) at a time.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/codec_math.h"
#include "kernels/cpu/cpu_kernels.h"

#if ISTHMUS_X86_SIMD
#include <immintrin.h>
#endif

namespace isthmus::kernels::cpu {

inline float loadOne(const void* p, DType t, size_t i) {
  switch (t) {
    case DType::kFloat16: return math::halfToFloat(static_cast<const uint16_t*>(p)[i]);
    case DType::kBFloat16: return math::bf16ToFloat(static_cast<const uint16_t*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

inline void storeOne(const DecodeTarget& t, size_t i, float v) {
  if (t.accumulate) {
    float* a = static_cast<float*>(t.data);
    a[i] = a[i] + v;
    return;
  }
  switch (t.dtype) {
    case DType::kFloat16: static_cast<uint16_t*>(t.data)[i] = math::floatToHalf(v); break;
    case DType::kBFloat16: static_cast<uint16_t*>(t.data)[i] = math::floatToBf16(v); break;
    default: static_cast<float*>(t.data)[i] = v; break;
  }
}

inline float loadF32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}
inline uint32_t loadU32(const uint8_t* p) {
  uint32_t u;
  std::memcpy(&u, p, 4);
  return u;
}

#if ISTHMUS_X86_SIMD

ISTHMUS_TARGET_AVX2 inline __m256 load8(const void* p, DType t, size_t i) {
  switch (t) {
    case DType::kFloat16:
      return _mm256_cvtph_ps(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i)));
    case DType::kBFloat16: {
      __m128i h =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i));
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    default: return _mm256_loadu_ps(static_cast<const float*>(p) + i);
  }
}

// fp32 -> bf16 bits in the low 16 bits of each 32-bit lane (round to nearest even, NaN quieted).
ISTHMUS_TARGET_AVX2 inline __m256i bf16Bits8(__m256 v) {
  __m256i u = _mm256_castps_si256(v);
  __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  __m256i r =
      _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
  __m256i q = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  return _mm256_blendv_epi8(r, q, nan);
}

// Packs the low 16 bits of eight 32-bit lanes into 128 bits, in order.
ISTHMUS_TARGET_AVX2 inline __m128i pack16(__m256i x) {
  __m256i p = _mm256_packus_epi32(x, x);  // lanes: [0..3 0..3 | 4..7 4..7]
  p = _mm256_permute4x64_epi64(p, 0x08);
  return _mm256_castsi256_si128(p);
}

ISTHMUS_TARGET_AVX2 inline __m128i half8(__m256 v) {
  return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

template <bool kAccumulate, DType kOut>
ISTHMUS_TARGET_AVX2 inline void store8(void* data, size_t i, __m256 v) {
  if (kAccumulate) {
    float* a = static_cast<float*>(data) + i;
    _mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), v));
  } else if (kOut == DType::kFloat16) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(data) + i), half8(v));
  } else if (kOut == DType::kBFloat16) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(data) + i),
                     pack16(bf16Bits8(v)));
  } else {
    _mm256_storeu_ps(static_cast<float*>(data) + i, v);
  }
}

// Calls f.template operator()<kAccumulate, kOut>() for the target's (accumulate, dtype).
template <typename F>
void dispatchTarget(const DecodeTarget& t, F&& f) {
  if (t.accumulate) return f.template run<true, DType::kFloat32>();
  switch (t.dtype) {
    case DType::kFloat16: return f.template run<false, DType::kFloat16>();
    case DType::kBFloat16: return f.template run<false, DType::kBFloat16>();
    default: return f.template run<false, DType::kFloat32>();
  }
}

#endif  // ISTHMUS_X86_SIMD

}  // namespace isthmus::kernels::cpu
