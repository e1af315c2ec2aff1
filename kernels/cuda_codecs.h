// CUDA entry points for the codecs (kernels/codec.h) and reductions (kernels/reduce.h).
//
// Same contracts and bit-identical results as the CPU versions: a message encoded on the GPU equals
// the CPU encoding of the same input byte for byte, and decoding a message on the GPU gives the
// same bits as on the CPU (NaN payload bits aside: x86 keeps an operand's payload, CUDA returns
// the canonical NaN). Message buffers must be 4-byte aligned. This header includes no CUDA
// header: streams are StreamHandle (a cudaStream_t as void*, nullptr = legacy default stream).
//
// Every function enqueues work on `stream` and returns without synchronising the host; buffers
// must stay alive until the stream reaches that work. Pointers are device pointers (or pinned
// host memory mapped into the device's address space), except the MessageInfo, which the caller
// produced on the host: with inspect() on a host copy of the header (messages arrive from the WAN
// in pinned host buffers) or with expectedMessageInfo() for a message it encoded itself.
// Because the host cannot read device bytes without a sync, the kernels re-check the device-side
// header against `info` and the top-k indices (in range, strictly increasing); on a mismatch they
// write no output element out of bounds, and set *errorFlag (a device uint32_t, may be null) to a
// non-zero value, which the caller reads after the stream completes (nonzero = kCorrupt).
// Workspace (top-k) comes from the stream-ordered allocator (cudaMallocAsync) on `stream`.
//
// In a build without CUDA (isthmus/config.h: ISTHMUS_HAVE_CUDA == 0) these functions exist in
// isthmus_kernels and return kNotSupported; with CUDA they live in isthmus_kernels_cuda.
// Errors: kInvalidArgument (bad sizes, dtype, capacity), kCudaError (a launch failed).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/codec.h"
#include "runtime/core/buffer.h"
#include "runtime/core/status.h"

namespace isthmus::kernels::cuda {

// True if this build contains the CUDA kernels and a device is visible.
bool available();

// Encodes x (device, fp32/fp16/bf16) into out[0, capacity) on the device. Returns the bytes written
// (known on the host without a sync: the message size depends only on spec, n and dtype).
Result<size_t> encode(const CodecSpec& spec, ConstBufferView x, void* out, size_t capacity,
                      StreamHandle stream);

// v = x + residual; msg = Q(v); residual = v - D(msg), residual being x.count fp32 on the device.
Result<size_t> encodeWithErrorFeedback(const CodecSpec& spec, ConstBufferView x, float* residual,
                                       void* out, size_t capacity, StreamHandle stream);

// Decodes the message msg[0, bytes) described by `info` into out (device fp32/fp16/bf16,
// out.count == info.count). bytes >= info.totalBytes() is checked on the host.
Status decode(const MessageInfo& info, const void* msg, size_t bytes, BufferView out,
              uint32_t* errorFlag, StreamHandle stream);

// acc[i] += D(msg)[i] in fp32, acc being n == info.count fp32 on the device.
Status decodeAccumulate(const MessageInfo& info, const void* msg, size_t bytes, float* acc,
                        size_t n, uint32_t* errorFlag, StreamHandle stream);

// kernels/reduce.h on the device.
Status sumInto(void* dst, const void* src, size_t n, DType dtype, StreamHandle stream);
Status convert(const void* src, DType srcType, void* dst, DType dstType, size_t n,
               StreamHandle stream);
Status scale(void* x, size_t n, DType dtype, float factor, StreamHandle stream);

}  // namespace isthmus::kernels::cuda
