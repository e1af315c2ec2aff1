// Scalar codec arithmetic shared by the CPU and CUDA implementations (internal header).
//
// Bit-identical CPU/GPU results come from doing the same IEEE operations in the same order on both
// sides: every product and sum here is a separate, correctly rounded fp32 operation (the kernels
// are compiled with -ffp-contract=off on the host; on the device these helpers use __fmul_rn /
// __fadd_rn, which nvcc never contracts), divisions are IEEE divisions (no fast-math), and integer
// rounding is round-to-nearest-even. The SIMD CPU paths must give the same bits as these helpers;
// the unit tests compare them element by element.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define ISTHMUS_HD __host__ __device__ __forceinline__
#else
#define ISTHMUS_HD inline
#endif

namespace isthmus::kernels::math {

ISTHMUS_HD uint32_t floatBits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

ISTHMUS_HD float bitsFloat(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

ISTHMUS_HD float mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

ISTHMUS_HD float add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

ISTHMUS_HD float sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

ISTHMUS_HD float div(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

// |f| as bits. As unsigned integers these order every NaN above +Inf above every finite value:
// the key of top-k's selection and of the block codecs' absmax.
ISTHMUS_HD uint32_t magnitudeBits(float f) { return floatBits(f) & 0x7fffffffu; }

ISTHMUS_HD bool isFinite(float f) { return (floatBits(f) & 0x7f800000u) != 0x7f800000u; }
ISTHMUS_HD bool isNan(float f) { return magnitudeBits(f) > 0x7f800000u; }
ISTHMUS_HD float absf(float f) { return bitsFloat(magnitudeBits(f)); }
ISTHMUS_HD float quietNan() { return bitsFloat(0x7fc00000u); }

// Round to nearest, ties to even, for |x| < 2^22 (all callers clamp first).
ISTHMUS_HD float roundEven(float x) {
  // Adding and subtracting 1.5 * 2^23 rounds to an integer in the current (nearest-even) mode.
  const float kMagic = 12582912.0f;
  return sub(add(x, kMagic), kMagic);
}

// ---- fp16 ------------------------------------------------------------------------------------
// IEEE binary16 from fp32, round-to-nearest-even, overflow -> Inf, NaN -> quiet NaN keeping the
// top payload bits (what x86 F16C vcvtps2ph does).
ISTHMUS_HD uint16_t floatToHalf(float f) {
#if defined(__CUDA_ARCH__)
  // The hardware conversion rounds the same way; only NaN payload bits may differ.
  return __half_as_ushort(__float2half_rn(f));
#else
  uint32_t u = floatBits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: Inf
  if (a >= 0x38800000u) {                                              // normal half
    uint32_t r = a + 0x0fffu + ((a >> 13) & 1u);
    return static_cast<uint16_t>(sign | ((r - 0x38000000u) >> 13));
  }
  // Subnormal half (or zero): value = a_float * 2^24 rounded to an integer count of 2^-24.
  float mag = bitsFloat(a);
  float scaled = mul(mag, 16777216.0f);  // exact: power of two, result < 1024
  return static_cast<uint16_t>(sign | static_cast<uint32_t>(roundEven(scaled)));
#endif
}

ISTHMUS_HD float halfToFloat(uint16_t h) {
#if defined(__CUDA_ARCH__)
  return __half2float(__ushort_as_half(h));  // exact; NaN payload bits may differ
#else
  uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu;
  uint32_t m = h & 0x3ffu;
  // NaN comes out quiet (as F16C's vcvtph2ps does), Inf stays Inf.
  if (e == 0x1f) return bitsFloat(sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0u));
  if (e == 0) {
    float v = mul(static_cast<float>(m), 5.9604644775390625e-08f);  // m * 2^-24, exact
    return bitsFloat(sign | floatBits(v));
  }
  return bitsFloat(sign | ((e + 112u) << 23) | (m << 13));
#endif
}

// ---- bf16 ------------------------------------------------------------------------------------
ISTHMUS_HD uint16_t floatToBf16(float f) {
  uint32_t u = floatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  uint32_t r = u + 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(r >> 16);
}

ISTHMUS_HD float bf16ToFloat(uint16_t h) { return bitsFloat(static_cast<uint32_t>(h) << 16); }

// ---- fp8 e4m3 (OCP "FN": bias 7, max 448, no Inf, NaN = S.1111.111) ----------------------------
inline constexpr float kE4M3Max = 448.0f;

// Saturating conversion of a finite value (the caller handles non-finite blocks).
ISTHMUS_HD uint8_t floatToE4M3(float f) {
  uint32_t u = floatBits(f);
  uint32_t sign = (u >> 24) & 0x80u;
  uint32_t a = u & 0x7fffffffu;
  uint32_t code;
  if (a >= 0x43e00000u) {  // >= 448
    code = 0x7eu;
  } else if (a < 0x3c800000u) {  // < 2^-6: subnormal, count of 2^-9 (8 = min normal)
    code = static_cast<uint32_t>(roundEven(mul(bitsFloat(a), 512.0f)));
  } else {
    uint32_t r = a + 0x7ffffu + ((a >> 20) & 1u);
    code = (r >> 20) - (120u << 3);
    if (code > 0x7eu) code = 0x7eu;
  }
  return static_cast<uint8_t>(sign | code);
}

ISTHMUS_HD float e4m3ToFloat(uint8_t c) {
  uint32_t sign = (static_cast<uint32_t>(c) & 0x80u) << 24;
  uint32_t e = (c >> 3) & 0xfu;
  uint32_t m = c & 7u;
  if (e == 0xf && m == 7) return bitsFloat(sign | 0x7fc00000u);
  if (e == 0) return bitsFloat(sign | floatBits(mul(static_cast<float>(m), 0.001953125f)));
  return bitsFloat(sign | ((e + 120u) << 23) | (m << 20));
}

// ---- Blockwise absmax scales -------------------------------------------------------------------
// Per block: scale s stored in the message, and the multiplier used to quantise.
struct BlockScale {
  float scale;     // decode: value = q * scale (NaN for a non-finite block, 0 for an all-zero one)
  float inv;       // encode: q = rne(clamp(v * inv)) when useDivide is false
  bool useDivide;  // tiny blocks whose inverse overflows: q = rne(clamp(v / scale))
};

// `levels` is the largest code (127 for int8, 7 for int4, 448 for e4m3). absmax is the block's
// max |v|, or NaN/Inf if the block holds a non-finite value.
ISTHMUS_HD BlockScale blockScale(float absmax, float levels) {
  BlockScale b;
  b.useDivide = false;
  if (!isFinite(absmax)) {
    b.scale = quietNan();
    b.inv = 0.0f;
    return b;
  }
  b.scale = div(absmax, levels);
  if (b.scale == 0.0f) {  // zero block, or so tiny that absmax/levels underflows: decodes as 0
    b.inv = 0.0f;
    return b;
  }
  b.inv = div(levels, absmax);
  if (!isFinite(b.inv)) b.useDivide = true;
  return b;
}

// Integer code for v in a block (finite scale != 0), in [-levels, levels].
ISTHMUS_HD float quantizeScaled(float v, const BlockScale& b, float levels) {
  float t = b.useDivide ? div(v, b.scale) : mul(v, b.inv);
  t = t > levels ? levels : (t < -levels ? -levels : t);
  return roundEven(t);
}

}  // namespace isthmus::kernels::math
