// GPU codecs and reductions against the CPU references: byte-equal messages and residuals,
// bit-equal decodes (a NaN may carry another NaN payload), device-side detection of corrupt
// messages. Skips without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/codec.h"
#include "kernels/cuda_codecs.h"
#include "kernels/reduce.h"

namespace isthmus::kernels {
namespace {

#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

bool haveGpu() {
  int count = 0;  // left untouched when there is no driver
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

class Gpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!haveGpu()) GTEST_SKIP() << "no CUDA device";
    ASSERT_EQ(cudaStreamCreate(&stream_), cudaSuccess);
  }
  void TearDown() override {
    for (void* p : allocs_) cudaFree(p);
    if (stream_) cudaStreamDestroy(stream_);
  }
  void* devAlloc(size_t bytes) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, bytes ? bytes : 4), cudaSuccess);
    allocs_.push_back(p);
    return p;
  }
  template <typename T>
  T* upload(const std::vector<T>& v) {
    T* p = static_cast<T*>(devAlloc(v.size() * sizeof(T)));
    EXPECT_EQ(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    return p;
  }
  template <typename T>
  std::vector<T> download(const void* p, size_t n) {
    EXPECT_EQ(cudaStreamSynchronize(stream_), cudaSuccess);
    std::vector<T> v(n);
    EXPECT_EQ(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
  }
  cudaStream_t stream_ = nullptr;
  std::vector<void*> allocs_;
};

std::vector<float> testInput(size_t n, uint32_t seed, bool specials) {
  std::mt19937 rng(seed);
  std::student_t_distribution<float> d(3.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  if (n > 700) {
    for (size_t i = 520; i < 600; ++i) v[i] = 1e-41f * static_cast<float>(i % 5);  // denormals
    for (size_t i = 640; i < 660; ++i) v[i] = 0.0f;
    v[661] = -0.0f;
    v[662] = 1e-39f;
    v[663] = 7e4f;  // fp16 overflow
  }
  if (specials && n > 3000) {
    v[1000] = std::numeric_limits<float>::quiet_NaN();
    v[2000] = std::numeric_limits<float>::infinity();
    v[2500] = -std::numeric_limits<float>::infinity();
  }
  return v;
}

std::vector<uint8_t> toDType(const std::vector<float>& x, DType t) {
  std::vector<uint8_t> out(x.size() * dtypeSize(t));
  EXPECT_TRUE(convert(x.data(), DType::kFloat32, out.data(), t, x.size()).ok());
  return out;
}

// Equal bits, except that any NaN may be any other NaN: NaN payloads produced by arithmetic are
// hardware-defined (x86 keeps an operand's payload, CUDA returns the canonical NaN).
bool sameNanAware(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, DType t) {
  if (a.size() != b.size()) return false;
  const size_t w = dtypeSize(t);
  for (size_t i = 0; i < a.size(); i += w) {
    if (std::memcmp(&a[i], &b[i], w) == 0) continue;
    uint32_t x = 0, y = 0;
    std::memcpy(&x, &a[i], w);
    std::memcpy(&y, &b[i], w);
    auto isNan = [&](uint32_t u) {
      if (t == DType::kFloat32) return (u & 0x7fffffffu) > 0x7f800000u;
      if (t == DType::kFloat16) return (u & 0x7fffu) > 0x7c00u;
      return (u & 0x7fffu) > 0x7f80u;
    };
    if (!(isNan(x) && isNan(y))) {
      ADD_FAILURE() << "element " << i / w << " differs: 0x" << std::hex << x << " vs 0x" << y;
      return false;
    }
  }
  return true;
}

std::vector<uint8_t> bytesOf(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Messages equal byte for byte; with non-finite inputs, equal headers and NaN-aware equal decodes.
void expectSameMessage(const Codec& c, const std::vector<uint8_t>& gpu,
                       const std::vector<uint8_t>& cpu, size_t n, bool specials) {
  if (gpu == cpu) return;
  // Only NaN payloads may differ, and only where the input had non-finite values.
  ASSERT_TRUE(specials || c.spec().blockSize == 0) << "messages differ";
  ASSERT_EQ(gpu.size(), cpu.size());
  ASSERT_EQ(0, std::memcmp(gpu.data(), cpu.data(), kMessageHeaderBytes));
  std::vector<float> dg(n), dc(n);
  ASSERT_TRUE(c.decode(gpu.data(), gpu.size(), BufferView{dg.data(), n}).ok());
  ASSERT_TRUE(c.decode(cpu.data(), cpu.size(), BufferView{dc.data(), n}).ok());
  ASSERT_TRUE(sameNanAware(bytesOf(dg), bytesOf(dc), DType::kFloat32));
}

const char* kCodecs[] = {"fp32",
                         "fp16",
                         "bf16",
                         "int8",
                         "int4",
                         "fp8",
                         "int8:block=64",
                         "int4:block=256",
                         "fp8:block=32",
                         "topk:fraction=0.01",
                         "topk:fraction=0.3"};

TEST_F(Gpu, EncodeMatchesCpuByteForByte) {
  for (size_t n : {size_t{1}, size_t{9}, size_t{1000}, size_t{4133}, size_t{(1 << 20) + 3}}) {
    for (bool specials : {false, true}) {
      auto x32 = testInput(n, 7 + n, specials);
      for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
        auto xb = toDType(x32, t);
        void* dx = upload(xb);
        for (const char* name : kCodecs) {
          SCOPED_TRACE(std::string(name) + " n=" + std::to_string(n) + " " + dtypeName(t) +
                       (specials ? " specials" : ""));
          Result<Codec> c = Codec::create(name);
          ASSERT_TRUE(c.ok());
          const size_t cap = c->maxEncodedBytes(n, t);
          std::vector<float> r(n);
          std::mt19937 rng(3);
          std::normal_distribution<float> nd(0, 0.01f);
          for (auto& e : r) e = nd(rng);
          float* dr = upload(r);
          uint8_t* dmsg = static_cast<uint8_t*>(devAlloc(cap));
          ConstBufferView dv(dx, n, t, MemoryKind::kCuda, 0);
          // With error feedback.
          std::vector<uint8_t> msg(cap);
          ASSERT_TRUE(c->encodeWithErrorFeedback(ConstBufferView(xb.data(), n, t), r.data(),
                                                 msg.data(), cap)
                          .ok());
          auto w = cuda::encodeWithErrorFeedback(c->spec(), dv, dr, dmsg, cap, stream_);
          ASSERT_TRUE(w.ok()) << w.status().toString();
          ASSERT_EQ(*w, cap);
          auto gmsg = download<uint8_t>(dmsg, cap);
          auto gr = download<float>(dr, n);
          expectSameMessage(*c, gmsg, msg, n, specials);
          ASSERT_TRUE(sameNanAware(bytesOf(gr), bytesOf(r), DType::kFloat32));
          // Plain encode.
          ASSERT_TRUE(c->encode(ConstBufferView(xb.data(), n, t), msg.data(), cap).ok());
          ASSERT_TRUE(cuda::encode(c->spec(), dv, dmsg, cap, stream_).ok());
          expectSameMessage(*c, download<uint8_t>(dmsg, cap), msg, n, specials);
        }
      }
    }
  }
}

// Inputs where the sampled threshold cannot work (ties everywhere, all zeros, a few spikes): the
// GPU reads every tile directly (the exact full-array select). Inputs whose scale changes across
// the buffer (steps; segments scaled by 10^-3 .. 10^3): whole tiles overflow their candidate slots
// and are read directly beside the others. Both must still match the CPU.
TEST_F(Gpu, TopKFallbackPathMatchesCpu) {
  const size_t n = 300000;
  std::vector<std::vector<float>> inputs;
  inputs.push_back(std::vector<float>(n, 1.0f));
  inputs.push_back(std::vector<float>(n, 0.0f));
  std::vector<float> spikes(n, 0.0f);
  for (size_t i = 0; i < n; i += 997) spikes[i] = static_cast<float>(i % 13) - 6.0f;
  inputs.push_back(spikes);
  std::vector<float> steps(n);
  for (size_t i = 0; i < n; ++i) steps[i] = static_cast<float>(i / 50000);
  inputs.push_back(steps);
  std::vector<float> mixed = testInput(n, 17, false);
  for (size_t i = 0; i < n; ++i)
    mixed[i] *= std::pow(10.0f, static_cast<float>((i / 20000) % 7) - 3);
  inputs.push_back(mixed);
  for (const char* name : {"topk:fraction=0.01", "topk:fraction=0.5", "topk:fraction=1"}) {
    Result<Codec> c = Codec::create(name);
    ASSERT_TRUE(c.ok());
    for (size_t which = 0; which < inputs.size(); ++which) {
      SCOPED_TRACE(std::string(name) + " input " + std::to_string(which));
      const auto& x = inputs[which];
      const size_t cap = c->maxEncodedBytes(n, DType::kFloat32);
      std::vector<float> r(n, 0.0f);
      float* dr = upload(r);
      float* dx = upload(x);
      uint8_t* dmsg = static_cast<uint8_t*>(devAlloc(cap));
      std::vector<uint8_t> msg(cap);
      ASSERT_TRUE(c->encodeWithErrorFeedback(ConstBufferView(x.data(), n, DType::kFloat32),
                                             r.data(), msg.data(), cap)
                      .ok());
      ASSERT_TRUE(cuda::encodeWithErrorFeedback(
                      c->spec(), ConstBufferView(dx, n, DType::kFloat32, MemoryKind::kCuda, 0), dr,
                      dmsg, cap, stream_)
                      .ok());
      ASSERT_EQ(download<uint8_t>(dmsg, cap), msg);
      ASSERT_TRUE(sameNanAware(bytesOf(download<float>(dr, n)), bytesOf(r), DType::kFloat32));
    }
  }
}

TEST_F(Gpu, DecodeMatchesCpuBitForBit) {
  for (size_t n : {size_t{1}, size_t{1000}, size_t{4133}, size_t{(1 << 20) + 5}}) {
    auto x = testInput(n, 11 + n, true);
    for (const char* name : kCodecs) {
      SCOPED_TRACE(std::string(name) + " n=" + std::to_string(n));
      Result<Codec> c = Codec::create(name);
      ASSERT_TRUE(c.ok());
      std::vector<uint8_t> msg(c->maxEncodedBytes(n, DType::kFloat32));
      ASSERT_TRUE(
          c->encode(ConstBufferView(x.data(), n, DType::kFloat32), msg.data(), msg.size()).ok());
      auto info = inspect(msg.data(), msg.size());
      ASSERT_TRUE(info.ok());
      uint8_t* dmsg = upload(msg);
      uint32_t* flag = static_cast<uint32_t*>(devAlloc(4));
      CUDA_OK(cudaMemset(flag, 0, 4));
      // Accumulate.
      auto acc = testInput(n, 99, false);
      float* dacc = upload(acc);
      ASSERT_TRUE(c->decodeAccumulate(msg.data(), msg.size(), acc.data(), n).ok());
      ASSERT_TRUE(cuda::decodeAccumulate(*info, dmsg, msg.size(), dacc, n, flag, stream_).ok());
      ASSERT_TRUE(sameNanAware(bytesOf(download<float>(dacc, n)), bytesOf(acc), DType::kFloat32));
      // Into each output dtype.
      for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
        std::vector<uint8_t> out(n * dtypeSize(t), 0xab);
        void* dout = upload(out);
        ASSERT_TRUE(c->decode(msg.data(), msg.size(), BufferView{out.data(), n, t}).ok());
        ASSERT_TRUE(cuda::decode(*info, dmsg, msg.size(),
                                 BufferView{dout, n, t, MemoryKind::kCuda, 0}, flag, stream_)
                        .ok());
        ASSERT_TRUE(sameNanAware(download<uint8_t>(dout, out.size()), out, t)) << dtypeName(t);
      }
      EXPECT_EQ(download<uint32_t>(flag, 1)[0], 0u);
    }
  }
}

TEST_F(Gpu, CorruptMessagesRaiseTheDeviceFlag) {
  const size_t n = 5000;
  auto x = testInput(n, 5, false);
  for (const char* name : {"int8", "topk:fraction=0.01"}) {
    Result<Codec> c = Codec::create(name);
    ASSERT_TRUE(c.ok());
    std::vector<uint8_t> msg(c->maxEncodedBytes(n, DType::kFloat32));
    ASSERT_TRUE(
        c->encode(ConstBufferView(x.data(), n, DType::kFloat32), msg.data(), msg.size()).ok());
    auto info = inspect(msg.data(), msg.size());
    ASSERT_TRUE(info.ok());
    // A device copy whose header differs from what the host inspected.
    auto bad = msg;
    bad[10] ^= 1;
    float* dacc = upload(std::vector<float>(n, 0.0f));
    uint32_t* flag = static_cast<uint32_t*>(devAlloc(4));
    CUDA_OK(cudaMemset(flag, 0, 4));
    ASSERT_TRUE(
        cuda::decodeAccumulate(*info, upload(bad), bad.size(), dacc, n, flag, stream_).ok());
    EXPECT_NE(download<uint32_t>(flag, 1)[0], 0u) << name;
    if (info->codec == CodecId::kTopK) {
      auto badIdx = msg;
      uint32_t huge = 0xfffffff0u;
      std::memcpy(badIdx.data() + kMessageHeaderBytes + 4 * 3, &huge, 4);
      CUDA_OK(cudaMemset(flag, 0, 4));
      ASSERT_TRUE(
          cuda::decodeAccumulate(*info, upload(badIdx), badIdx.size(), dacc, n, flag, stream_)
              .ok());
      EXPECT_NE(download<uint32_t>(flag, 1)[0], 0u);
    }
    // Host-side checks: count and size mismatches never launch.
    EXPECT_EQ(
        cuda::decodeAccumulate(*info, upload(msg), msg.size(), dacc, n - 1, flag, stream_).code(),
        StatusCode::kCorrupt);
    EXPECT_EQ(
        cuda::decodeAccumulate(*info, upload(msg), msg.size() - 1, dacc, n, flag, stream_).code(),
        StatusCode::kCorrupt);
  }
}

TEST_F(Gpu, ReductionsMatchCpu) {
  const size_t n = (1 << 20) + 7;
  auto a = testInput(n, 1, true), b = testInput(n, 2, true);
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    auto ha = toDType(a, t), hb = toDType(b, t);
    void* da = upload(ha);
    void* db = upload(hb);
    ASSERT_TRUE(sumInto(ha.data(), hb.data(), n, t).ok());
    ASSERT_TRUE(cuda::sumInto(da, db, n, t, stream_).ok());
    ASSERT_TRUE(sameNanAware(download<uint8_t>(da, ha.size()), ha, t)) << dtypeName(t);
    ASSERT_TRUE(scale(ha.data(), n, t, 1.0f / 3).ok());
    ASSERT_TRUE(cuda::scale(da, n, t, 1.0f / 3, stream_).ok());
    ASSERT_TRUE(sameNanAware(download<uint8_t>(da, ha.size()), ha, t)) << dtypeName(t);
    for (DType o : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
      std::vector<uint8_t> out(n * dtypeSize(o));
      void* dout = devAlloc(out.size());
      ASSERT_TRUE(convert(ha.data(), t, out.data(), o, n).ok());
      ASSERT_TRUE(cuda::convert(da, t, dout, o, n, stream_).ok());
      ASSERT_TRUE(sameNanAware(download<uint8_t>(dout, out.size()), out, o))
          << dtypeName(t) << "->" << dtypeName(o);
    }
  }
}

TEST(GpuAvailability, ReportsWithoutCrashing) {
  // Runs everywhere: without a GPU available() is false and nothing else is called.
  EXPECT_EQ(cuda::available(), haveGpu());
}

}  // namespace
}  // namespace isthmus::kernels
