// DeviceStaging (collectives/device_staging.h) with a host-memory stand-in for the GPU: which
// buffers are copied which way, where the host stand-ins live, and what happens on errors. The
// CUDA copies themselves are exercised by tests/gpu/collectives on a GPU.
#include "collectives/device_staging.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

namespace isthmus::coll {
namespace {

// "GPU" buffers are plain host vectors behind views marked kCuda; copies are memcpy, counted.
struct FakeGpu {
  int allocs = 0, frees = 0, toHost = 0, toDevice = 0;
  size_t lastAlloc = 0;
  Status failToHost;

  StagingCopier copier() {
    return StagingCopier{[this](size_t bytes) -> Result<void*> {
                           ++allocs;
                           lastAlloc = bytes;
                           return std::malloc(bytes ? bytes : 1);
                         },
                         [this](void* p) {
                           ++frees;
                           std::free(p);
                         },
                         [this](void* host, const void* gpu, size_t bytes, int, StreamHandle) {
                           ++toHost;
                           if (!failToHost.ok()) return failToHost;
                           std::memcpy(host, gpu, bytes);
                           return okStatus();
                         },
                         [this](void* gpu, const void* host, size_t bytes, int, StreamHandle) {
                           ++toDevice;
                           std::memcpy(gpu, host, bytes);
                           return okStatus();
                         }};
  }
};

BufferView gpuView(std::vector<float>& v) {
  return BufferView{v.data(), v.size(), DType::kFloat32, MemoryKind::kCuda, 0};
}

std::vector<float> iota(size_t n, float start) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST(DeviceStaging, HostViewsRunTheOpOnThemselves) {
  FakeGpu gpu;
  DeviceStaging staging(gpu.copier());
  std::vector<float> a = iota(8, 0), b(8);
  BufferView in{a.data(), 8, DType::kFloat32}, out{b.data(), 8, DType::kFloat32};
  Status s = staging.run(in, out, nullptr, "x", [&](ConstBufferView hi, BufferView ho) {
    EXPECT_EQ(hi.data, a.data());
    EXPECT_EQ(ho.data, b.data());
    return okStatus();
  });
  EXPECT_TRUE(s.ok()) << s.toString();
  EXPECT_EQ(gpu.allocs + gpu.toHost + gpu.toDevice, 0);
}

TEST(DeviceStaging, OneGpuBufferInPlaceIsCopiedOnceEachWay) {
  FakeGpu gpu;
  DeviceStaging staging(gpu.copier());
  std::vector<float> dev = iota(1000, 1);
  BufferView v = gpuView(dev);
  Status s = staging.run(v, v, nullptr, "allreduce", [&](ConstBufferView hi, BufferView ho) {
    EXPECT_EQ(hi.data, ho.data);  // one stand-in for the in-place buffer
    EXPECT_NE(ho.data, dev.data());
    EXPECT_EQ(ho.memory, MemoryKind::kHostPinned);
    EXPECT_EQ(static_cast<const float*>(hi.data)[999], 1000.0f);
    for (size_t i = 0; i < ho.count; ++i) static_cast<float*>(ho.data)[i] *= 2;
    return okStatus();
  });
  EXPECT_TRUE(s.ok()) << s.toString();
  EXPECT_EQ(gpu.toHost, 1);
  EXPECT_EQ(gpu.toDevice, 1);
  EXPECT_EQ(gpu.lastAlloc, 4000u);
  EXPECT_EQ(dev[0], 2.0f);
  EXPECT_EQ(dev[999], 2000.0f);
}

TEST(DeviceStaging, DistinctGpuInputAndOutputGetSeparateRegions) {
  FakeGpu gpu;
  DeviceStaging staging(gpu.copier());
  std::vector<float> in = iota(5, 10), out(20, -1);
  Status s = staging.run(gpuView(in), gpuView(out), nullptr, "all_gather",
                         [&](ConstBufferView hi, BufferView ho) {
                           const float* x = static_cast<const float*>(hi.data);
                           float* y = static_cast<float*>(ho.data);
                           // The regions do not overlap.
                           EXPECT_TRUE(x + hi.count <= y || y + ho.count <= x);
                           for (size_t i = 0; i < ho.count; ++i) y[i] = x[i % hi.count];
                           return okStatus();
                         });
  EXPECT_TRUE(s.ok()) << s.toString();
  EXPECT_EQ(gpu.toHost, 1);  // the input only: the output is written, not read
  EXPECT_EQ(gpu.toDevice, 1);
  EXPECT_EQ(out[0], 10.0f);
  EXPECT_EQ(out[19], 14.0f);
  EXPECT_EQ(in, iota(5, 10));
}

TEST(DeviceStaging, OnlyTheGpuSideOfAMixedCallIsStaged) {
  FakeGpu gpu;
  DeviceStaging staging(gpu.copier());
  std::vector<float> host = iota(4, 0), dev(4, 0);
  BufferView hv{host.data(), 4, DType::kFloat32};
  Status s = staging.run(hv, gpuView(dev), nullptr, "x", [&](ConstBufferView hi, BufferView ho) {
    EXPECT_EQ(hi.data, host.data());
    std::memcpy(ho.data, hi.data, ho.bytes());
    return okStatus();
  });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(gpu.toHost, 0);
  EXPECT_EQ(gpu.toDevice, 1);
  EXPECT_EQ(dev, host);

  std::vector<float> back(4, 0);
  BufferView bv{back.data(), 4, DType::kFloat32};
  s = staging.run(gpuView(dev), bv, nullptr, "x", [&](ConstBufferView hi, BufferView ho) {
    EXPECT_EQ(ho.data, back.data());
    std::memcpy(ho.data, hi.data, ho.bytes());
    return okStatus();
  });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(gpu.toHost, 1);
  EXPECT_EQ(gpu.toDevice, 1);
  EXPECT_EQ(back, host);
}

TEST(DeviceStaging, AFailedOpCopiesNothingBack) {
  FakeGpu gpu;
  DeviceStaging staging(gpu.copier());
  std::vector<float> dev = iota(16, 0);
  Status s = staging.run(gpuView(dev), gpuView(dev), nullptr, "broadcast",
                         [&](ConstBufferView, BufferView ho) {
                           static_cast<float*>(ho.data)[0] = 99;
                           return timeoutError("peer too slow");
                         });
  EXPECT_EQ(s.code(), StatusCode::kTimeout);
  EXPECT_EQ(gpu.toDevice, 0);
  EXPECT_EQ(dev[0], 0.0f);
}

TEST(DeviceStaging, CopyErrorsNameTheCollectiveAndTheOpDoesNotRun) {
  FakeGpu gpu;
  gpu.failToHost = cudaError("cudaMemcpyAsync: an illegal memory access was encountered");
  DeviceStaging staging(gpu.copier());
  std::vector<float> dev(8);
  bool ran = false;
  Status s = staging.run(gpuView(dev), gpuView(dev), nullptr, "reduce_scatter",
                         [&](ConstBufferView, BufferView) {
                           ran = true;
                           return okStatus();
                         });
  EXPECT_EQ(s.code(), StatusCode::kCudaError);
  EXPECT_NE(s.message().find("reduce_scatter: staging the GPU input in host memory"),
            std::string::npos)
      << s.message();
  EXPECT_FALSE(ran);
}

TEST(DeviceStaging, PinnedMemoryGrowsOnlyWhenNeededAndIsFreedOnce) {
  FakeGpu gpu;
  {
    DeviceStaging staging(gpu.copier());
    auto noop = [](ConstBufferView, BufferView) { return okStatus(); };
    std::vector<float> big(1000), small(10), bigger(5000), empty;
    EXPECT_TRUE(staging.run(gpuView(big), gpuView(big), nullptr, "x", noop).ok());
    EXPECT_TRUE(staging.run(gpuView(small), gpuView(small), nullptr, "x", noop).ok());
    EXPECT_TRUE(staging.run(gpuView(empty), gpuView(empty), nullptr, "x", noop).ok());
    EXPECT_EQ(gpu.allocs, 1);
    EXPECT_TRUE(staging.run(gpuView(bigger), gpuView(bigger), nullptr, "x", noop).ok());
    EXPECT_EQ(gpu.allocs, 2);
    EXPECT_EQ(gpu.frees, 1);
  }
  EXPECT_EQ(gpu.frees, 2);  // the destructor
}

}  // namespace
}  // namespace isthmus::coll
