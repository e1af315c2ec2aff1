// Element-wise reductions and conversions used by the ring / all-to-all reductions (host memory).
//
// All arithmetic is fp32: fp16/bf16 operands are widened, combined in fp32 and rounded back with
// round-to-nearest-even, so a ring that sums in 16-bit storage loses one rounding per hop and no
// more. NaN and Inf propagate per IEEE. The CUDA versions (kernels/cuda_codecs.h) give
// bit-identical results. Pure functions over caller-owned buffers: thread-safe on distinct buffers;
// dst may equal src only where stated.
#pragma once

#include <cstddef>

#include "runtime/core/dtype.h"
#include "runtime/core/status.h"

namespace isthmus::kernels {

// dst[i] = dst[i] + src[i] for i < n, dtype fp32/fp16/bf16 (same for both). kInvalidArgument for
// another dtype. dst == src is allowed (doubles dst).
Status sumInto(void* dst, const void* src, size_t n, DType dtype);

// dst[i] = convert(src[i]) for i < n between fp32, fp16 and bf16 (any pair; same dtype copies).
// fp32 -> 16 bit rounds to nearest even; NaN stays NaN, overflow becomes Inf.
Status convert(const void* src, DType srcType, void* dst, DType dstType, size_t n);

// x[i] = x[i] * factor in fp32 (e.g. factor = 1/ranks for an average), fp32/fp16/bf16.
Status scale(void* x, size_t n, DType dtype, float factor);

}  // namespace isthmus::kernels
