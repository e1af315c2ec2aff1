// Leaving is not failing: ranks that shut down their communicators at different times must not
// take each other's departure for a lost peer. Each rank says goodbye to every peer, including
// peers that said goodbye first (they wait for ours before they close their connections); a
// regression here shows up as "peer rank N ... lost" errors and "communicator failed" warnings
// at the end of a successful job.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "collectives/communicator.h"
#include "tests/harness/multiproc.h"

namespace isthmus {
namespace {

TEST(CollectivesShutdown, StaggeredShutdownLogsNoLostPeer) {
  if (testing::isChild()) {
    auto comm = coll::Communicator::fromEnv({});
    ASSERT_TRUE(comm.ok()) << comm.status().toString();
    std::vector<float> x(1 << 16, 1.0f);
    ASSERT_TRUE((*comm)
                    ->allreduce(BufferView{x.data(), x.size()}, coll::ReduceOp::kSum, {})
                    ->wait(Deadline::afterSeconds(30))
                    .ok());
    // The last rank leaves first, rank 0 last: every later rank has already heard the earlier
    // ranks' goodbyes when it says its own.
    const int me = (*comm)->rank(), n = (*comm)->worldSize();
    std::this_thread::sleep_for(std::chrono::milliseconds(150 * (n - 1 - me)));
    comm->reset();
    std::printf("rank %d left\n", me);
    std::fflush(stdout);
    return;
  }
  auto r = testing::runThisTestUnderLauncher({"--centers", "2", "--ranks-per-center", "2"}, 60, {},
                                             {"ISTHMUS_JOB_SECRET=collectives-shutdown-test"});
  std::printf("launcher: %s\n", r.describe().c_str());
  EXPECT_EQ(r.exitCode, 0) << r.output;
  for (int rank = 0; rank < 4; ++rank) {
    EXPECT_NE(r.output.find(strCat("rank ", rank, " left")), std::string::npos) << r.output;
  }
  EXPECT_EQ(r.output.find("lost"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("communicator failed"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace isthmus
