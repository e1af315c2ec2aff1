// Codec: the front end that checks arguments and headers, then calls the per-codec CPU kernels.
#include "kernels/codec.h"

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/message_layout.h"

namespace isthmus::kernels {
namespace {

bool isBlockCodec(CodecId id) {
  return id == CodecId::kInt8 || id == CodecId::kInt4 || id == CodecId::kFp8E4M3;
}

Status checkInput(const CodecSpec& spec, ConstBufferView x) {
  if (!isFloatingPoint(x.dtype)) {
    return invalidArgumentError("codec ", spec.toString(), ": input dtype ", dtypeName(x.dtype),
                                " is not fp32, fp16 or bf16");
  }
  if (x.onDevice()) {
    return invalidArgumentError("codec ", spec.toString(),
                                ": CPU encode got device memory (use kernels/cuda_codecs.h)");
  }
  if (x.count > 0 && x.data == nullptr) {
    return invalidArgumentError("codec ", spec.toString(), ": null input for ", x.count,
                                " elements");
  }
  return okStatus();
}

Result<size_t> encodeImpl(const CodecSpec& spec, ConstBufferView x, float* residual, void* out,
                          size_t capacity) {
  ISTHMUS_RETURN_IF_ERROR(checkInput(spec, x));
  ISTHMUS_ASSIGN_OR_RETURN(MessageInfo info, expectedMessageInfo(spec, x.count, x.dtype));
  if (out == nullptr || capacity < info.totalBytes()) {
    return invalidArgumentError("codec ", spec.toString(), ": output capacity ", capacity,
                                " bytes < ", info.totalBytes(), " needed for ", x.count,
                                " elements");
  }
  detail::writeHeader(info, out);
  uint8_t* payload = static_cast<uint8_t*>(out) + kMessageHeaderBytes;
  switch (spec.id) {
    case CodecId::kFp32:
    case CodecId::kFp16:
    case CodecId::kBf16: cpu::encodeCast(spec.id, x, residual, payload); break;
    case CodecId::kInt8:
    case CodecId::kInt4:
    case CodecId::kFp8E4M3: cpu::encodeBlock(spec.id, spec.blockSize, x, residual, payload); break;
    case CodecId::kTopK: cpu::encodeTopK(info.kept, x, residual, payload); break;
  }
  return static_cast<size_t>(info.totalBytes());
}

// Validates the message for decoding n elements; `expected` (nullable) must match codec/block.
Result<MessageInfo> checkMessage(const CodecSpec* expected, const void* msg, size_t bytes,
                                 size_t n) {
  ISTHMUS_ASSIGN_OR_RETURN(MessageInfo info, inspect(msg, bytes));
  if (expected != nullptr) {
    if (info.codec != expected->id) {
      return corruptError("codec message is ", codecName(info.codec), ", expected ",
                          expected->toString());
    }
    if (isBlockCodec(info.codec) && info.blockSize != expected->blockSize) {
      return corruptError("codec message ", codecName(info.codec), " has block ", info.blockSize,
                          ", expected ", expected->toString());
    }
  }
  if (info.count != n) {
    return corruptError("codec message (", codecName(info.codec), ") holds ", info.count,
                        " elements, expected ", n);
  }
  const uint8_t* payload = static_cast<const uint8_t*>(msg) + kMessageHeaderBytes;
  if (info.codec == CodecId::kTopK && !cpu::topkIndicesValid(payload, n, info.kept)) {
    return corruptError("codec message (topk, ", n, " elements, ", info.kept,
                        " kept): indices not strictly increasing or out of range");
  }
  return info;
}

void decodePayload(const MessageInfo& info, const uint8_t* payload, const cpu::DecodeTarget& t) {
  switch (info.codec) {
    case CodecId::kFp32:
    case CodecId::kFp16:
    case CodecId::kBf16: cpu::decodeCast(info.codec, payload, info.count, t); break;
    case CodecId::kInt8:
    case CodecId::kInt4:
    case CodecId::kFp8E4M3:
      cpu::decodeBlock(info.codec, info.blockSize, payload, info.count, t);
      break;
    case CodecId::kTopK: cpu::decodeTopK(payload, info.count, info.kept, t); break;
  }
}

Status decodeImpl(const CodecSpec* expected, const void* msg, size_t bytes, BufferView out) {
  if (!isFloatingPoint(out.dtype) || out.onDevice() || (out.count > 0 && out.data == nullptr)) {
    return invalidArgumentError("codec decode: output must be host fp32/fp16/bf16, got ",
                                dtypeName(out.dtype), " in ", memoryKindName(out.memory));
  }
  ISTHMUS_ASSIGN_OR_RETURN(MessageInfo info, checkMessage(expected, msg, bytes, out.count));
  decodePayload(info, static_cast<const uint8_t*>(msg) + kMessageHeaderBytes,
                cpu::DecodeTarget{out.data, out.dtype, false});
  return okStatus();
}

Status decodeAccImpl(const CodecSpec* expected, const void* msg, size_t bytes, float* acc,
                     size_t n) {
  if (n > 0 && acc == nullptr) return invalidArgumentError("codec decodeAccumulate: null acc");
  ISTHMUS_ASSIGN_OR_RETURN(MessageInfo info, checkMessage(expected, msg, bytes, n));
  decodePayload(info, static_cast<const uint8_t*>(msg) + kMessageHeaderBytes,
                cpu::DecodeTarget{acc, DType::kFloat32, true});
  return okStatus();
}

}  // namespace

Result<Codec> Codec::create(const CodecSpec& spec) {
  // Round-trip through the text form: one place validates parameters.
  if (!isValidCodecId(static_cast<uint8_t>(spec.id))) {
    return invalidArgumentError("codec id ", int(spec.id), " is not defined");
  }
  ISTHMUS_ASSIGN_OR_RETURN(CodecSpec parsed, parseCodecSpec(spec.toString()));
  if (!(parsed == spec)) {
    return invalidArgumentError("codec spec ", spec.toString(), " has parameters its codec ",
                                "does not take");
  }
  return Codec(spec);
}

Result<Codec> Codec::create(const std::string& text) {
  ISTHMUS_ASSIGN_OR_RETURN(CodecSpec spec, parseCodecSpec(text));
  return Codec(spec);
}

size_t Codec::maxEncodedBytes(size_t n, DType inputDType) const {
  Result<MessageInfo> info = expectedMessageInfo(spec_, n, inputDType);
  return info.ok() ? static_cast<size_t>(info->totalBytes()) : 0;
}

Result<size_t> Codec::encode(ConstBufferView x, void* out, size_t capacity) const {
  return encodeImpl(spec_, x, nullptr, out, capacity);
}

Result<size_t> Codec::encodeWithErrorFeedback(ConstBufferView x, float* residual, void* out,
                                              size_t capacity) const {
  if (x.count > 0 && residual == nullptr) {
    return invalidArgumentError("codec ", spec_.toString(), ": null residual for ", x.count,
                                " elements");
  }
  return encodeImpl(spec_, x, residual, out, capacity);
}

Status Codec::decode(const void* msg, size_t bytes, BufferView out) const {
  return decodeImpl(&spec_, msg, bytes, out);
}

Status Codec::decodeAccumulate(const void* msg, size_t bytes, float* acc, size_t n) const {
  return decodeAccImpl(&spec_, msg, bytes, acc, n);
}

Status decodeMessage(const void* msg, size_t bytes, BufferView out) {
  return decodeImpl(nullptr, msg, bytes, out);
}

Status decodeAccumulateMessage(const void* msg, size_t bytes, float* acc, size_t n) {
  return decodeAccImpl(nullptr, msg, bytes, acc, n);
}

}  // namespace isthmus::kernels
