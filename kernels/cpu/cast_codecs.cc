// fp32 / fp16 / bf16 codecs on the CPU: a rounding cast, with error feedback in the same pass.
#include <cstring>

#include "kernels/cpu/simd.h"

namespace isthmus::kernels::cpu {
namespace {

// One element: encode v, return the decoded value.
inline float castOne(CodecId id, float v, uint8_t* payload, size_t i) {
  switch (id) {
    case CodecId::kFp16: {
      uint16_t h = math::floatToHalf(v);
      std::memcpy(payload + 2 * i, &h, 2);
      return math::halfToFloat(h);
    }
    case CodecId::kBf16: {
      uint16_t h = math::floatToBf16(v);
      std::memcpy(payload + 2 * i, &h, 2);
      return math::bf16ToFloat(h);
    }
    default: std::memcpy(payload + 4 * i, &v, 4); return v;
  }
}

inline float uncastOne(CodecId id, const uint8_t* payload, size_t i) {
  uint16_t h;
  switch (id) {
    case CodecId::kFp16: std::memcpy(&h, payload + 2 * i, 2); return math::halfToFloat(h);
    case CodecId::kBf16: std::memcpy(&h, payload + 2 * i, 2); return math::bf16ToFloat(h);
    default: return loadF32(payload + 4 * i);
  }
}

void encodeTail(CodecId id, ConstBufferView x, float* residual, uint8_t* payload, size_t from) {
  for (size_t i = from; i < x.count; ++i) {
    float v = loadOne(x.data, x.dtype, i);
    if (residual) v = v + residual[i];
    float d = castOne(id, v, payload, i);
    if (residual) residual[i] = v - d;
  }
}

#if ISTHMUS_X86_SIMD
template <CodecId kId, DType kIn, bool kEf>
ISTHMUS_TARGET_AVX2 size_t encodeAvx2(const void* x, size_t n, float* residual, uint8_t* payload) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = load8(x, kIn, i);
    if (kEf) v = _mm256_add_ps(v, _mm256_loadu_ps(residual + i));
    __m256 d;
    if (kId == CodecId::kFp16) {
      __m128i h = half8(v);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(payload + 2 * i), h);
      d = _mm256_cvtph_ps(h);
    } else if (kId == CodecId::kBf16) {
      __m256i b = bf16Bits8(v);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(payload + 2 * i), pack16(b));
      d = _mm256_castsi256_ps(_mm256_slli_epi32(b, 16));
    } else {
      _mm256_storeu_ps(reinterpret_cast<float*>(payload + 4 * i), v);
      d = v;
    }
    if (kEf) _mm256_storeu_ps(residual + i, _mm256_sub_ps(v, d));
  }
  return i;
}

template <CodecId kId, DType kIn>
size_t encodeAvx2Ef(const void* x, size_t n, float* residual, uint8_t* payload) {
  return residual ? encodeAvx2<kId, kIn, true>(x, n, residual, payload)
                  : encodeAvx2<kId, kIn, false>(x, n, residual, payload);
}

template <CodecId kId>
size_t encodeAvx2In(ConstBufferView x, float* residual, uint8_t* payload) {
  switch (x.dtype) {
    case DType::kFloat16:
      return encodeAvx2Ef<kId, DType::kFloat16>(x.data, x.count, residual, payload);
    case DType::kBFloat16:
      return encodeAvx2Ef<kId, DType::kBFloat16>(x.data, x.count, residual, payload);
    default: return encodeAvx2Ef<kId, DType::kFloat32>(x.data, x.count, residual, payload);
  }
}

template <CodecId kId>
struct DecodeCastAvx2 {
  const uint8_t* payload;
  size_t n;
  void* out;
  size_t* done;
  template <bool kAcc, DType kOut>
  ISTHMUS_TARGET_AVX2 void run() {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      __m256 v;
      if (kId == CodecId::kFp16) {
        v = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(payload + 2 * i)));
      } else if (kId == CodecId::kBf16) {
        __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(payload + 2 * i));
        v = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
      } else {
        v = _mm256_loadu_ps(reinterpret_cast<const float*>(payload + 4 * i));
      }
      store8<kAcc, kOut>(out, i, v);
    }
    *done = i;
  }
};
#endif

}  // namespace

void encodeCast(CodecId id, ConstBufferView x, float* residual, uint8_t* payload) {
  size_t done = 0;
#if ISTHMUS_X86_SIMD
  if (useAvx2()) {
    switch (id) {
      case CodecId::kFp16: done = encodeAvx2In<CodecId::kFp16>(x, residual, payload); break;
      case CodecId::kBf16: done = encodeAvx2In<CodecId::kBf16>(x, residual, payload); break;
      default: done = encodeAvx2In<CodecId::kFp32>(x, residual, payload); break;
    }
  }
#endif
  encodeTail(id, x, residual, payload, done);
}

void decodeCast(CodecId id, const uint8_t* payload, size_t n, const DecodeTarget& t) {
  size_t done = 0;
#if ISTHMUS_X86_SIMD
  if (useAvx2()) {
    switch (id) {
      case CodecId::kFp16:
        dispatchTarget(t, DecodeCastAvx2<CodecId::kFp16>{payload, n, t.data, &done});
        break;
      case CodecId::kBf16:
        dispatchTarget(t, DecodeCastAvx2<CodecId::kBf16>{payload, n, t.data, &done});
        break;
      default: dispatchTarget(t, DecodeCastAvx2<CodecId::kFp32>{payload, n, t.data, &done}); break;
    }
  }
#endif
  for (size_t i = done; i < n; ++i) storeOne(t, i, uncastOne(id, payload, i));
}

}  // namespace isthmus::kernels::cpu
