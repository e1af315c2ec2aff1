// Codecs: how a gradient shard shrinks before it crosses the WAN, and how it is summed back.
//
// A codec turns n input elements (fp32, fp16 or bf16) into one self-describing message and back.
// Every message starts with a 32-byte little-endian header (magic, version, codec id, input dtype,
// element count, block size, kept count, payload size), followed by the codec's payload, so a
// receiver can decode any message without knowing how the sender was configured. Anything that
// does not check out (truncated, wrong magic/version/id, a count other than the one expected,
// sizes that do not add up, out-of-range top-k indices) is reported as kCorrupt; decoders never
// read or write outside the buffers they were given.
//
// Codecs (CodecId values are wire format: never renumber, only append):
//   fp32   identity                          4 bytes/element
//   fp16   IEEE binary16, round-to-nearest-even (overflow -> Inf)
//   bf16   bfloat16, round-to-nearest-even
//   int8   blockwise absmax: per block a fp32 scale s = absmax/127, q = rne(v * (127/absmax))
//          in [-127, 127], decode q * s            (default block 256, see docs/kernels.md)
//   int4   blockwise absmax, q in [-7, 7], two values a byte (low nibble first)  (default 64)
//   topk   the k = ceil(fraction * n) largest |v| (ties: lower index first), as sorted u32
//          indices + fp32 values; the rest decode as 0        (default fraction 0.01)
//   fp8    OCP e4m3 (max 448, no Inf) with a per-block fp32 scale absmax/448  (default block 256)
// Non-finite inputs never become finite: fp16/bf16/fp32 keep NaN and Inf per element; in a block
// codec (int8, int4, fp8) a block holding a NaN or Inf decodes as all-NaN; top-k orders NaN above
// every finite magnitude and Inf, so it is always sent. An error-feedback residual element whose
// decoded value is NaN becomes NaN and stays NaN.
//
// Error feedback (EF), one pass per element: v = x + r; msg = Q(v); r = v - D(msg). Over many
// steps the sum of decoded messages equals the sum of inputs minus the final residual.
//
// Threading: Codec is an immutable value after create(); every method is const and may be called
// from any number of threads at once on distinct buffers. All buffers here are host memory; the
// CUDA entry points with the same contracts are in kernels/cuda_codecs.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/core/buffer.h"
#include "runtime/core/dtype.h"
#include "runtime/core/status.h"

namespace isthmus::kernels {

enum class CodecId : uint8_t {
  kFp32 = 0,
  kFp16 = 1,
  kBf16 = 2,
  kInt8 = 3,
  kInt4 = 4,
  kTopK = 5,
  kFp8E4M3 = 6,
};
inline constexpr int kNumCodecs = 7;

// "fp32", "fp16", "bf16", "int8", "int4", "topk", "fp8".
const char* codecName(CodecId id);
bool isValidCodecId(uint8_t raw);

inline constexpr uint32_t kDefaultInt8Block = 256;
inline constexpr uint32_t kDefaultInt4Block = 64;
inline constexpr uint32_t kDefaultFp8Block = 256;
inline constexpr double kDefaultTopKFraction = 0.01;
// Block sizes are multiples of 8 in [8, kMaxBlockSize]. Top-k messages hold at most 2^32-1
// elements (u32 indices).
inline constexpr uint32_t kMaxBlockSize = 1u << 20;

// A codec and its parameters, e.g. parsed from "int8", "int8:block=256", "topk:fraction=0.01",
// "int4:block=64", "fp8:block=128", "bf16".
struct CodecSpec {
  CodecId id = CodecId::kFp32;
  uint32_t blockSize = 0;  // int8/int4/fp8 only; 0 elsewhere
  double fraction = 0.0;   // topk only, in (0, 1]
  // Canonical text form, parseable by parseCodecSpec: "int8:block=256", "topk:fraction=0.01".
  std::string toString() const;
  bool operator==(const CodecSpec& o) const {
    return id == o.id && blockSize == o.blockSize && fraction == o.fraction;
  }
};

// Parses "<name>[:key=value[,key=value]]". Unknown names, keys or bad values: kInvalidArgument.
Result<CodecSpec> parseCodecSpec(const std::string& text);
// The spec of `id` with its default parameters.
CodecSpec defaultCodecSpec(CodecId id);

// ---- Wire format -----------------------------------------------------------------------------
inline constexpr uint32_t kMessageMagic = 0x51485349;  // "ISHQ" little-endian
inline constexpr uint8_t kMessageVersion = 1;
inline constexpr size_t kMessageHeaderBytes = 32;

// What a message header says, after validation.
struct MessageInfo {
  CodecId codec = CodecId::kFp32;
  DType inputDType = DType::kFloat32;  // what the sender encoded (informational for decode)
  uint64_t count = 0;                  // elements
  uint32_t blockSize = 0;              // int8/int4/fp8, else 0
  uint32_t kept = 0;                   // topk: elements carried, else 0
  uint64_t payloadBytes = 0;           // bytes after the header
  uint64_t totalBytes() const { return kMessageHeaderBytes + payloadBytes; }
  bool operator==(const MessageInfo& o) const {
    return codec == o.codec && inputDType == o.inputDType && count == o.count &&
           blockSize == o.blockSize && kept == o.kept && payloadBytes == o.payloadBytes;
  }
};

// Reads and validates the header of the message in [msg, msg + bytes): magic, version, codec,
// dtype, block size, kept <= count, payloadBytes equal to what codec/count/block/kept imply and
// bytes >= the total. Trailing bytes past totalBytes() are allowed (a caller may hand a larger
// receive buffer). Does not look at the payload. Errors: kCorrupt.
Result<MessageInfo> inspect(const void* msg, size_t bytes);

// The header the encoder writes for `n` elements of `inputDType` under `spec` (for callers that
// need it without encoding, e.g. to size or check a GPU message on the host).
Result<MessageInfo> expectedMessageInfo(const CodecSpec& spec, size_t n, DType inputDType);

// ---- Codec ----------------------------------------------------------------------------------
class Codec {
 public:
  // Validates the spec (block size, fraction). kInvalidArgument when it is not usable.
  static Result<Codec> create(const CodecSpec& spec);
  static Result<Codec> create(const std::string& text);

  const CodecSpec& spec() const { return spec_; }
  CodecId id() const { return spec_.id; }

  // Bytes of the message for n elements (header included), exact for every codec; 0 when this
  // codec cannot encode n elements (top-k above 2^32-1).
  size_t maxEncodedBytes(size_t n, DType inputDType) const;

  // Encodes x (host, fp32/fp16/bf16) into out[0, capacity). Returns the bytes written.
  // kInvalidArgument if capacity < maxEncodedBytes or the dtype is not a float type.
  Result<size_t> encode(ConstBufferView x, void* out, size_t capacity) const;

  // The same with error feedback: v = x + residual; msg = Q(v); residual = v - D(msg), in one
  // pass. residual has x.count fp32 elements (start it at 0) and is updated in place.
  Result<size_t> encodeWithErrorFeedback(ConstBufferView x, float* residual, void* out,
                                         size_t capacity) const;

  // Decodes msg into out (fp32/fp16/bf16; out.count must equal the message's count). The message
  // must carry this codec's id (and block size). Errors: kCorrupt for a malformed message or a
  // count mismatch, kInvalidArgument for an unsupported out dtype. out is untouched on error.
  Status decode(const void* msg, size_t bytes, BufferView out) const;

  // acc[i] += D(msg)[i] in fp32 for i < n (n must equal the message's count). Fused: one pass.
  // On error acc is untouched (the payload is validated before any write).
  Status decodeAccumulate(const void* msg, size_t bytes, float* acc, size_t n) const;

 private:
  explicit Codec(const CodecSpec& spec) : spec_(spec) {}
  CodecSpec spec_;
};

// Decodes a message of any codec (as inspect() describes it) into out / into acc.
Status decodeMessage(const void* msg, size_t bytes, BufferView out);
Status decodeAccumulateMessage(const void* msg, size_t bytes, float* acc, size_t n);

}  // namespace isthmus::kernels
