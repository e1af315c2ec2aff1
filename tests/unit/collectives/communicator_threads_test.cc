// The Communicator's algorithms with ranks as threads over in-process transports: exactness,
// lossy bounds, bitwise agreement, uneven centers, odd sizes, dtypes, ops, error feedback,
// mismatch detection and the other collectives. The same checks run over UCX in
// tests/multiproc/collectives.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>

#include "collectives/communicator.h"
#include "collectives/hier_layout.h"
#include "kernels/cuda_codecs.h"
#include "runtime/core/hash.h"
#include "runtime/topology.h"
#include "tests/unit/collectives/allreduce_check.h"
#include "tests/unit/collectives/comm_threads.h"

namespace isthmus {
namespace {

using coll::Communicator;
using coll::ReduceOp;
using testing::DataKind;

std::vector<int> centersOf(const std::vector<int>& sizes) {
  std::vector<int> out;
  for (size_t c = 0; c < sizes.size(); ++c) out.insert(out.end(), sizes[c], static_cast<int>(c));
  return out;
}

int codecBits(const std::string& codec) {
  if (codec.rfind("int8", 0) == 0) return 8;
  if (codec.rfind("int4", 0) == 0) return 4;
  if (codec == "fp16" || codec == "bf16") return 16;
  return 32;
}

struct Case {
  std::vector<int> centers;
  std::vector<size_t> sizes;
  std::string codec;
};

void runMatrix(const Case& cs, size_t chunkBytes) {
  coll::CommunicatorOptions opt;
  opt.timeoutSeconds = 60;
  opt.pipelineChunkBytes = chunkBytes;
  const std::vector<int> centerOfRank = centersOf(cs.centers);
  std::mutex mu;
  std::map<std::string, std::set<uint64_t>> hashes;
  testing::runRanksAsThreads(cs.centers, opt, [&](Communicator& comm) {
    for (size_t n : cs.sizes) {
      for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
        for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg}) {
          const bool lossy = codecBits(cs.codec) < 32 && cs.centers.size() > 1;
          DataKind kind = lossy ? DataKind::kFloats : DataKind::kIntegers;
          for (DataKind k : {kind, DataKind::kFloats}) {
            if (lossy && k == DataKind::kIntegers) continue;
            auto x = testing::makeInput(comm.rank(), n, dt, k);
            BufferView b{x.data(), n, dt, MemoryKind::kHost};
            coll::CollectiveOptions o;
            o.interCodec = cs.codec;
            auto w = comm.allreduce(b, op, o);
            Status s = w->wait(Deadline::afterSeconds(60));
            ASSERT_TRUE(s.ok()) << s.toString();
            auto ref = testing::makeReference(centerOfRank, n, dt, k, op);
            Status c = testing::checkAllreduce(x, dt, ref, k, op, comm.worldSize(),
                                               cs.centers.size() > 1 ? codecBits(cs.codec) : 32);
            EXPECT_TRUE(c.ok()) << "rank " << comm.rank() << " n=" << n << " " << dtypeName(dt)
                                << " " << coll::reduceOpName(op) << " codec " << cs.codec << ": "
                                << c.toString();
            std::lock_guard<std::mutex> l(mu);
            hashes[strCat(n, dtypeName(dt), static_cast<int>(op), static_cast<int>(k))].insert(
                fnv1a(x.data(), x.size()));
          }
        }
      }
    }
  });
  for (auto& [key, set] : hashes) EXPECT_EQ(set.size(), 1u) << "ranks disagree on " << key;
}

TEST(HierLayout, SlotsCoverEveryElementOnceForUnevenCenters) {
  for (size_t n : {0ul, 1ul, 7ul, 1023ul, 100003ul}) {
    std::vector<int> sizes{2, 3, 1};
    for (int c = 0; c < 3; ++c) {
      std::vector<int> owner(n, -1);
      for (int l = 0; l < sizes[c]; ++l) {
        coll::HierLayout L(sizes, c, l, n, 1000);
        for (size_t i = 0; i < L.numChunks(); ++i) {
          coll::Range seg = L.segment(i, c, l);
          for (size_t e = seg.begin; e < seg.end; ++e) {
            ASSERT_EQ(owner[e], -1);
            owner[e] = l;
          }
        }
        EXPECT_EQ(L.residual1Size(), [&] {
          size_t s = 0;
          for (size_t i = 0; i < L.numChunks(); ++i) s += L.segment(i, c, l).size();
          return s;
        }());
      }
      for (size_t e = 0; e < n; ++e) ASSERT_NE(owner[e], -1) << e;
    }
  }
}

TEST(CommunicatorThreads, ExactMatrixTwoByTwo) {
  runMatrix({{2, 2}, {0, 1, 7, 1023, 65539}, "fp32"}, 4096);
}
TEST(CommunicatorThreads, ExactMatrixUneven231) {
  runMatrix({{2, 3, 1}, {0, 1, 7, 1023, 65539}, "fp32"}, 4096);
}
TEST(CommunicatorThreads, RingIntraTierMatrix) {
  // The intra tier over the transport's ring instead of cross-memory attach.
  setenv("ISTHMUS_INTRA", "ring", 1);
  runMatrix({{2, 3, 1}, {0, 1, 7, 1023, 65539}, "fp32"}, 4096);
  runMatrix({{3, 2}, {1, 1023, 65539}, "int8"}, 16384);
  unsetenv("ISTHMUS_INTRA");
}
TEST(CommunicatorThreads, ExactMatrixOneCenterAndOneRankPerCenter) {
  runMatrix({{4}, {0, 1, 7, 1023, 65539}, "int8"}, 8192);
  runMatrix({{1, 1}, {0, 1, 7, 1023}, "fp32"}, 8192);
}
TEST(CommunicatorThreads, Int8AndInt4WithinBound) {
  runMatrix({{2, 2}, {1, 7, 1023, 65539}, "int8"}, 16384);
  runMatrix({{3, 2, 1}, {1, 7, 1023, 65539}, "int4"}, 16384);
}

TEST(CommunicatorThreads, ErrorFeedbackCarriesTheResidual) {
  // Repeating the same input with EF: the mean of the decoded results converges to the exact sum
  // (what one call drops comes back in the next), without EF it does not.
  coll::CommunicatorOptions opt;
  opt.pipelineChunkBytes = 4096;
  const size_t n = 3001;
  const std::vector<int> sizes{2, 2};
  std::mutex mu;
  std::map<std::string, double> err;
  testing::runRanksAsThreads(sizes, opt, [&](Communicator& comm) {
    auto x0 = testing::makeInput(comm.rank(), n, DType::kFloat32, DataKind::kFloats);
    auto ref = testing::makeReference(centersOf(sizes), n, DType::kFloat32, DataKind::kFloats,
                                      ReduceOp::kSum);
    for (std::string key : {"", "grad0"}) {
      std::vector<double> mean(n, 0.0);
      const int steps = 20;
      for (int s = 0; s < steps; ++s) {
        auto x = x0;
        coll::CollectiveOptions o;
        o.interCodec = "int4";
        o.errorFeedbackKey = key;
        ASSERT_TRUE(comm.allreduce(BufferView{x.data(), n, DType::kFloat32}, ReduceOp::kSum, o)
                        ->wait()
                        .ok());
        for (size_t i = 0; i < n; ++i)
          mean[i] += testing::toDouble(x.data(), DType::kFloat32, i) / steps;
      }
      double e = 0, norm = 0;
      for (size_t i = 0; i < n; ++i) {
        e += (mean[i] - ref.sum[i]) * (mean[i] - ref.sum[i]);
        norm += ref.sum[i] * ref.sum[i];
      }
      std::lock_guard<std::mutex> l(mu);
      err[key.empty() ? "off" : "on"] = std::sqrt(e / norm);
    }
  });
  EXPECT_LT(err["on"], err["off"] / 4) << "EF on " << err["on"] << " off " << err["off"];
}

TEST(CommunicatorThreads, MismatchIsReportedNamingTheRanks) {
  coll::CommunicatorOptions opt;
  opt.timeoutSeconds = 20;
  testing::runRanksAsThreads({2, 2}, opt, [&](Communicator& comm) {
    std::vector<float> x(comm.rank() == 3 ? 100 : 128, 1.0f);
    auto w = comm.allreduce(BufferView{x.data(), x.size(), DType::kFloat32}, ReduceOp::kSum, {});
    Status s = w->wait(Deadline::afterSeconds(20));
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.toString();
    EXPECT_NE(s.message().find("ranks {0,1,2}"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("ranks {3}"), std::string::npos) << s.message();
    // The communicator still works afterwards.
    std::vector<float> y(5, 1.0f);
    ASSERT_TRUE(comm.allreduce(BufferView{y.data(), 5, DType::kFloat32}, ReduceOp::kSum, {})
                    ->wait(Deadline::afterSeconds(20))
                    .ok());
    EXPECT_EQ(y[4], 4.0f);
  });
}

TEST(CommunicatorThreads, BroadcastAllGatherReduceScatterBarrier) {
  coll::CommunicatorOptions opt;
  testing::runRanksAsThreads({2, 3, 1}, opt, [&](Communicator& comm) {
    const int N = comm.worldSize(), r = comm.rank();
    ASSERT_TRUE(comm.barrier({})->wait(Deadline::afterSeconds(20)).ok());
    for (int root = 0; root < N; ++root) {
      std::vector<int32_t> b(1001, r == root ? root * 7 + 1 : -1);
      ASSERT_TRUE(comm.broadcast(BufferView{b.data(), b.size(), DType::kInt32}, root, {})
                      ->wait(Deadline::afterSeconds(20))
                      .ok());
      EXPECT_EQ(b[1000], root * 7 + 1);
    }
    std::vector<float> in(3, static_cast<float>(r)), out(3 * N, -1.0f);
    ASSERT_TRUE(comm.allGather(ConstBufferView(in.data(), 3, DType::kFloat32),
                               BufferView{out.data(), out.size(), DType::kFloat32}, {})
                    ->wait(Deadline::afterSeconds(20))
                    .ok());
    for (int q = 0; q < N; ++q) EXPECT_EQ(out[3 * q + 2], static_cast<float>(q));
    std::vector<float> rsIn(2 * N), rsOut(2);
    for (int i = 0; i < 2 * N; ++i) rsIn[i] = static_cast<float>(i + r);
    coll::CollectiveOptions o;
    o.interCodec = "fp32";
    ASSERT_TRUE(comm.reduceScatter(ConstBufferView(rsIn.data(), rsIn.size(), DType::kFloat32),
                                   BufferView{rsOut.data(), 2, DType::kFloat32}, ReduceOp::kSum, o)
                    ->wait(Deadline::afterSeconds(20))
                    .ok());
    // sum over ranks q of (2r + 1 + q)
    EXPECT_EQ(rsOut[1], static_cast<float>(N * (2 * r + 1) + N * (N - 1) / 2));
  });
}

TEST(CommunicatorThreads, DescribeNamesThePlan) {
  testing::runRanksAsThreads({2, 2}, {}, [&](Communicator& comm) {
    coll::CollectiveOptions o;
    o.errorFeedbackKey = "w";
    std::string d = comm.describe(1 << 20, DType::kFloat32, o);
    EXPECT_NE(d.find("int8"), std::string::npos) << d;
    EXPECT_NE(d.find("reduce-scatter"), std::string::npos) << d;
    EXPECT_NE(d.find("all-gather"), std::string::npos) << d;
  });
}

TEST(CommunicatorThreads, GpuBuffersWithoutAGpuAreNotSupportedWithAReason) {
  if (kernels::cuda::available()) GTEST_SKIP() << "a GPU is visible: GPU buffers are staged";
  testing::runRanksAsThreads({1, 1}, {}, [&](Communicator& comm) {
    float dummy = 0;
    BufferView b{&dummy, 1, DType::kFloat32, MemoryKind::kCuda, 0};
    Status s = comm.allreduce(b, ReduceOp::kSum, {})->wait(Deadline::afterSeconds(20));
    EXPECT_EQ(s.code(), StatusCode::kNotSupported) << s.toString();
    EXPECT_NE(s.message().find("hier_staged_gpu: this build of Isthmus has no CUDA, or no GPU"),
              std::string::npos)
        << s.message();
    // The leader collectives and reduce_scatter refuse a GPU buffer with the same reason.
    // Shapes valid for 2 ranks (never read: the calls are refused before anything runs).
    float host[2] = {0, 0};
    BufferView h{host, 1, DType::kFloat32}, h2{host, 2, DType::kFloat32};
    BufferView b2{&dummy, 2, DType::kFloat32, MemoryKind::kCuda, 0};
    std::vector<std::pair<const char*, Status>> refused = {
        {"broadcast of GPU buffers: this build of Isthmus has no CUDA",
         comm.broadcast(b, 0, {})->wait(Deadline::afterSeconds(20))},
        {"all_gather of GPU buffers: this build of Isthmus has no CUDA",
         comm.allGather(b, h2, {})->wait(Deadline::afterSeconds(20))},
        {"all_gather of GPU buffers: this build of Isthmus has no CUDA",
         comm.allGather(h, b2, {})->wait(Deadline::afterSeconds(20))},
        {"reduce_scatter of GPU buffers: this build of Isthmus has no CUDA",
         comm.reduceScatter(b2, h, ReduceOp::kSum, {})->wait(Deadline::afterSeconds(20))},
    };
    for (const auto& [want, st] : refused) {
      EXPECT_EQ(st.code(), StatusCode::kNotSupported) << st.toString();
      EXPECT_NE(st.message().find(want), std::string::npos) << st.message();
    }
  });
}

}  // namespace
}  // namespace isthmus
