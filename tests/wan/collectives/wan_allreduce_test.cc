// The hierarchical allreduce across two emulated centers (isthmus-run --wan: network namespaces,
// a shaped and delayed link, UCX over TCP between centers): exact and int8 results correct and
// bitwise identical on every rank, bytes counted across centers. Needs root.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "collectives/communicator.h"
#include "runtime/core/hash.h"
#include "runtime/topology.h"
#include "tests/harness/multiproc.h"
#include "tests/unit/collectives/allreduce_check.h"

namespace isthmus {
namespace {

TEST(CollectivesWan, AllreduceAcrossEmulatedCenters) {
  if (testing::isChild()) {
    coll::CommunicatorOptions opt;
    opt.timeoutSeconds = 60;
    auto comm = coll::Communicator::fromEnv(opt);
    ASSERT_TRUE(comm.ok()) << comm.status().toString();
    coll::Communicator& c = **comm;
    std::vector<int> centerOfRank;
    for (int r = 0; r < c.worldSize(); ++r) centerOfRank.push_back(c.topology().centerOf(r));
    for (const char* codec : {"fp32", "int8"}) {
      for (size_t n : {size_t{7}, (size_t{1} << 22) + 3}) {
        const int bits = std::string(codec) == "int8" ? 8 : 32;
        auto kind = bits == 32 ? testing::DataKind::kIntegers : testing::DataKind::kFloats;
        auto x = testing::makeInput(c.rank(), n, DType::kFloat32, kind);
        coll::CollectiveOptions o;
        o.interCodec = codec;
        const uint64_t before = c.traffic().interBytesSent;
        Status s = c.allreduce(BufferView{x.data(), n}, coll::ReduceOp::kAvg, o)
                       ->wait(Deadline::afterSeconds(60));
        ASSERT_TRUE(s.ok()) << s.toString();
        EXPECT_GT(c.traffic().interBytesSent, before);
        auto ref =
            testing::makeReference(centerOfRank, n, DType::kFloat32, kind, coll::ReduceOp::kAvg);
        Status ok = testing::checkAllreduce(x, DType::kFloat32, ref, kind, coll::ReduceOp::kAvg,
                                            c.worldSize(), bits);
        EXPECT_TRUE(ok.ok()) << codec << " n=" << n << ": " << ok.toString();
        uint64_t h = fnv1a(x.data(), x.size());
        std::vector<uint64_t> all(c.worldSize());
        ASSERT_TRUE(c.allGather(ConstBufferView(&h, 8, DType::kUInt8),
                                BufferView{all.data(), all.size() * 8, DType::kUInt8}, {})
                        ->wait(Deadline::afterSeconds(60))
                        .ok());
        for (uint64_t v : all) EXPECT_EQ(v, h) << codec << " n=" << n;
      }
    }
    return;
  }
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  auto r = testing::runThisTestUnderLauncher(
      {"--centers", "2", "--ranks-per-center", "2", "--wan", "rate=1gbit,rtt=20ms"}, 180, {},
      {"ISTHMUS_JOB_SECRET=collectives-wan-test"});
  EXPECT_EQ(r.exitCode, 0) << r.describe() << "\n" << r.output;
}

}  // namespace
}  // namespace isthmus
