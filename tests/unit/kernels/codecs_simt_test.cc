// The GPU codecs' device code (kernels/cuda/cast_kernels.cuh, block_kernels.cuh, and top-k's
// decode in topk_kernels.cuh) run on the CPU by the SIMT emulator (simt/simt.h), against the CPU
// codecs: the same payload and residual on encode, the same values on every decode, bit for bit
// (NaN payloads included: the emulator computes with the host's arithmetic). Small grids make the
// kernels' grid-stride loops go round. The GPU's own arithmetic (hardware fp16 conversion, CUDA's
// canonical NaN) is checked by tests/gpu/kernels on a GPU.
#include "tests/unit/kernels/simt/simt.h"  // before the device code: it defines the CUDA keywords
//
#include "kernels/cuda/block_kernels.cuh"
#include "kernels/cuda/cast_kernels.cuh"
#include "kernels/cuda/topk_kernels.cuh"
//
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/codec.h"
#include "kernels/message_layout.h"
#include "tests/unit/kernels/test_util.h"

namespace isthmus::kernels {
namespace {

namespace cd = cuda::detail;
template <int V>
using Int = std::integral_constant<int, V>;

constexpr unsigned kGrid = 2;  // blocks per launch: small, so grid-stride loops repeat

template <typename F>
void withCodec(CodecId id, F&& f) {
  switch (id) {
    case CodecId::kFp16: f(Int<1>{}); break;
    case CodecId::kBf16: f(Int<2>{}); break;
    case CodecId::kInt8: f(Int<3>{}); break;
    case CodecId::kInt4: f(Int<4>{}); break;
    case CodecId::kFp8E4M3: f(Int<6>{}); break;
    default: f(Int<0>{}); break;
  }
}

void emulatedEncode(const MessageInfo& info, const void* x, DType t, float* r, uint8_t* payload) {
  const size_t n = info.count;
  if (n == 0) return;
  withCodec(info.codec, [&](auto kid) {
    cd::withInDType(t, [&](auto kin) {
      constexpr int id = decltype(kid)::value, in = decltype(kin)::value;
      if constexpr (id >= 3) {
        const uint64_t nb = kernels::detail::numBlocks(n, info.blockSize);
        simt::launch(kGrid, cd::block::kThreads, [&] {
          if (r) {
            cd::block::encodeBlockKernel<id, in, true>(x, n, r, payload, info.blockSize, nb);
          } else {
            cd::block::encodeBlockKernel<id, in, false>(x, n, r, payload, info.blockSize, nb);
          }
        });
      } else {
        simt::launch(kGrid, cd::cast::kThreads, [&] {
          if (r) {
            cd::cast::encodeCastKernel<id, in, true>(x, n, r, payload);
          } else {
            cd::cast::encodeCastKernel<id, in, false>(x, n, r, payload);
          }
        });
      }
    });
  });
}

// mode 0: out += decoded (fp32); 1, 2, 3: out = decoded as fp32, fp16, bf16.
void emulatedDecode(const MessageInfo& info, const uint8_t* payload, void* out, int mode,
                    uint32_t* errorFlag) {
  const size_t n = info.count;
  if (n == 0) return;
  cd::withOutMode(mode, [&](auto km) {
    constexpr int m = decltype(km)::value;
    if (info.codec == CodecId::kTopK) {
      simt::launch(kGrid, cd::topk::kThreads,
                   [&] { cd::topk::decodeTopKKernel<m>(payload, n, info.kept, out, errorFlag); });
      return;
    }
    withCodec(info.codec, [&](auto kid) {
      constexpr int id = decltype(kid)::value;
      if constexpr (id >= 3) {
        const uint64_t nb = kernels::detail::numBlocks(n, info.blockSize);
        simt::launch(kGrid, cd::block::kThreads, [&] {
          cd::block::decodeBlockKernel<id, m>(payload, n, info.blockSize, nb, out);
        });
      } else {
        simt::launch(kGrid, cd::cast::kThreads,
                     [&] { cd::cast::decodeCastKernel<id, m>(payload, n, out); });
      }
    });
  });
}

std::vector<float> input(size_t n, uint32_t seed, bool specials) {
  std::vector<float> x = testing::gaussian(n, seed);
  if (specials) {
    for (size_t i = 3; i < n; i += 211) {
      switch ((i / 211) % 4) {
        case 0: x[i] = std::numeric_limits<float>::infinity(); break;
        case 1: x[i] = -std::numeric_limits<float>::quiet_NaN(); break;
        case 2: x[i] = std::numeric_limits<float>::denorm_min() * 3; break;
        default: x[i] = -0.0f; break;
      }
    }
  }
  return x;
}

std::vector<uint8_t> asDType(const std::vector<float>& x, DType t) {
  const size_t w = dtypeSize(t);
  std::vector<uint8_t> b(x.size() * w);
  for (size_t i = 0; i < x.size(); ++i) {
    if (t == DType::kFloat32) {
      std::memcpy(&b[i * 4], &x[i], 4);
    } else {
      const uint16_t h = t == DType::kFloat16 ? math::floatToHalf(x[i]) : math::floatToBf16(x[i]);
      std::memcpy(&b[i * 2], &h, 2);
    }
  }
  return b;
}

const char* kCodecs[] = {"fp32", "fp16",          "bf16",           "int8",        "int4",
                         "fp8",  "int8:block=64", "int4:block=256", "fp8:block=32"};

TEST(CodecsSimt, EncodeMatchesTheCpuByteForByte) {
  for (size_t n : {size_t{1}, size_t{9}, size_t{1000}, size_t{4133}, size_t{20011}}) {
    for (bool specials : {false, true}) {
      const std::vector<float> x32 = input(n, static_cast<uint32_t>(n), specials);
      for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
        const std::vector<uint8_t> x = asDType(x32, t);
        const ConstBufferView xv(x.data(), n, t);
        for (const char* name : kCodecs) {
          SCOPED_TRACE(std::string(name) + " n=" + std::to_string(n) + " " + dtypeName(t) +
                       (specials ? " specials" : ""));
          const Codec c = testing::makeCodec(name);
          for (bool ef : {true, false}) {
            std::vector<float> rCpu = testing::gaussian(n, 3, 0.01f), rGpu = rCpu;
            const std::vector<uint8_t> msg = testing::encodeOk(c, xv, ef ? rCpu.data() : nullptr);
            Result<MessageInfo> info = inspect(msg.data(), msg.size());
            ASSERT_TRUE(info.ok()) << info.status().toString();
            std::vector<uint8_t> payload(info->payloadBytes, 0xcd);
            emulatedEncode(*info, x.data(), t, ef ? rGpu.data() : nullptr, payload.data());
            ASSERT_EQ(0,
                      std::memcmp(payload.data(), msg.data() + kMessageHeaderBytes, payload.size()))
                << (ef ? "with" : "without") << " error feedback: payloads differ";
            if (ef) {
              ASSERT_EQ(0, std::memcmp(rGpu.data(), rCpu.data(), n * 4)) << "residuals differ";
            }
          }
        }
      }
    }
  }
}

TEST(CodecsSimt, DecodeMatchesTheCpuBitForBit) {
  std::vector<std::string> codecs(std::begin(kCodecs), std::end(kCodecs));
  codecs.push_back("topk:fraction=0.01");
  codecs.push_back("topk:fraction=0.3");
  for (size_t n : {size_t{1}, size_t{1000}, size_t{4133}, size_t{20011}}) {
    const std::vector<float> x = input(n, static_cast<uint32_t>(n + 1), true);
    for (const std::string& name : codecs) {
      SCOPED_TRACE(name + " n=" + std::to_string(n));
      const Codec c = testing::makeCodec(name);
      const std::vector<uint8_t> msg =
          testing::encodeOk(c, ConstBufferView(x.data(), n, DType::kFloat32));
      Result<MessageInfo> info = inspect(msg.data(), msg.size());
      ASSERT_TRUE(info.ok());
      const uint8_t* payload = msg.data() + kMessageHeaderBytes;
      uint32_t flag = 0;
      // Accumulate.
      std::vector<float> accCpu = testing::gaussian(n, 99), accGpu = accCpu;
      ASSERT_TRUE(c.decodeAccumulate(msg.data(), msg.size(), accCpu.data(), n).ok());
      emulatedDecode(*info, payload, accGpu.data(), cd::outMode(true, DType::kFloat32), &flag);
      ASSERT_EQ(0, std::memcmp(accGpu.data(), accCpu.data(), n * 4)) << "accumulate";
      // Into each output dtype (top-k zeroes the output first, as launchDecodeTopK does).
      for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
        std::vector<uint8_t> outCpu(n * dtypeSize(t), 0xab), outGpu = outCpu;
        if (info->codec == CodecId::kTopK) std::fill(outGpu.begin(), outGpu.end(), 0);
        ASSERT_TRUE(c.decode(msg.data(), msg.size(), BufferView{outCpu.data(), n, t}).ok());
        emulatedDecode(*info, payload, outGpu.data(), cd::outMode(false, t), &flag);
        ASSERT_EQ(outGpu, outCpu) << dtypeName(t);
      }
      EXPECT_EQ(flag, 0u);
    }
  }
}

TEST(CodecsSimt, TopKDecodeFlagsABadIndexAndWritesNothingOutOfRange) {
  const size_t n = 5000;
  const std::vector<float> x = input(n, 5, false);
  const Codec c = testing::makeCodec("topk:fraction=0.01");
  std::vector<uint8_t> msg = testing::encodeOk(c, ConstBufferView(x.data(), n, DType::kFloat32));
  Result<MessageInfo> info = inspect(msg.data(), msg.size());
  ASSERT_TRUE(info.ok());
  const uint32_t huge = 0xfffffff0u;
  std::memcpy(msg.data() + kMessageHeaderBytes + 4 * 3, &huge, 4);
  std::vector<float> acc(n + 64, 0.0f);  // slack past n stays untouched
  uint32_t flag = 0;
  emulatedDecode(*info, msg.data() + kMessageHeaderBytes, acc.data(), 0, &flag);
  EXPECT_NE(flag, 0u);
  for (size_t i = n; i < acc.size(); ++i) ASSERT_EQ(acc[i], 0.0f);
}

}  // namespace
}  // namespace isthmus::kernels
