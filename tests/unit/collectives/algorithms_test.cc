// Allreduce algorithm selection (collectives/algorithms.h): host buffers take the host pipeline,
// GPU buffers the staged path when the build has CUDA and a GPU is visible, and a call nothing can
// run is kNotSupported naming every algorithm's reason.
#include "collectives/algorithms.h"

#include <gtest/gtest.h>

namespace isthmus::coll {
namespace {

TEST(AllreduceAlgorithms, HostBuffersTakeTheHostPipeline) {
  for (MemoryKind m : {MemoryKind::kHost, MemoryKind::kHostPinned}) {
    auto a = selectAllreduce({1024, DType::kBFloat16, m, 2, 4, false});
    ASSERT_TRUE(a.ok()) << a.status().toString();
    EXPECT_EQ(*a, "hier_pipelined_host");
  }
}

TEST(AllreduceAlgorithms, GpuBuffersAreStagedWhenCudaIsThere) {
  auto a = selectAllreduce({1024, DType::kFloat16, MemoryKind::kCuda, 2, 4, true});
  ASSERT_TRUE(a.ok()) << a.status().toString();
  EXPECT_EQ(*a, "hier_staged_gpu");
}

TEST(AllreduceAlgorithms, NothingRunsItIsNotSupportedWithEveryReason) {
  auto a = selectAllreduce({1024, DType::kFloat32, MemoryKind::kCuda, 2, 4, false});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kNotSupported);
  const std::string m = a.status().message();
  EXPECT_NE(m.find("hier_pipelined_host: buffer is in GPU memory"), std::string::npos) << m;
  EXPECT_NE(m.find("hier_staged_gpu: this build of Isthmus has no CUDA, or no GPU is visible"),
            std::string::npos)
      << m;
  auto ints = selectAllreduce({1024, DType::kInt32, MemoryKind::kHost, 2, 4, false});
  ASSERT_FALSE(ints.ok());
  EXPECT_NE(ints.status().message().find("dtype int32 is not fp32/fp16/bf16"), std::string::npos)
      << ints.status().message();
}

}  // namespace
}  // namespace isthmus::coll
