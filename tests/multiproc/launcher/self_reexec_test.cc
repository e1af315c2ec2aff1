// The harness's self re-exec pattern, as other tests use it: the test body runs as 2x2 ranks.
#include <gtest/gtest.h>

#include <cstdlib>

#include "runtime/identity.h"
#include "runtime/store/tcp_store.h"
#include "tests/harness/multiproc.h"

namespace isthmus {
namespace {

TEST(SelfReexec, TestBodyRunsAsEveryRank) {
  if (testing::isChild()) {
    auto id = identityFromEnv(nullptr);
    ASSERT_TRUE(id.ok()) << id.status().toString();
    auto store = connectStoreFromEnv(Deadline::afterSeconds(20));
    ASSERT_TRUE(store.ok()) << store.status().toString();
    ASSERT_TRUE((*store)->set(strCat("center-of/", id->rank), std::to_string(id->center)).ok());
    ASSERT_TRUE(storeBarrier(**store, "reexec", id->worldSize, Deadline::afterSeconds(20)).ok());
    for (int r = 0; r < id->worldSize; ++r) {
      auto c = (*store)->get(strCat("center-of/", r), Deadline::afterSeconds(5));
      ASSERT_TRUE(c.ok());
      EXPECT_EQ(*c, std::to_string(r / 2));
    }
    std::printf("child rank %d checked %d ranks\n", id->rank, id->worldSize);
    return;
  }
  auto r = testing::runThisTestUnderLauncher({"--centers", "2", "--ranks-per-center", "2"}, 40);
  EXPECT_EQ(r.exitCode, 0) << r.describe() << "\n" << r.output;
  EXPECT_EQ(testing::countLines(r.output, "checked 4 ranks"), 4) << r.output;
}

TEST(SelfReexec, AFailedAssertionInOneRankFailsTheJob) {
  if (testing::isChild()) {
    const char* rank = std::getenv("RANK");
    ASSERT_NE(rank, nullptr);
    EXPECT_NE(std::string(rank), "1") << "rank 1 fails on purpose";
    return;
  }
  auto r = testing::runThisTestUnderLauncher({"--centers", "1", "--ranks-per-center", "2"}, 40);
  EXPECT_EQ(r.exitCode, 1) << r.describe() << "\n" << r.output;
  EXPECT_NE(r.output.find("rank 1 (center 0, local rank 1) exited with status 1"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("[c0 r1] "), std::string::npos) << r.output;
}

}  // namespace
}  // namespace isthmus
