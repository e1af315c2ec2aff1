// Issue 6, acceptance 1: the allreduce over real processes and UCX, for the topologies 1x4, 2x1,
// 2x2, 3x2 and uneven 2,3,1; sizes 0, 1, 7, 1023, 2^20+3; fp32/fp16/bf16; sum/avg. Exact codecs
// must match the fixed-order reference exactly (integer data) or to fp32 rounding (random data);
// int8 within its quantisation bound; every rank's bytes identical (hashes all-gathered).
// One launch per topology; each rank runs the whole matrix inside it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "collectives/communicator.h"
#include "runtime/core/hash.h"
#include "runtime/identity.h"
#include "tests/harness/multiproc.h"
#include "tests/unit/collectives/allreduce_check.h"

namespace isthmus {
namespace {

using coll::ReduceOp;
using testing::DataKind;

void rankBody() {
  coll::CommunicatorOptions opt;
  opt.timeoutSeconds = 60;
  opt.pipelineChunkBytes = 1 << 20;  // several chunks at the largest size: the pipeline runs
  auto comm = coll::Communicator::fromEnv(opt);
  ASSERT_TRUE(comm.ok()) << comm.status().toString();
  coll::Communicator& c = **comm;
  std::vector<int> centerOfRank;
  for (int r = 0; r < c.worldSize(); ++r) centerOfRank.push_back(c.topology().centerOf(r));
  int checked = 0;
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{1023}, (size_t{1} << 20) + 3}) {
    for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
      for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg}) {
        struct Variant {
          const char* codec;
          DataKind kind;
          int bits;
        };
        std::vector<Variant> variants = {{"fp32", DataKind::kIntegers, 32},
                                         {"fp32", DataKind::kFloats, 32}};
        if (c.numCenters() > 1) variants.push_back({"int8", DataKind::kFloats, 8});
        for (const Variant& v : variants) {
          auto x = testing::makeInput(c.rank(), n, dt, v.kind, n);
          coll::CollectiveOptions o;
          o.interCodec = v.codec;
          Status s =
              c.allreduce(BufferView{x.data(), n, dt}, op, o)->wait(Deadline::afterSeconds(60));
          ASSERT_TRUE(s.ok()) << s.toString();
          auto ref = testing::makeReference(centerOfRank, n, dt, v.kind, op, n);
          Status ok = testing::checkAllreduce(x, dt, ref, v.kind, op, c.worldSize(),
                                              c.numCenters() > 1 ? v.bits : 32);
          EXPECT_TRUE(ok.ok()) << "rank " << c.rank() << " n=" << n << " " << dtypeName(dt) << " "
                               << coll::reduceOpName(op) << " " << v.codec << ": " << ok.toString();
          // Bitwise agreement: all-gather every rank's hash of its result.
          uint64_t h = fnv1a(x.data(), x.size());
          std::vector<uint64_t> all(c.worldSize());
          ASSERT_TRUE(c.allGather(ConstBufferView(&h, 8, DType::kUInt8),
                                  BufferView{all.data(), all.size() * 8, DType::kUInt8}, {})
                          ->wait(Deadline::afterSeconds(60))
                          .ok());
          for (int r = 0; r < c.worldSize(); ++r) {
            EXPECT_EQ(all[r], h) << "rank " << r << " differs from rank " << c.rank()
                                 << " at n=" << n << " " << dtypeName(dt) << " " << v.codec;
          }
          ++checked;
        }
      }
    }
  }
  std::printf("rank %d checked %d allreduces, bitwise identical across %d ranks\n", c.rank(),
              checked, c.worldSize());
}

void runTopology(const std::string& centers, const std::string& perCenter,
                 const std::string& intra = "auto") {
  if (testing::isChild()) {
    rankBody();
    return;
  }
  auto r =
      testing::runThisTestUnderLauncher({"--centers", centers, "--ranks-per-center", perCenter},
                                        240, {}, {"ISTHMUS_JOB_SECRET=collectives-matrix-test"});
  EXPECT_EQ(r.exitCode, 0) << r.describe() << "\n" << r.output;
}

TEST(AllreduceMatrix, OneCenterOfFour) { runTopology("1", "4"); }
TEST(AllreduceMatrix, TwoCentersOfOne) { runTopology("2", "1"); }
TEST(AllreduceMatrix, TwoCentersOfTwo) { runTopology("2", "2"); }
TEST(AllreduceMatrix, ThreeCentersOfTwo) { runTopology("3", "2"); }
TEST(AllreduceMatrix, UnevenCenters231) { runTopology("3", "2,3,1"); }
// The same over the ring intra tier (UCX CPU group) instead of cross-memory attach.
TEST(AllreduceMatrix, UnevenCenters231RingIntraTier) { runTopology("3", "2,3,1", "ring"); }

}  // namespace
}  // namespace isthmus
