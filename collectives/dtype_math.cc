#include "collectives/dtype_math.h"

#include <cstring>

namespace isthmus::coll {

namespace {
uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float floatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return floatOf(sign | 0x7F800000u | (mant << 13));  // Inf / NaN
  if (exp == 0) {
    if (mant == 0) return floatOf(sign);
    // Subnormal: value = mant * 2^-24.
    float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  return floatOf(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t floatToHalf(float f) {
  uint32_t x = bitsOf(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t absx = x & 0x7FFFFFFFu;
  if (absx >= 0x7F800000u) {  // Inf or NaN (NaN stays NaN: quiet bit set)
    return static_cast<uint16_t>(sign | 0x7C00u | (absx > 0x7F800000u ? 0x200u : 0u));
  }
  if (absx >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds to Inf
  if (absx < 0x38800000u) {                                               // subnormal or zero
    // Scale so that the fp16 subnormal unit (2^-24) is 1, then round to nearest even.
    float a = floatOf(absx) * 16777216.0f;
    uint32_t q = static_cast<uint32_t>(a);
    float rem = a - static_cast<float>(q);
    if (rem > 0.5f || (rem == 0.5f && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t mant = absx & 0x7FFFFFu;
  uint32_t exp = (absx >> 23) - 112;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: fine
  return static_cast<uint16_t>(sign | h);
}

float bf16ToFloat(uint16_t b) { return floatOf(static_cast<uint32_t>(b) << 16); }

uint16_t floatToBf16(float f) {
  uint32_t x = bitsOf(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7FFFu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

void toFloat(ConstBufferView in, float* out) {
  switch (in.dtype) {
    case DType::kFloat32:
      if (static_cast<const void*>(out) != in.data) std::memcpy(out, in.data, in.count * 4);
      return;
    case DType::kFloat16: {
      auto* p = static_cast<const uint16_t*>(in.data);
      for (size_t i = 0; i < in.count; ++i) out[i] = halfToFloat(p[i]);
      return;
    }
    case DType::kBFloat16: {
      auto* p = static_cast<const uint16_t*>(in.data);
      for (size_t i = 0; i < in.count; ++i) out[i] = bf16ToFloat(p[i]);
      return;
    }
    default: return;
  }
}

void fromFloat(const float* in, BufferView out) {
  switch (out.dtype) {
    case DType::kFloat32:
      if (static_cast<const void*>(in) != out.data) std::memcpy(out.data, in, out.count * 4);
      return;
    case DType::kFloat16: {
      auto* p = static_cast<uint16_t*>(out.data);
      for (size_t i = 0; i < out.count; ++i) p[i] = floatToHalf(in[i]);
      return;
    }
    case DType::kBFloat16: {
      auto* p = static_cast<uint16_t*>(out.data);
      for (size_t i = 0; i < out.count; ++i) p[i] = floatToBf16(in[i]);
      return;
    }
    default: return;
  }
}

void addTo(const float* a, ConstBufferView x, float* out) {
  switch (x.dtype) {
    case DType::kFloat32: {
      auto* p = static_cast<const float*>(x.data);
      for (size_t i = 0; i < x.count; ++i) out[i] = a[i] + p[i];
      return;
    }
    case DType::kFloat16: {
      auto* p = static_cast<const uint16_t*>(x.data);
      for (size_t i = 0; i < x.count; ++i) out[i] = a[i] + halfToFloat(p[i]);
      return;
    }
    case DType::kBFloat16: {
      auto* p = static_cast<const uint16_t*>(x.data);
      for (size_t i = 0; i < x.count; ++i) out[i] = a[i] + bf16ToFloat(p[i]);
      return;
    }
    default: return;
  }
}

void addInto(float* acc, ConstBufferView x) { addTo(acc, x, acc); }

void divideInPlace(float* x, size_t n, float divisor) {
  for (size_t i = 0; i < n; ++i) x[i] /= divisor;
}

}  // namespace isthmus::coll
