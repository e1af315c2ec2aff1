// The environment isthmus-run gives each rank.
#include "tools/launcher/rank_env.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace isthmus::launcher {
namespace {

bool has(const std::vector<std::string>& env, const std::string& kv) {
  return std::find(env.begin(), env.end(), kv) != env.end();
}

int countName(const std::vector<std::string>& env, const std::string& name) {
  return static_cast<int>(std::count_if(
      env.begin(), env.end(), [&](const std::string& kv) { return kv.rfind(name + "=", 0) == 0; }));
}

RankEnvInputs inputs() {
  RankEnvInputs in;
  in.base = {"PATH=/bin", "RANK=7", "MASTER_PORT=1", "UCX_TLS=sm", "HOME=/root"};
  in.worldSize = 6;
  in.numCenters = 3;
  in.ranksPerCenter = {2, 3, 1};
  in.storeHost = "127.0.0.1";
  in.storePort = 4242;
  in.jobId = "j";
  return in;
}

TEST(RankEnv, SetsTheConventionAndDropsStaleValues) {
  auto env = rankEnvironment(inputs(), 4, 1, 2, 3, "");
  EXPECT_TRUE(has(env, "PATH=/bin"));
  EXPECT_TRUE(has(env, "HOME=/root"));
  EXPECT_TRUE(has(env, "RANK=4"));
  EXPECT_EQ(countName(env, "RANK"), 1);
  EXPECT_TRUE(has(env, "WORLD_SIZE=6"));
  EXPECT_TRUE(has(env, "LOCAL_RANK=2"));
  EXPECT_TRUE(has(env, "LOCAL_WORLD_SIZE=3"));
  EXPECT_TRUE(has(env, "MASTER_ADDR=127.0.0.1"));
  EXPECT_TRUE(has(env, "MASTER_PORT=4242"));
  EXPECT_EQ(countName(env, "MASTER_PORT"), 1);
  EXPECT_TRUE(has(env, "ISTHMUS_CENTER=1"));
  EXPECT_TRUE(has(env, "ISTHMUS_NUM_CENTERS=3"));
  EXPECT_TRUE(has(env, "ISTHMUS_RANKS_PER_CENTER=2,3,1"));
  EXPECT_TRUE(has(env, "ISTHMUS_JOB_ID=j"));
  EXPECT_EQ(countName(env, "ISTHMUS_TOPOLOGY"), 0);
  EXPECT_TRUE(has(env, "UCX_TLS=sm"));  // the user's choice stands without --wan
}

TEST(RankEnv, WanForcesTcpAndTopologyIsPassed) {
  auto in = inputs();
  in.wan = true;
  in.topologyPath = "/t.json";
  auto env = rankEnvironment(in, 0, 0, 0, 2, "10.77.0.1");
  EXPECT_TRUE(has(env, "UCX_TLS=tcp"));
  EXPECT_EQ(countName(env, "UCX_TLS"), 1);
  EXPECT_TRUE(has(env, "ISTHMUS_WAN_ADDRESS=10.77.0.1"));
  EXPECT_TRUE(has(env, "ISTHMUS_TOPOLOGY=/t.json"));
}

TEST(RankEnv, JobSecretIsGeneratedUnlessTheUserGaveOne) {
  const std::string secret = randomJobSecret();
  EXPECT_EQ(secret.size(), 64u);
  EXPECT_NE(secret, randomJobSecret());
  auto in = inputs();
  in.jobSecret = secret;
  auto env = rankEnvironment(in, 0, 0, 0, 2, "");
  EXPECT_TRUE(has(env, "ISTHMUS_JOB_SECRET=" + secret));
  for (const char* given : {"ISTHMUS_JOB_SECRET=mine", "ISTHMUS_JOB_SECRET_FILE=/s"}) {
    in.base.push_back(given);
    EXPECT_TRUE(hasJobSecret(in.base));
    env = rankEnvironment(in, 0, 0, 0, 2, "");
    EXPECT_TRUE(has(env, given));
    EXPECT_EQ(countName(env, "ISTHMUS_JOB_SECRET"), given[18] == '=' ? 1 : 0) << given;
    in.base.pop_back();
  }
}

}  // namespace
}  // namespace isthmus::launcher
