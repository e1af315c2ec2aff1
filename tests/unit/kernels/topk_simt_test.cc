// The GPU top-k encode's device code (kernels/cuda/topk_kernels.cuh), launched as
// kernels/cuda/topk.cu launches it but run by the SIMT emulator (simt/simt.h) on the CPU, must
// write the same payload and leave the same residual, bit for bit, as the CPU top-k. This runs the
// real kernel source in CI without a GPU: its selection, ordering, tie-breaking, tile overflow and
// full-array paths, and every barrier. (On a GPU, tests/gpu/kernels checks the compiled kernels.)
#include "tests/unit/kernels/simt/simt.h"  // before the device code: it defines the CUDA keywords
//
#include "kernels/cuda/topk_kernels.cuh"
//
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "kernels/codec.h"
#include "tests/unit/kernels/test_util.h"

namespace isthmus::kernels {
namespace {

namespace topk = cuda::detail::topk;

// What kernels/cuda/topk.cu's runTopK launches, on the emulator; `sms` sets the select grid.
// The workspace starts as garbage, as cudaMallocAsync's does.
template <int kIn, bool kEf>
void emulatedEncode(uint32_t kept, const void* x, size_t n, float* r, uint8_t* payload, int sms) {
  const topk::Plan p = topk::plan(n, kept, sms);
  std::unique_ptr<uint8_t, decltype(&std::free)> ws(
      static_cast<uint8_t*>(std::aligned_alloc(256, topk::alignUp(p.bytes))), &std::free);
  std::memset(ws.get(), 0xab, p.bytes);
  const topk::SelectArgs a = topk::selectArgs(p, ws.get(), x, r, n, kept, payload);
  const unsigned t = topk::kThreads, g = static_cast<unsigned>(p.grid);
  simt::launch(1, topk::kSampleThreads,
               [&] { topk::sampleKernel<kIn, kEf>(x, r, p.samples, p.stride, p.rho, a.st); });
  simt::launch(static_cast<unsigned>(p.tiles), t, [&] {
    topk::fusedCandKernel<kIn, kEf>(x, n, r, a.st, p.capTile, a.candIdx, a.candKey, a.tileCount);
  });
  for (int pass = 0; pass < 3; ++pass) {
    simt::launch(g, t, [&] { topk::histKernel<kIn, kEf>(a, pass); });
  }
  simt::launch(g, t, [&] { topk::countKernel<kIn, kEf>(a); });
  simt::launch(g, t, [&] { topk::writeKernel<kIn, kEf>(a); });
}

enum class Input { kNormal, kTies, kZeros, kSpikes, kMixedScales, kSpecials };

const char* inputName(Input in) {
  switch (in) {
    case Input::kNormal: return "normal";
    case Input::kTies: return "ties";
    case Input::kZeros: return "zeros";
    case Input::kSpikes: return "spikes";
    case Input::kMixedScales: return "mixed scales";
    case Input::kSpecials: return "Inf/NaN";
  }
  return "?";
}

std::vector<float> makeInput(Input in, size_t n, uint32_t seed) {
  std::vector<float> x = testing::gaussian(n, seed);
  switch (in) {
    case Input::kNormal: break;
    case Input::kTies:
      for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 3);
      break;
    case Input::kZeros: x.assign(n, 0.0f); break;
    case Input::kSpikes:
      x.assign(n, 0.0f);
      for (size_t i = 0; i < n; i += 97) x[i] = static_cast<float>(i % 13) - 6.0f;
      break;
    case Input::kMixedScales:  // whole tiles overflow their candidate slots
      for (size_t i = 0; i < n; ++i)
        x[i] *= std::pow(10.0f, static_cast<float>((i / 5000) % 7) - 3);
      break;
    case Input::kSpecials:
      for (size_t i = 5; i < n; i += 1013) {
        x[i] = (i / 1013) % 3 == 0   ? std::numeric_limits<float>::infinity()
               : (i / 1013) % 3 == 1 ? -std::numeric_limits<float>::infinity()
                                     : std::numeric_limits<float>::quiet_NaN();
      }
      break;
  }
  return x;
}

// One case: the CPU codec against the emulated GPU encode, with and without error feedback.
void expectSameAsCpu(Input in, size_t n, double fraction, int sms) {
  SCOPED_TRACE(std::string(inputName(in)) + " n=" + std::to_string(n) +
               " fraction=" + std::to_string(fraction) + " sms=" + std::to_string(sms));
  const Codec c = testing::makeCodec("topk:fraction=" + std::to_string(fraction));
  const std::vector<float> x = makeInput(in, n, static_cast<uint32_t>(n + 7));
  const ConstBufferView xv(x.data(), n, DType::kFloat32);
  for (bool ef : {true, false}) {
    std::vector<float> rCpu = testing::gaussian(n, 3, 0.01f), rGpu = rCpu;
    const std::vector<uint8_t> msg = testing::encodeOk(c, xv, ef ? rCpu.data() : nullptr);
    Result<MessageInfo> info = inspect(msg.data(), msg.size());
    ASSERT_TRUE(info.ok()) << info.status().toString();
    std::vector<uint8_t> payload(msg.size() - kMessageHeaderBytes, 0xcd);
    if (ef) {
      emulatedEncode<0, true>(info->kept, x.data(), n, rGpu.data(), payload.data(), sms);
    } else {
      emulatedEncode<0, false>(info->kept, x.data(), n, nullptr, payload.data(), sms);
    }
    EXPECT_EQ(0, std::memcmp(payload.data(), msg.data() + kMessageHeaderBytes, payload.size()))
        << (ef ? "with" : "without") << " error feedback: payloads differ";
    if (ef) {
      EXPECT_EQ(0, std::memcmp(rGpu.data(), rCpu.data(), n * 4)) << "residuals differ";
    }
  }
}

TEST(TopkSimt, SmallAndOddSizes) {
  for (size_t n : {size_t{1}, size_t{2}, size_t{33}, size_t{4095}, size_t{4097}}) {
    for (double f : {0.01, 0.5, 1.0}) expectSameAsCpu(Input::kNormal, n, f, 1);
  }
}

TEST(TopkSimt, EveryInputKindAcrossGrids) {
  for (Input in : {Input::kNormal, Input::kTies, Input::kZeros, Input::kSpikes, Input::kMixedScales,
                   Input::kSpecials}) {
    for (int sms : {1, 3}) expectSameAsCpu(in, 40000, 0.01, sms);
  }
}

TEST(TopkSimt, LargerFractions) {
  expectSameAsCpu(Input::kNormal, 70001, 0.3, 2);
  expectSameAsCpu(Input::kMixedScales, 70001, 0.05, 132);
  expectSameAsCpu(Input::kTies, 20000, 0.999, 2);
}

// 147 tiles: select grids of 12 blocks (96 warps, uneven tile runs) and 19 blocks (one tile per
// warp but the last), as on a GPU with 3 and with 132 multiprocessors.
TEST(TopkSimt, ManyBlocks) {
  expectSameAsCpu(Input::kNormal, 600000, 0.01, 132);
  expectSameAsCpu(Input::kMixedScales, 600000, 0.01, 3);
  expectSameAsCpu(Input::kSpikes, 600000, 0.01, 3);
}

TEST(TopkSimt, Bf16InputMatchesTheCpu) {
  const size_t n = 9000;
  const Codec c = testing::makeCodec("topk:fraction=0.02");
  const std::vector<float> x32 = testing::gaussian(n, 5);
  std::vector<uint16_t> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = math::floatToBf16(x32[i]);
  std::vector<float> rCpu(n, 0.0f), rGpu(n, 0.0f);
  const std::vector<uint8_t> msg =
      testing::encodeOk(c, ConstBufferView(x.data(), n, DType::kBFloat16), rCpu.data());
  Result<MessageInfo> info = inspect(msg.data(), msg.size());
  ASSERT_TRUE(info.ok());
  std::vector<uint8_t> payload(msg.size() - kMessageHeaderBytes);
  emulatedEncode<2, true>(info->kept, x.data(), n, rGpu.data(), payload.data(), 2);
  EXPECT_EQ(0, std::memcmp(payload.data(), msg.data() + kMessageHeaderBytes, payload.size()));
  EXPECT_EQ(0, std::memcmp(rGpu.data(), rCpu.data(), n * 4));
}

// The emulator itself: a barrier that part of a block never reaches is reported, not hung on.
TEST(TopkSimt, EmulatorReportsADeadlock) {
  EXPECT_THROW(simt::launch(1, 64,
                            [] {
                              if (threadIdx.x < 32) __syncthreads();
                            }),
               simt::Deadlock);
  // So is a warp collective that half of a warp never reaches.
  EXPECT_THROW(simt::launch(1, 32,
                            [] {
                              if (threadIdx.x < 16) __ballot_sync(0xffffffffu, true);
                            }),
               simt::Deadlock);
  // and is usable again afterwards
  unsigned sum = 0;
  simt::launch(2, 64, [&] { atomicAdd(&sum, __popc(__ballot_sync(0xffffffffu, true))); });
  EXPECT_EQ(sum, 2u * 64u * 32u);
}

}  // namespace
}  // namespace isthmus::kernels
