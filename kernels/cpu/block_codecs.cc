// Blockwise absmax codecs on the CPU: int8, int4 (two codes a byte) and fp8 e4m3.
//
// Per block: pass A finds max |x + r| (as integer bits, so NaN/Inf are seen), pass B quantises
// and updates the residual. A block of 256 fp32 inputs plus residuals is 2 KiB, so pass B reads
// from L1 and memory sees each byte once. Special blocks (non-finite, zero, or so tiny that the
// inverse scale overflows) take the scalar path on every build, which keeps SIMD and portable
// results identical.
#include <cstring>

#include "kernels/cpu/simd.h"
#include "kernels/message_layout.h"

namespace isthmus::kernels::cpu {
namespace {

float levelsOf(CodecId id) {
  return id == CodecId::kInt8 ? 127.0f : (id == CodecId::kInt4 ? 7.0f : math::kE4M3Max);
}

struct E4M3Table {
  float v[256];
  E4M3Table() {
    for (int c = 0; c < 256; ++c) v[c] = math::e4m3ToFloat(static_cast<uint8_t>(c));
  }
};
const E4M3Table& e4m3Table() {
  static const E4M3Table t;
  return t;
}

// Code of element i (relative to the payload's code area) as a signed integer / fp8 byte.
inline int codeAt(CodecId id, const uint8_t* codes, size_t i) {
  if (id == CodecId::kInt4) {
    int nib = (codes[i / 2] >> ((i & 1) * 4)) & 0xf;
    return (nib ^ 8) - 8;
  }
  if (id == CodecId::kInt8) return static_cast<int8_t>(codes[i]);
  return codes[i];
}

inline float codeValue(CodecId id, int code) {
  return id == CodecId::kFp8E4M3 ? e4m3Table().v[code & 0xff] : static_cast<float>(code);
}

inline void putCode(CodecId id, uint8_t* codes, size_t i, int code) {
  if (id == CodecId::kInt4) {
    uint8_t nib = static_cast<uint8_t>(code & 0xf);
    if (i & 1) {
      codes[i / 2] = static_cast<uint8_t>((codes[i / 2] & 0x0f) | (nib << 4));
    } else {
      codes[i / 2] = nib;  // low nibble first: the high nibble is written next (or stays 0)
    }
  } else {
    codes[i] = static_cast<uint8_t>(code);
  }
}

// Encodes elements [from, to) of one block with its scale, portable arithmetic.
void encodeRangeScalar(CodecId id, const math::BlockScale& b, ConstBufferView x, float* residual,
                       uint8_t* codes, size_t from, size_t to) {
  const float levels = levelsOf(id);
  const bool normal = math::isFinite(b.scale) && b.scale != 0.0f;
  for (size_t i = from; i < to; ++i) {
    float v = loadOne(x.data, x.dtype, i);
    if (residual) v = v + residual[i];
    int code = 0;
    if (normal) {
      if (id == CodecId::kFp8E4M3) {
        float t = b.useDivide ? math::div(v, b.scale) : v * b.inv;
        code = math::floatToE4M3(t);
      } else {
        code = static_cast<int>(math::quantizeScaled(v, b, levels));
      }
    }
    putCode(id, codes, i, code);
    if (residual) residual[i] = v - codeValue(id, code) * b.scale;
  }
}

float blockAbsmaxScalar(ConstBufferView x, const float* residual, size_t from, size_t to) {
  uint32_t m = 0;
  for (size_t i = from; i < to; ++i) {
    float v = loadOne(x.data, x.dtype, i);
    if (residual) v = v + residual[i];
    uint32_t a = math::magnitudeBits(v);
    m = a > m ? a : m;
  }
  return math::bitsFloat(m);
}

#if ISTHMUS_X86_SIMD

ISTHMUS_TARGET_AVX2 inline __m256i e4m3Codes8(__m256 t) {
  __m256i u = _mm256_castps_si256(t);
  __m256i a = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
  __m256i sign = _mm256_and_si256(_mm256_srli_epi32(u, 24), _mm256_set1_epi32(0x80));
  __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(a, 20), _mm256_set1_epi32(1));
  __m256i r = _mm256_add_epi32(_mm256_add_epi32(a, _mm256_set1_epi32(0x7ffff)), lsb);
  __m256i normal = _mm256_sub_epi32(_mm256_srli_epi32(r, 20), _mm256_set1_epi32(120 << 3));
  normal = _mm256_min_epi32(normal, _mm256_set1_epi32(0x7e));
  __m256 sub = _mm256_mul_ps(_mm256_castsi256_ps(a), _mm256_set1_ps(512.0f));
  __m256i subCode =
      _mm256_cvtps_epi32(_mm256_round_ps(sub, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  __m256i isSub = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x3c800000), a);
  return _mm256_or_si256(sign, _mm256_blendv_epi8(normal, subCode, isSub));
}

// The value e4m3Codes8(t) decodes to (e4m3ToFloat), computed from t without a table: the same
// mantissa rounding, kept in float bits. t is already clamped to [-448, 448].
ISTHMUS_TARGET_AVX2 inline __m256 e4m3Rounded8(__m256 t) {
  __m256i u = _mm256_castps_si256(t);
  __m256i a = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
  __m256i sign = _mm256_andnot_si256(_mm256_set1_epi32(0x7fffffff), u);
  __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(a, 20), _mm256_set1_epi32(1));
  __m256i r = _mm256_add_epi32(_mm256_add_epi32(a, _mm256_set1_epi32(0x7ffff)), lsb);
  __m256i normal = _mm256_and_si256(r, _mm256_set1_epi32(static_cast<int>(0xfff00000u)));
  __m256 sub = _mm256_round_ps(_mm256_mul_ps(_mm256_castsi256_ps(a), _mm256_set1_ps(512.0f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  sub = _mm256_mul_ps(sub, _mm256_set1_ps(0.001953125f));
  __m256i isSub = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x3c800000), a);
  __m256i mag = _mm256_blendv_epi8(normal, _mm256_castps_si256(sub), isSub);
  return _mm256_castsi256_ps(_mm256_or_si256(mag, sign));
}

// e4m3ToFloat for eight codes (zero-extended to 32-bit lanes).
ISTHMUS_TARGET_AVX2 inline __m256 e4m3Decode8(__m256i c) {
  __m256i sign = _mm256_slli_epi32(_mm256_and_si256(c, _mm256_set1_epi32(0x80)), 24);
  __m256i e = _mm256_and_si256(_mm256_srli_epi32(c, 3), _mm256_set1_epi32(0xf));
  __m256i m = _mm256_and_si256(c, _mm256_set1_epi32(7));
  __m256i normal = _mm256_or_si256(
      _mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(120)), 23), _mm256_slli_epi32(m, 20));
  __m256 sub = _mm256_mul_ps(_mm256_cvtepi32_ps(m), _mm256_set1_ps(0.001953125f));
  __m256i isSub = _mm256_cmpeq_epi32(e, _mm256_setzero_si256());
  __m256i mag = _mm256_blendv_epi8(normal, _mm256_castps_si256(sub), isSub);
  __m256i isNan =
      _mm256_cmpeq_epi32(_mm256_and_si256(c, _mm256_set1_epi32(0x7f)), _mm256_set1_epi32(0x7f));
  mag = _mm256_blendv_epi8(mag, _mm256_set1_epi32(0x7fc00000), isNan);
  return _mm256_castsi256_ps(_mm256_or_si256(mag, sign));
}

template <CodecId kId, DType kIn, bool kEf>
struct BlockAvx2 {
  ISTHMUS_TARGET_AVX2 static float absmax(const void* x, const float* residual, size_t from,
                                          size_t to) {
    __m256i m = _mm256_setzero_si256();
    const __m256i mask = _mm256_set1_epi32(0x7fffffff);
    for (size_t i = from; i < to; i += 8) {
      __m256 v = load8(x, kIn, i);
      if (kEf) v = _mm256_add_ps(v, _mm256_loadu_ps(residual + i));
      m = _mm256_max_epi32(m, _mm256_and_si256(_mm256_castps_si256(v), mask));
    }
    __m128i h = _mm_max_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    h = _mm_max_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_max_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return math::bitsFloat(static_cast<uint32_t>(_mm_cvtsi128_si32(h)));
  }

  // Normal block (finite inverse): [from, to), to - from a multiple of 8, from a multiple of 8.
  ISTHMUS_TARGET_AVX2 static void quantize(const void* x, float* residual, uint8_t* codes,
                                           size_t from, size_t to, float inv, float scale) {
    const float levels = kId == CodecId::kInt8 ? 127.0f : (kId == CodecId::kInt4 ? 7.0f : 448.0f);
    const __m256 vinv = _mm256_set1_ps(inv), vscale = _mm256_set1_ps(scale);
    const __m256 hi = _mm256_set1_ps(levels), lo = _mm256_set1_ps(-levels);
    for (size_t i = from; i < to; i += 8) {
      __m256 v = load8(x, kIn, i);
      if (kEf) v = _mm256_add_ps(v, _mm256_loadu_ps(residual + i));
      __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v, vinv), lo), hi);
      __m256 d;
      if (kId == CodecId::kFp8E4M3) {
        __m256i c = e4m3Codes8(t);
        __m128i c16 = _mm_packus_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(codes + i), _mm_packus_epi16(c16, c16));
        if (kEf) d = _mm256_mul_ps(e4m3Rounded8(t), vscale);
      } else {
        __m256 q = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256i qi = _mm256_cvtps_epi32(q);
        __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(qi), _mm256_extracti128_si256(qi, 1));
        if (kId == CodecId::kInt8) {
          _mm_storel_epi64(reinterpret_cast<__m128i*>(codes + i), _mm_packs_epi16(q16, q16));
        } else {
          // 32-bit lanes hold (q[2j], q[2j+1]) as int16: byte j = lo nibble | hi nibble << 4.
          __m128i b = _mm_or_si128(_mm_and_si128(q16, _mm_set1_epi32(0xf)),
                                   _mm_and_si128(_mm_srli_epi32(q16, 12), _mm_set1_epi32(0xf0)));
          b = _mm_packus_epi16(_mm_packus_epi32(b, b), b);
          int32_t four = _mm_cvtsi128_si32(b);
          std::memcpy(codes + i / 2, &four, 4);
        }
        // From the integer, so a code of 0 decodes as +0 (round_ps keeps -0), as everywhere else.
        if (kEf) d = _mm256_mul_ps(_mm256_cvtepi32_ps(qi), vscale);
      }
      if (kEf) _mm256_storeu_ps(residual + i, _mm256_sub_ps(v, d));
    }
  }
};

template <CodecId kId, DType kIn, bool kEf>
ISTHMUS_TARGET_AVX2 void encodeBlocksAvx2(uint32_t block, ConstBufferView x, float* residual,
                                          uint8_t* payload) {
  using K = BlockAvx2<kId, kIn, kEf>;
  const size_t n = x.count;
  const uint64_t nb = detail::numBlocks(n, block);
  uint8_t* codes = payload + nb * 4;
  const float levels = levelsOf(kId);
  for (uint64_t bi = 0; bi < nb; ++bi) {
    const size_t from = bi * block;
    const bool full = from + block <= n;
    const size_t to = full ? from + block : n;
    const size_t vecTo = full ? to : from + ((to - from) & ~size_t{7});
    uint32_t m = math::floatBits(K::absmax(x.data, residual, from, vecTo));
    if (!full) {
      uint32_t t = math::floatBits(blockAbsmaxScalar(x, residual, vecTo, to));
      m = m > t ? m : t;
    }
    if (m < 0x7f800000u) {
      // Finite block: scale and inverse with one division instruction (both lanes IEEE-exact,
      // the same values math::blockScale computes).
      const float absmax = math::bitsFloat(m);
      __m128 q = _mm_div_ps(_mm_setr_ps(absmax, levels, 0.0f, 0.0f),
                            _mm_setr_ps(levels, absmax, 1.0f, 1.0f));
      const float scale = _mm_cvtss_f32(q);
      const float inv = _mm_cvtss_f32(_mm_shuffle_ps(q, q, 1));
      if (scale != 0.0f && math::isFinite(inv)) {
        std::memcpy(payload + bi * 4, &scale, 4);
        K::quantize(x.data, residual, codes, from, vecTo, inv, scale);
        if (!full) {
          math::BlockScale b{scale, inv, false};
          encodeRangeScalar(kId, b, x, residual, codes, vecTo, to);
        }
        continue;
      }
    }
    // Special blocks (zero, tiny, non-finite): the portable path, on every build.
    math::BlockScale b = math::blockScale(math::bitsFloat(m), levels);
    std::memcpy(payload + bi * 4, &b.scale, 4);
    encodeRangeScalar(kId, b, x, residual, codes, from, to);
  }
}

template <CodecId kId, DType kIn>
void encodeBlocksAvx2Ef(uint32_t block, ConstBufferView x, float* residual, uint8_t* payload) {
  if (residual) return encodeBlocksAvx2<kId, kIn, true>(block, x, residual, payload);
  encodeBlocksAvx2<kId, kIn, false>(block, x, residual, payload);
}

template <CodecId kId>
void encodeBlocksAvx2In(uint32_t block, ConstBufferView x, float* residual, uint8_t* payload) {
  switch (x.dtype) {
    case DType::kFloat16:
      return encodeBlocksAvx2Ef<kId, DType::kFloat16>(block, x, residual, payload);
    case DType::kBFloat16:
      return encodeBlocksAvx2Ef<kId, DType::kBFloat16>(block, x, residual, payload);
    default: return encodeBlocksAvx2Ef<kId, DType::kFloat32>(block, x, residual, payload);
  }
}

template <CodecId kId>
struct DecodeBlocksAvx2 {
  uint32_t block;
  const uint8_t* payload;
  size_t n;
  void* out;
  template <bool kAcc, DType kOut>
  ISTHMUS_TARGET_AVX2 void run() {
    const uint64_t nb = detail::numBlocks(n, block);
    const uint8_t* codes = payload + nb * 4;
    const __m128i eight = _mm_set1_epi8(8), low = _mm_set1_epi8(0x0f);
    for (uint64_t bi = 0; bi < nb; ++bi) {
      size_t from = bi * block, to = from + block < n ? from + block : n;
      size_t vecTo = from + ((to - from) & ~size_t{7});
      float scale = loadF32(payload + bi * 4);
      const __m256 vscale = _mm256_set1_ps(scale);
      for (size_t i = from; i < vecTo; i += 8) {
        __m256 c;
        if (kId == CodecId::kInt8) {
          __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + i));
          c = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
        } else if (kId == CodecId::kInt4) {
          int32_t four;
          std::memcpy(&four, codes + i / 2, 4);
          __m128i b = _mm_cvtsi32_si128(four);
          __m128i lo = _mm_and_si128(b, low);
          __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), low);
          __m128i v = _mm_unpacklo_epi8(lo, hi);
          v = _mm_sub_epi8(_mm_xor_si128(v, eight), eight);
          c = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
        } else {
          __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + i));
          c = e4m3Decode8(_mm256_cvtepu8_epi32(b));
        }
        store8<kAcc, kOut>(out, i, _mm256_mul_ps(c, vscale));
      }
      DecodeTarget t{out, kOut, kAcc};
      for (size_t i = vecTo; i < to; ++i) {
        storeOne(t, i, codeValue(kId, codeAt(kId, codes, i)) * scale);
      }
    }
  }
};

#endif  // ISTHMUS_X86_SIMD

}  // namespace

void encodeBlock(CodecId id, uint32_t block, ConstBufferView x, float* residual, uint8_t* payload) {
#if ISTHMUS_X86_SIMD
  if (useAvx2()) {
    switch (id) {
      case CodecId::kInt8: return encodeBlocksAvx2In<CodecId::kInt8>(block, x, residual, payload);
      case CodecId::kInt4: return encodeBlocksAvx2In<CodecId::kInt4>(block, x, residual, payload);
      default: return encodeBlocksAvx2In<CodecId::kFp8E4M3>(block, x, residual, payload);
    }
  }
#endif
  const size_t n = x.count;
  const uint64_t nb = detail::numBlocks(n, block);
  uint8_t* codes = payload + nb * 4;
  for (uint64_t bi = 0; bi < nb; ++bi) {
    size_t from = bi * block, to = from + block < n ? from + block : n;
    math::BlockScale b = math::blockScale(blockAbsmaxScalar(x, residual, from, to), levelsOf(id));
    std::memcpy(payload + bi * 4, &b.scale, 4);
    encodeRangeScalar(id, b, x, residual, codes, from, to);
  }
}

void decodeBlock(CodecId id, uint32_t block, const uint8_t* payload, size_t n,
                 const DecodeTarget& t) {
#if ISTHMUS_X86_SIMD
  if (useAvx2()) {
    switch (id) {
      case CodecId::kInt8:
        return dispatchTarget(t, DecodeBlocksAvx2<CodecId::kInt8>{block, payload, n, t.data});
      case CodecId::kInt4:
        return dispatchTarget(t, DecodeBlocksAvx2<CodecId::kInt4>{block, payload, n, t.data});
      default:
        return dispatchTarget(t, DecodeBlocksAvx2<CodecId::kFp8E4M3>{block, payload, n, t.data});
    }
  }
#endif
  const uint64_t nb = detail::numBlocks(n, block);
  const uint8_t* codes = payload + nb * 4;
  for (uint64_t bi = 0; bi < nb; ++bi) {
    size_t from = bi * block, to = from + block < n ? from + block : n;
    float scale = loadF32(payload + bi * 4);
    for (size_t i = from; i < to; ++i) storeOne(t, i, codeValue(id, codeAt(id, codes, i)) * scale);
  }
}

}  // namespace isthmus::kernels::cpu
