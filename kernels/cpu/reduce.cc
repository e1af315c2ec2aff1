// Element-wise sum, conversion and scaling on the CPU (fp32 arithmetic, RNE back to 16 bits).
#include "kernels/reduce.h"

#include <cstring>

#include "kernels/cpu/simd.h"

namespace isthmus::kernels {
namespace {

bool isReduceType(DType t) { return isFloatingPoint(t); }

inline void storeTyped(void* p, DType t, size_t i, float v) {
  storeOne(cpu::DecodeTarget{p, t, false}, i, v);
}

#if ISTHMUS_X86_SIMD
template <DType kT>
ISTHMUS_TARGET_AVX2 size_t sumAvx2(void* dst, const void* src, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 s = _mm256_add_ps(cpu::load8(dst, kT, i), cpu::load8(src, kT, i));
    cpu::store8<false, kT>(dst, i, s);
  }
  return i;
}

template <DType kT>
ISTHMUS_TARGET_AVX2 size_t scaleAvx2(void* x, size_t n, float factor) {
  const __m256 f = _mm256_set1_ps(factor);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) cpu::store8<false, kT>(x, i, _mm256_mul_ps(cpu::load8(x, kT, i), f));
  return i;
}

template <DType kS, DType kD>
ISTHMUS_TARGET_AVX2 size_t convertAvx2(const void* src, void* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) cpu::store8<false, kD>(dst, i, cpu::load8(src, kS, i));
  return i;
}

template <DType kS>
size_t convertAvx2To(const void* src, void* dst, DType d, size_t n) {
  switch (d) {
    case DType::kFloat16: return convertAvx2<kS, DType::kFloat16>(src, dst, n);
    case DType::kBFloat16: return convertAvx2<kS, DType::kBFloat16>(src, dst, n);
    default: return convertAvx2<kS, DType::kFloat32>(src, dst, n);
  }
}
#endif

}  // namespace

Status sumInto(void* dst, const void* src, size_t n, DType dtype) {
  if (!isReduceType(dtype)) {
    return invalidArgumentError("sumInto: dtype ", dtypeName(dtype), " is not fp32/fp16/bf16");
  }
  if (n > 0 && (dst == nullptr || src == nullptr)) return invalidArgumentError("sumInto: null");
  size_t i = 0;
#if ISTHMUS_X86_SIMD
  if (cpu::useAvx2()) {
    switch (dtype) {
      case DType::kFloat16: i = sumAvx2<DType::kFloat16>(dst, src, n); break;
      case DType::kBFloat16: i = sumAvx2<DType::kBFloat16>(dst, src, n); break;
      default: i = sumAvx2<DType::kFloat32>(dst, src, n); break;
    }
  }
#endif
  for (; i < n; ++i) {
    storeTyped(dst, dtype, i, cpu::loadOne(dst, dtype, i) + cpu::loadOne(src, dtype, i));
  }
  return okStatus();
}

Status convert(const void* src, DType srcType, void* dst, DType dstType, size_t n) {
  if (!isReduceType(srcType) || !isReduceType(dstType)) {
    return invalidArgumentError("convert: ", dtypeName(srcType), " -> ", dtypeName(dstType),
                                " (fp32/fp16/bf16 only)");
  }
  if (n > 0 && (dst == nullptr || src == nullptr)) return invalidArgumentError("convert: null");
  if (srcType == dstType) {
    std::memmove(dst, src, n * dtypeSize(srcType));
    return okStatus();
  }
  size_t i = 0;
#if ISTHMUS_X86_SIMD
  if (cpu::useAvx2()) {
    switch (srcType) {
      case DType::kFloat16: i = convertAvx2To<DType::kFloat16>(src, dst, dstType, n); break;
      case DType::kBFloat16: i = convertAvx2To<DType::kBFloat16>(src, dst, dstType, n); break;
      default: i = convertAvx2To<DType::kFloat32>(src, dst, dstType, n); break;
    }
  }
#endif
  for (; i < n; ++i) storeTyped(dst, dstType, i, cpu::loadOne(src, srcType, i));
  return okStatus();
}

Status scale(void* x, size_t n, DType dtype, float factor) {
  if (!isReduceType(dtype)) {
    return invalidArgumentError("scale: dtype ", dtypeName(dtype), " is not fp32/fp16/bf16");
  }
  if (n > 0 && x == nullptr) return invalidArgumentError("scale: null");
  size_t i = 0;
#if ISTHMUS_X86_SIMD
  if (cpu::useAvx2()) {
    switch (dtype) {
      case DType::kFloat16: i = scaleAvx2<DType::kFloat16>(x, n, factor); break;
      case DType::kBFloat16: i = scaleAvx2<DType::kBFloat16>(x, n, factor); break;
      default: i = scaleAvx2<DType::kFloat32>(x, n, factor); break;
    }
  }
#endif
  for (; i < n; ++i) storeTyped(x, dtype, i, cpu::loadOne(x, dtype, i) * factor);
  return okStatus();
}

}  // namespace isthmus::kernels
