// Element conversions and fp32 arithmetic the collectives need on host memory: fp16/bf16 <-> fp32
// (round-to-nearest-even, NaN kept NaN), acc += x, and the average's division.
//
// The collectives accumulate in fp32 whatever the tensor's dtype, and round to the tensor's dtype
// once, at the end, so a fp16 allreduce is as close to the fp32 sum as fp16 allows. Pure functions
// over caller-owned buffers; any thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/core/buffer.h"

namespace isthmus::coll {

float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bf16ToFloat(uint16_t b);
uint16_t floatToBf16(float f);

// out[i] = float(in[i]); in is fp32/fp16/bf16 host memory. out may alias in when in is fp32.
void toFloat(ConstBufferView in, float* out);
// out[i] = round(in[i]) to out.dtype (fp32/fp16/bf16).
void fromFloat(const float* in, BufferView out);
// acc[i] += float(x[i]).
void addInto(float* acc, ConstBufferView x);
// out[i] = a[i] + float(x[i]) (out may alias a).
void addTo(const float* a, ConstBufferView x, float* out);
// x[i] /= divisor.
void divideInPlace(float* x, size_t n, float divisor);

}  // namespace isthmus::coll
