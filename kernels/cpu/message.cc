// Codec names and specs, and the message header: writing, sizing and validating it.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "kernels/codec.h"
#include "kernels/message_layout.h"

namespace isthmus::kernels {
namespace {

bool isBlockCodec(CodecId id) {
  return id == CodecId::kInt8 || id == CodecId::kInt4 || id == CodecId::kFp8E4M3;
}

bool validBlockSize(uint64_t b) { return b >= 8 && b <= kMaxBlockSize && b % 8 == 0; }

void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
void put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t get32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

const char* codecName(CodecId id) {
  switch (id) {
    case CodecId::kFp32: return "fp32";
    case CodecId::kFp16: return "fp16";
    case CodecId::kBf16: return "bf16";
    case CodecId::kInt8: return "int8";
    case CodecId::kInt4: return "int4";
    case CodecId::kTopK: return "topk";
    case CodecId::kFp8E4M3: return "fp8";
  }
  return "unknown";
}

bool isValidCodecId(uint8_t raw) { return raw < kNumCodecs; }

CodecSpec defaultCodecSpec(CodecId id) {
  CodecSpec s;
  s.id = id;
  if (id == CodecId::kInt8) s.blockSize = kDefaultInt8Block;
  if (id == CodecId::kInt4) s.blockSize = kDefaultInt4Block;
  if (id == CodecId::kFp8E4M3) s.blockSize = kDefaultFp8Block;
  if (id == CodecId::kTopK) s.fraction = kDefaultTopKFraction;
  return s;
}

std::string CodecSpec::toString() const {
  if (isBlockCodec(id)) return strCat(codecName(id), ":block=", blockSize);
  if (id == CodecId::kTopK) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", fraction);
    return strCat("topk:fraction=", buf);
  }
  return codecName(id);
}

Result<CodecSpec> parseCodecSpec(const std::string& text) {
  std::string name = text.substr(0, text.find(':'));
  CodecSpec spec;
  bool found = false;
  for (int i = 0; i < kNumCodecs; ++i) {
    if (name == codecName(static_cast<CodecId>(i))) {
      spec = defaultCodecSpec(static_cast<CodecId>(i));
      found = true;
    }
  }
  if (name == "e4m3" || name == "fp8e4m3") spec = defaultCodecSpec(CodecId::kFp8E4M3), found = true;
  if (!found) {
    return invalidArgumentError("unknown codec '", name, "' in '", text,
                                "' (expected fp32, fp16, bf16, int8, int4, topk or fp8)");
  }
  size_t pos = text.find(':');
  while (pos != std::string::npos) {
    size_t next = text.find(',', pos + 1);
    std::string kv =
        text.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    pos = next;
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      return invalidArgumentError("codec option '", kv, "' in '", text, "' is not key=value");
    }
    std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
    char* end = nullptr;
    if (key == "block" && isBlockCodec(spec.id)) {
      unsigned long long b = std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || !validBlockSize(b)) {
        return invalidArgumentError("codec '", text, "': block must be a multiple of 8 in [8, ",
                                    kMaxBlockSize, "], got '", value, "'");
      }
      spec.blockSize = static_cast<uint32_t>(b);
    } else if (key == "fraction" && spec.id == CodecId::kTopK) {
      double f = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(f > 0.0 && f <= 1.0)) {
        return invalidArgumentError("codec '", text, "': fraction must be in (0, 1], got '", value,
                                    "'");
      }
      spec.fraction = f;
    } else {
      return invalidArgumentError("codec '", text, "': unknown option '", key, "' for ",
                                  codecName(spec.id));
    }
  }
  return spec;
}

namespace detail {

uint64_t topkKept(double fraction, uint64_t n) {
  if (n == 0) return 0;
  double k = std::ceil(fraction * static_cast<double>(n));
  if (k < 1) k = 1;
  if (k > static_cast<double>(n)) k = static_cast<double>(n);
  return static_cast<uint64_t>(k);
}

// Payload bytes implied by the header fields; false when they overflow or are inconsistent.
bool payloadBytesFor(CodecId id, uint64_t n, uint32_t block, uint32_t kept, uint64_t* bytes) {
  // Cap at 2^56 elements: far above any tensor, and keeps every product below 2^64.
  if (n > (uint64_t{1} << 56)) return false;
  switch (id) {
    case CodecId::kFp32: *bytes = n * 4; return block == 0 && kept == 0;
    case CodecId::kFp16:
    case CodecId::kBf16: *bytes = n * 2; return block == 0 && kept == 0;
    case CodecId::kInt8:
    case CodecId::kFp8E4M3:
      if (!validBlockSize(block) || kept != 0) return false;
      *bytes = numBlocks(n, block) * 4 + n;
      return true;
    case CodecId::kInt4:
      if (!validBlockSize(block) || kept != 0) return false;
      *bytes = numBlocks(n, block) * 4 + (n + 1) / 2;
      return true;
    case CodecId::kTopK:
      if (block != 0 || kept > n || n > 0xffffffffull || (n > 0 && kept == 0)) return false;
      *bytes = uint64_t{kept} * 8;
      return true;
  }
  return false;
}

void writeHeader(const MessageInfo& info, void* out) {
  uint8_t* p = static_cast<uint8_t*>(out);
  std::memset(p, 0, kMessageHeaderBytes);
  put32(p, kMessageMagic);
  p[4] = kMessageVersion;
  p[5] = static_cast<uint8_t>(info.codec);
  p[6] = static_cast<uint8_t>(info.inputDType);
  p[7] = 0;  // flags, none defined
  put64(p + 8, info.count);
  put32(p + 16, info.blockSize);
  put32(p + 20, info.kept);
  put64(p + 24, info.payloadBytes);
}

}  // namespace detail

Result<MessageInfo> expectedMessageInfo(const CodecSpec& spec, size_t n, DType inputDType) {
  if (!isFloatingPoint(inputDType)) {
    return invalidArgumentError("codec ", spec.toString(), ": input dtype ", dtypeName(inputDType),
                                " is not fp32, fp16 or bf16");
  }
  MessageInfo info;
  info.codec = spec.id;
  info.inputDType = inputDType;
  info.count = n;
  info.blockSize = isBlockCodec(spec.id) ? spec.blockSize : 0;
  uint64_t kept = spec.id == CodecId::kTopK ? detail::topkKept(spec.fraction, n) : 0;
  info.kept = static_cast<uint32_t>(kept);
  if (kept > 0xffffffffull ||
      !detail::payloadBytesFor(info.codec, n, info.blockSize, info.kept, &info.payloadBytes)) {
    return invalidArgumentError("codec ", spec.toString(), " cannot encode ", n, " elements");
  }
  return info;
}

Result<MessageInfo> inspect(const void* msg, size_t bytes) {
  if (msg == nullptr || bytes < kMessageHeaderBytes) {
    return corruptError("codec message truncated: ", bytes, " bytes, the header alone is ",
                        kMessageHeaderBytes);
  }
  const uint8_t* p = static_cast<const uint8_t*>(msg);
  if (get32(p) != kMessageMagic) {
    return corruptError("codec message: bad magic 0x", std::hex, get32(p));
  }
  if (p[4] != kMessageVersion) {
    return corruptError("codec message: version ", int{p[4]}, ", this build reads version ",
                        int{kMessageVersion});
  }
  if (!isValidCodecId(p[5])) return corruptError("codec message: unknown codec id ", int{p[5]});
  if (!isValidDType(p[6]) || !isFloatingPoint(static_cast<DType>(p[6]))) {
    return corruptError("codec message: bad input dtype ", int{p[6]});
  }
  if (p[7] != 0) return corruptError("codec message: unknown flags 0x", std::hex, int{p[7]});
  MessageInfo info;
  info.codec = static_cast<CodecId>(p[5]);
  info.inputDType = static_cast<DType>(p[6]);
  info.count = get64(p + 8);
  info.blockSize = get32(p + 16);
  info.kept = get32(p + 20);
  info.payloadBytes = get64(p + 24);
  uint64_t expected = 0;
  if (!detail::payloadBytesFor(info.codec, info.count, info.blockSize, info.kept, &expected)) {
    return corruptError("codec message (", codecName(info.codec), "): inconsistent header: count ",
                        info.count, ", block ", info.blockSize, ", kept ", info.kept);
  }
  if (expected != info.payloadBytes) {
    return corruptError("codec message (", codecName(info.codec), ", ", info.count,
                        " elements): payload size ", info.payloadBytes, " should be ", expected);
  }
  if (info.payloadBytes > bytes - kMessageHeaderBytes) {
    return corruptError("codec message (", codecName(info.codec), ", ", info.count,
                        " elements) truncated: ", bytes, " bytes, needs ", info.totalBytes());
  }
  return info;
}

}  // namespace isthmus::kernels
