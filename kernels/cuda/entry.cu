// kernels/cuda_codecs.h: argument and header checks on the host, then the launchers.
#include <cstring>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda_codecs.h"
#include "kernels/message_layout.h"

namespace isthmus::kernels::cuda {
namespace {

using detail::toStream;

struct HeaderWords {
  uint32_t w[8];
};

__global__ void writeHeaderKernel(uint8_t* msg, HeaderWords h) {
  // Byte stores: the message needs no alignment for its header.
  const unsigned t = threadIdx.x;
  if (t < kMessageHeaderBytes) msg[t] = reinterpret_cast<const uint8_t*>(h.w)[t];
}

__global__ void checkHeaderKernel(const uint8_t* msg, HeaderWords h, uint32_t* errorFlag) {
  const unsigned t = threadIdx.x;
  if (t < kMessageHeaderBytes && msg[t] != reinterpret_cast<const uint8_t*>(h.w)[t]) {
    atomicOr(errorFlag, 1u);
  }
}

HeaderWords headerOf(const MessageInfo& info) {
  HeaderWords h;
  kernels::detail::writeHeader(info, h.w);
  return h;
}

bool aligned4(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 3) == 0; }

Result<size_t> encodeImpl(const CodecSpec& spec, ConstBufferView x, float* residual, void* out,
                          size_t capacity, StreamHandle stream) {
  ISTHMUS_ASSIGN_OR_RETURN(MessageInfo info, expectedMessageInfo(spec, x.count, x.dtype));
  if (out == nullptr || capacity < info.totalBytes() || !aligned4(out)) {
    return invalidArgumentError("kernels::cuda::encode ", spec.toString(), ": output ", out,
                                " capacity ", capacity, " bytes (needs ", info.totalBytes(),
                                ", 4-byte aligned)");
  }
  if (x.count > 0 && x.data == nullptr) {
    return invalidArgumentError("kernels::cuda::encode ", spec.toString(), ": null input");
  }
  cudaStream_t s = toStream(stream);
  uint8_t* msg = static_cast<uint8_t*>(out);
  writeHeaderKernel<<<1, kMessageHeaderBytes, 0, s>>>(msg, headerOf(info));
  uint8_t* payload = msg + kMessageHeaderBytes;
  switch (spec.id) {
    case CodecId::kFp32:
    case CodecId::kFp16:
    case CodecId::kBf16:
      detail::launchEncodeCast(spec.id, x.data, x.dtype, x.count, residual, payload, s);
      break;
    case CodecId::kInt8:
    case CodecId::kInt4:
    case CodecId::kFp8E4M3:
      detail::launchEncodeBlock(spec.id, spec.blockSize, x.data, x.dtype, x.count, residual,
                                payload, s);
      break;
    case CodecId::kTopK:
      ISTHMUS_RETURN_IF_ERROR(
          detail::launchEncodeTopK(info.kept, x.data, x.dtype, x.count, residual, payload, s));
      break;
  }
  ISTHMUS_RETURN_IF_ERROR(detail::lastLaunch("encode"));
  return static_cast<size_t>(info.totalBytes());
}

Status decodeImpl(const MessageInfo& info, const void* msg, size_t bytes, void* out, size_t n,
                  int mode, uint32_t* errorFlag, StreamHandle stream) {
  uint64_t expected = 0;
  if (!kernels::detail::payloadBytesFor(info.codec, info.count, info.blockSize, info.kept,
                                        &expected) ||
      expected != info.payloadBytes) {
    return invalidArgumentError(
        "kernels::cuda::decode: MessageInfo is not consistent (use "
        "inspect() or expectedMessageInfo())");
  }
  if (info.count != n) {
    return corruptError("kernels::cuda::decode: message (", codecName(info.codec), ") holds ",
                        info.count, " elements, expected ", n);
  }
  if (bytes < info.totalBytes()) {
    return corruptError("kernels::cuda::decode: message truncated: ", bytes, " bytes, needs ",
                        info.totalBytes());
  }
  if (msg == nullptr || !aligned4(msg) || (n > 0 && out == nullptr)) {
    return invalidArgumentError("kernels::cuda::decode: null or unaligned buffer (msg ", msg,
                                ", out ", out, ")");
  }
  cudaStream_t s = toStream(stream);
  const uint8_t* m = static_cast<const uint8_t*>(msg);
  if (errorFlag) checkHeaderKernel<<<1, kMessageHeaderBytes, 0, s>>>(m, headerOf(info), errorFlag);
  const uint8_t* payload = m + kMessageHeaderBytes;
  switch (info.codec) {
    case CodecId::kFp32:
    case CodecId::kFp16:
    case CodecId::kBf16: detail::launchDecodeCast(info.codec, payload, n, out, mode, s); break;
    case CodecId::kInt8:
    case CodecId::kInt4:
    case CodecId::kFp8E4M3:
      detail::launchDecodeBlock(info.codec, info.blockSize, payload, n, out, mode, s);
      break;
    case CodecId::kTopK:
      detail::launchDecodeTopK(payload, n, info.kept, out, mode, errorFlag, s);
      break;
  }
  return detail::lastLaunch("decode");
}

}  // namespace

bool available() {
  int count = 0;  // cudaGetDeviceCount leaves it untouched when there is no driver
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

Result<size_t> encode(const CodecSpec& spec, ConstBufferView x, void* out, size_t capacity,
                      StreamHandle stream) {
  return encodeImpl(spec, x, nullptr, out, capacity, stream);
}

Result<size_t> encodeWithErrorFeedback(const CodecSpec& spec, ConstBufferView x, float* residual,
                                       void* out, size_t capacity, StreamHandle stream) {
  if (x.count > 0 && residual == nullptr) {
    return invalidArgumentError("kernels::cuda::encodeWithErrorFeedback ", spec.toString(),
                                ": null residual for ", x.count, " elements");
  }
  return encodeImpl(spec, x, residual, out, capacity, stream);
}

Status decode(const MessageInfo& info, const void* msg, size_t bytes, BufferView out,
              uint32_t* errorFlag, StreamHandle stream) {
  if (!isFloatingPoint(out.dtype)) {
    return invalidArgumentError("kernels::cuda::decode: output dtype ", dtypeName(out.dtype));
  }
  return decodeImpl(info, msg, bytes, out.data, out.count, detail::outMode(false, out.dtype),
                    errorFlag, stream);
}

Status decodeAccumulate(const MessageInfo& info, const void* msg, size_t bytes, float* acc,
                        size_t n, uint32_t* errorFlag, StreamHandle stream) {
  return decodeImpl(info, msg, bytes, acc, n, 0, errorFlag, stream);
}

}  // namespace isthmus::kernels::cuda
