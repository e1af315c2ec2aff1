// Collectives on CUDA buffers, staged through pinned host memory (collectives/device_staging.h),
// give the same bits as the same collectives on host buffers with the same input, over 2 centers x
// 2 ranks running as threads on one GPU: the allreduce (hier_staged_gpu; exact and int8 codecs,
// fp32 and bf16, each with fresh error-feedback state), broadcast, all_gather and reduce_scatter.
// Skips without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "collectives/communicator.h"
#include "kernels/cuda_codecs.h"
#include "tests/unit/collectives/comm_threads.h"

namespace isthmus {
namespace {

using coll::Communicator;
using coll::ReduceOp;

void fill(std::vector<uint8_t>& bytes, DType dtype, int rank) {
  const size_t n = bytes.size() / dtypeSize(dtype);
  for (size_t i = 0; i < n; ++i) {
    const float v =
        static_cast<float>((i * 7 + static_cast<size_t>(rank) * 13) % 97) / 17.0f - 2.5f;
    if (dtype == DType::kFloat32) {
      std::memcpy(bytes.data() + i * 4, &v, 4);
    } else {  // bf16: the upper half of the fp32 bits (the values are exact in bf16's range)
      uint32_t u;
      std::memcpy(&u, &v, 4);
      const uint16_t h = static_cast<uint16_t>(u >> 16);
      std::memcpy(bytes.data() + i * 2, &h, 2);
    }
  }
}

void sameAsHost(const char* codec, DType dtype, size_t count) {
  if (!kernels::cuda::available()) GTEST_SKIP() << "no CUDA device";
  testing::runRanksAsThreads({2, 2}, {}, [&](Communicator& comm) {
    const size_t bytes = count * dtypeSize(dtype);
    std::vector<uint8_t> host(bytes), fromGpu(bytes);
    fill(host, dtype, comm.rank());
    void* dev = nullptr;
    ASSERT_EQ(cudaMalloc(&dev, bytes), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dev, host.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
    coll::CollectiveOptions onHost, onGpu;
    onHost.interCodec = onGpu.interCodec = codec;
    onHost.errorFeedbackKey = "host";
    onGpu.errorFeedbackKey = "gpu";
    Status h = comm.allreduce(BufferView{host.data(), count, dtype}, ReduceOp::kAvg, onHost)
                   ->wait(Deadline::afterSeconds(60));
    Status g =
        comm.allreduce(BufferView{dev, count, dtype, MemoryKind::kCuda, 0}, ReduceOp::kAvg, onGpu)
            ->wait(Deadline::afterSeconds(60));
    EXPECT_TRUE(h.ok()) << h.toString();
    EXPECT_TRUE(g.ok()) << g.toString();
    ASSERT_EQ(cudaMemcpy(fromGpu.data(), dev, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    cudaFree(dev);
    EXPECT_EQ(std::memcmp(fromGpu.data(), host.data(), bytes), 0)
        << "rank " << comm.rank() << ": GPU result differs from the host result";
  });
}

// A device copy of `host` (cudaMalloc'd; freed by the caller).
void* toDevice(const std::vector<uint8_t>& host) {
  void* dev = nullptr;
  EXPECT_EQ(cudaMalloc(&dev, host.empty() ? 1 : host.size()), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(dev, host.data(), host.size(), cudaMemcpyHostToDevice), cudaSuccess);
  return dev;
}

std::vector<uint8_t> fromDevice(const void* dev, size_t bytes) {
  std::vector<uint8_t> host(bytes);
  EXPECT_EQ(cudaMemcpy(host.data(), dev, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  return host;
}

// op(in, out) run once on host views and once on GPU views of the same input (`inCount` elements
// per rank, `outCount` out) must leave the same output bytes.
template <typename Op>
void leaderSameAsHost(size_t inCount, size_t outCount, bool inPlace, Op op) {
  if (!kernels::cuda::available()) GTEST_SKIP() << "no CUDA device";
  testing::runRanksAsThreads({2, 2}, {}, [&](Communicator& comm) {
    const DType t = DType::kFloat32;
    std::vector<uint8_t> in(inCount * 4), out(outCount * 4, 0);
    fill(in, t, comm.rank());
    if (inPlace) out = in;
    void* devIn = toDevice(in);
    void* devOut = inPlace ? devIn : toDevice(out);
    Status h = op(comm, ConstBufferView{in.data(), inCount, t},
                  BufferView{inPlace ? in.data() : out.data(), outCount, t})
                   ->wait(Deadline::afterSeconds(60));
    Status g = op(comm, ConstBufferView{devIn, inCount, t, MemoryKind::kCuda, 0},
                  BufferView{devOut, outCount, t, MemoryKind::kCuda, 0})
                   ->wait(Deadline::afterSeconds(60));
    EXPECT_TRUE(h.ok()) << h.toString();
    EXPECT_TRUE(g.ok()) << g.toString();
    const std::vector<uint8_t>& want = inPlace ? in : out;
    EXPECT_EQ(fromDevice(devOut, want.size()), want)
        << "rank " << comm.rank() << ": GPU result differs from the host result";
    cudaFree(devIn);
    if (!inPlace) cudaFree(devOut);
  });
}

TEST(StagedLeaderGpu, Broadcast) {
  leaderSameAsHost(5000, 5000, true, [](Communicator& c, ConstBufferView, BufferView b) {
    return c.broadcast(b, 3, {});
  });
}

TEST(StagedLeaderGpu, AllGather) {
  leaderSameAsHost(1001, 4004, false, [](Communicator& c, ConstBufferView in, BufferView out) {
    return c.allGather(in, out, {});
  });
}

TEST(StagedLeaderGpu, ReduceScatterInt8) {
  leaderSameAsHost(4 * 4099, 4099, false, [](Communicator& c, ConstBufferView in, BufferView out) {
    coll::CollectiveOptions o;
    o.interCodec = "int8";
    o.errorFeedbackKey = in.onDevice() ? "gpu" : "host";
    return c.reduceScatter(in, out, ReduceOp::kAvg, o);
  });
}

TEST(StagedAllreduceGpu, ExactFp32) { sameAsHost("fp32", DType::kFloat32, (1 << 20) + 3); }
TEST(StagedAllreduceGpu, Int8Fp32) { sameAsHost("int8", DType::kFloat32, (1 << 20) + 3); }
TEST(StagedAllreduceGpu, Int8Bf16) { sameAsHost("int8", DType::kBFloat16, 4099); }
TEST(StagedAllreduceGpu, EmptyAndOneElement) {
  sameAsHost("int8", DType::kFloat32, 0);
  sameAsHost("int8", DType::kFloat32, 1);
}

}  // namespace
}  // namespace isthmus
