// Fuzz target for the codec decoders and inspect(): any byte string must be either rejected with
// kCorrupt (or kInvalidArgument for a bad call) or decoded within bounds, and a message that
// inspect() accepts must decode the same on the SIMD and portable paths. Arbitrary floats are
// also encoded with every codec and decoded back, checking that NaN never becomes finite.
//
// Built as a libFuzzer binary with clang (-fsanitize=fuzzer,address) and, with any compiler, as
// a replay driver (replay_main.cc) that CI runs over generated seeds.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/codec.h"
#include "kernels/cpu/cpu_kernels.h"

namespace {

using namespace isthmus;
using namespace isthmus::kernels;

constexpr uint64_t kMaxDecodeElements = 1 << 20;

void trap(const char* why) {
  std::fprintf(stderr, "codec_fuzz invariant broken: %s\n", why);
  std::abort();
}

void fuzzDecode(const uint8_t* data, size_t size, uint8_t selector) {
  Result<MessageInfo> info = inspect(data, size);
  // Decoding with a wrong count must fail without touching the output.
  float canary[4] = {1, 2, 3, 4};
  Status wrong = decodeAccumulateMessage(data, size, canary, info.ok() ? 3 : 4);
  if (wrong.ok() && !(info.ok() && info->count == 3)) trap("wrong count accepted");
  if (!wrong.ok() && (canary[0] != 1 || canary[3] != 4)) trap("output written on error");
  if (!info.ok()) {
    if (info.status().code() != StatusCode::kCorrupt) trap("inspect error is not kCorrupt");
    return;
  }
  if (info->count > kMaxDecodeElements) return;
  const size_t n = info->count;
  const DType outType = selector % 3 == 0   ? DType::kFloat32
                        : selector % 3 == 1 ? DType::kFloat16
                                            : DType::kBFloat16;
  std::vector<uint8_t> out[2];
  std::vector<float> acc[2];
  Status st[2], sa[2];
  for (int portable = 0; portable < 2; ++portable) {
    cpu::setForcePortable(portable == 1);
    out[portable].assign(n * dtypeSize(outType) + 1, 0x5a);
    st[portable] = decodeMessage(data, size, BufferView{out[portable].data(), n, outType});
    acc[portable].assign(n, 0.5f);
    sa[portable] = decodeAccumulateMessage(data, size, acc[portable].data(), n);
    if (out[portable].back() != 0x5a) trap("decode wrote past the output");
  }
  cpu::setForcePortable(false);
  if (st[0].ok() != st[1].ok() || sa[0].ok() != sa[1].ok()) trap("paths disagree on validity");
  if (st[0].ok() != sa[0].ok()) trap("decode and decodeAccumulate disagree on validity");
  if (!st[0].ok()) {
    if (st[0].code() != StatusCode::kCorrupt) trap("decode error is not kCorrupt");
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    float a = acc[0][i], b = acc[1][i];
    if (!(std::isnan(a) && std::isnan(b)) && std::memcmp(&a, &b, 4) != 0) {
      trap("SIMD and portable decodeAccumulate differ");
    }
  }
  // fp16/bf16 outputs: NaN payloads may differ between x86 F16C and the software path only when
  // the source NaN is signalling; compare values, NaN-aware.
  if (outType == DType::kFloat32 && std::memcmp(out[0].data(), out[1].data(), n * 4) != 0) {
    for (size_t i = 0; i < n; ++i) {
      float a, b;
      std::memcpy(&a, out[0].data() + 4 * i, 4);
      std::memcpy(&b, out[1].data() + 4 * i, 4);
      if (!(std::isnan(a) && std::isnan(b)) && std::memcmp(&a, &b, 4) != 0) {
        trap("SIMD and portable decode differ");
      }
    }
  }
}

void fuzzEncode(const uint8_t* data, size_t size, uint8_t selector) {
  const char* specs[] = {"fp32",         "fp16",          "bf16",
                         "int8",         "int4",          "fp8",
                         "int8:block=8", "int4:block=16", "topk:fraction=0.25"};
  Codec c = Codec::create(specs[selector % 9]).value();
  const DType inType = (selector / 9) % 3 == 0   ? DType::kFloat32
                       : (selector / 9) % 3 == 1 ? DType::kFloat16
                                                 : DType::kBFloat16;
  const size_t n = size / dtypeSize(inType);
  if (n == 0) return;
  std::vector<uint8_t> x(data, data + n * dtypeSize(inType));
  std::vector<float> r(n, 0.0f);
  std::vector<uint8_t> msg(c.maxEncodedBytes(n, inType));
  auto w = c.encodeWithErrorFeedback(ConstBufferView(x.data(), n, inType), r.data(), msg.data(),
                                     msg.size());
  if (!w.ok() || *w != msg.size()) trap("encode failed");
  std::vector<float> d(n);
  if (!c.decode(msg.data(), msg.size(), BufferView{d.data(), n}).ok()) trap("own message rejected");
  for (size_t i = 0; i < n; ++i) {
    float v = inType == DType::kFloat32
                  ? reinterpret_cast<const float*>(x.data())[i]
                  : 0.0f;  // 16-bit inputs: only the residual rule is checked below
    if (inType == DType::kFloat32 && std::isnan(v) && !std::isnan(r[i])) {
      trap("a NaN input left a finite residual");
    }
    if (std::isnan(d[i]) != std::isnan(r[i]) && c.id() != CodecId::kTopK && !std::isnan(r[i])) {
      trap("a NaN decode left a finite residual");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  if (mode & 0x80) {
    fuzzEncode(data + 1, size - 1, mode & 0x7f);
  } else {
    fuzzDecode(data + 1, size - 1, mode);
  }
  return 0;
}
