// Identity from the environment: each convention (isthmus-run, torchrun, SLURM), each way of
// placing a rank in a center, and each error naming its variable.
#include "runtime/identity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/unit/runtime/test_paths.h"

namespace isthmus {
namespace {

using ::isthmus::testing::exampleTopology;
using ::testing::HasSubstr;

EnvMap torchrun(int rank, int world) {
  return {{"RANK", std::to_string(rank)},
          {"WORLD_SIZE", std::to_string(world)},
          {"MASTER_ADDR", "127.0.0.1"},
          {"MASTER_PORT", "29500"},
          {"ISTHMUS_HOSTNAME", "test-host"}};
}

// The error message identityFromEnvMap gives, or a marker when it unexpectedly succeeds.
std::string errorOf(const EnvMap& env, const Topology* topo = nullptr) {
  auto id = identityFromEnvMap(env, topo);
  if (id.ok()) return "unexpected success: " + id->describe();
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
  return id.status().message();
}

TEST(identity_torchrun, SingleCenterByDefault) {
  EnvMap env = torchrun(3, 4);
  env["LOCAL_RANK"] = "1";
  env["LOCAL_WORLD_SIZE"] = "2";
  env["GROUP_RANK"] = "1";
  auto id = identityFromEnvMap(env, nullptr);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  EXPECT_EQ(id->nodeIndex, 1);
  EXPECT_EQ(id->rank, 3);
  EXPECT_EQ(id->worldSize, 4);
  EXPECT_EQ(id->center, 0);
  EXPECT_EQ(id->numCenters, 1);
  EXPECT_EQ(id->centerName, "c0");
  EXPECT_EQ(id->localRank, 3);
  EXPECT_EQ(id->localWorldSize, 4);
  EXPECT_EQ(id->nodeLocalRank, 1);
  EXPECT_EQ(id->nodeLocalWorldSize, 2);
  EXPECT_EQ(id->storeHost, "127.0.0.1");
  EXPECT_EQ(id->storePort, 29500);
  EXPECT_EQ(id->source, "torchrun");
  EXPECT_EQ(id->hostname, "test-host");
  EXPECT_EQ(id->jobId, "");
  EXPECT_EQ(id->describe(), "[rank 3/4 center 0 'c0']");
}

TEST(identity_torchrun, ElasticRunIdIsTheJobId) {
  EnvMap env = torchrun(0, 2);
  env["TORCHELASTIC_RUN_ID"] = "run-42";
  env["ISTHMUS_RANKS_PER_CENTER"] = "1,1";  // torchrun, even with our variables set
  auto id = identityFromEnvMap(env, nullptr);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  EXPECT_EQ(id->source, "torchrun");
  EXPECT_EQ(id->jobId, "run-42");
  EXPECT_EQ(id->numCenters, 2);
}

TEST(identity_torchrun, NumCentersSplitsEvenly) {
  EnvMap env = torchrun(5, 8);
  env["ISTHMUS_NUM_CENTERS"] = "2";
  env["ISTHMUS_CENTER"] = "c1";
  auto id = identityFromEnvMap(env, nullptr);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  EXPECT_EQ(id->center, 1);
  EXPECT_EQ(id->localRank, 1);
  EXPECT_EQ(id->localWorldSize, 4);
}

TEST(identity_torchrun, SingleProcessNeedsNoStore) {
  auto id = identityFromEnvMap({{"RANK", "0"}, {"WORLD_SIZE", "1"}}, nullptr);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  EXPECT_EQ(id->storeHost, "");
  EXPECT_EQ(id->storePort, 0);
  EXPECT_EQ(id->describe(), "[rank 0/1 center 0 'c0']");
}

// What isthmus-run sets for rank 3 of --ranks-per-center 2,3,1.
EnvMap isthmusRun(int rank, const std::string& center) {
  EnvMap env = torchrun(rank, 6);
  env["LOCAL_RANK"] = "1";
  env["LOCAL_WORLD_SIZE"] = "3";
  env["ISTHMUS_CENTER"] = center;
  env["ISTHMUS_NUM_CENTERS"] = "3";
  env["ISTHMUS_RANKS_PER_CENTER"] = "2,3,1";
  env["ISTHMUS_JOB_ID"] = "job-7";
  return env;
}

TEST(identity_isthmus_run, UnevenCenters) {
  auto id = identityFromEnvMap(isthmusRun(3, "1"), nullptr);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  EXPECT_EQ(id->source, "isthmus-run");
  EXPECT_EQ(id->center, 1);
  EXPECT_EQ(id->centerName, "c1");
  EXPECT_EQ(id->numCenters, 3);
  EXPECT_EQ(id->localRank, 1);
  EXPECT_EQ(id->localWorldSize, 3);
  EXPECT_EQ(id->nodeLocalRank, 1);
  EXPECT_EQ(id->jobId, "job-7");
  EXPECT_EQ(id->describe(), "[rank 3/6 center 1 'c1']");
}

TEST(identity_isthmus_run, TopologyFileNamesTheCenters) {
  EnvMap env = isthmusRun(3, "beta");
  env["ISTHMUS_TOPOLOGY"] = exampleTopology("uneven.textproto");
  auto id = identityFromEnvMap(env, nullptr);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  EXPECT_EQ(id->center, 1);
  EXPECT_EQ(id->centerName, "beta");
  EXPECT_EQ(id->jobId, "job-7");  // ISTHMUS_JOB_ID wins over the file's job_id (with a warning)
  EXPECT_EQ(id->describe(), "[rank 3/6 center 1 'beta']");

  env.erase("ISTHMUS_JOB_ID");
  id = identityFromEnvMap(env, nullptr);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  EXPECT_EQ(id->jobId, "uneven");
}

TEST(identity_isthmus_run, GivenTopologyIsUsed) {
  auto topo = Topology::fromFile(exampleTopology("two_centers.textproto"));
  ASSERT_TRUE(topo.ok());
  EnvMap env = torchrun(2, 4);
  env["ISTHMUS_CENTER"] = "east";
  auto id = identityFromEnvMap(env, &*topo);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  EXPECT_EQ(id->centerName, "east");
  EXPECT_EQ(id->localRank, 0);
  EXPECT_EQ(id->jobId, "two-centers");

  env["ISTHMUS_CENTER"] = "west";
  EXPECT_THAT(errorOf(env, &*topo), HasSubstr("ISTHMUS_CENTER=west (center 0 'west') but rank 2 is "
                                              "in center 1 'east' by the given topology's rank "
                                              "ranges"));
}

TEST(identity_slurm, Srun) {
  EnvMap env = {{"SLURM_PROCID", "5"},        {"SLURM_NTASKS", "8"},
                {"SLURM_LOCALID", "1"},       {"SLURM_NODEID", "2"},
                {"SLURM_JOB_ID", "777"},      {"SLURM_LAUNCH_NODE_IPADDR", "10.1.2.3"},
                {"MASTER_PORT", "29400"},     {"SLURM_NTASKS_PER_NODE", "2"},
                {"ISTHMUS_NUM_CENTERS", "2"}, {"ISTHMUS_HOSTNAME", "n"}};
  auto id = identityFromEnvMap(env, nullptr);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  EXPECT_EQ(id->source, "slurm");
  EXPECT_EQ(id->rank, 5);
  EXPECT_EQ(id->worldSize, 8);
  EXPECT_EQ(id->center, 1);
  EXPECT_EQ(id->localRank, 1);
  EXPECT_EQ(id->nodeLocalRank, 1);
  EXPECT_EQ(id->nodeLocalWorldSize, 2);
  EXPECT_EQ(id->nodeIndex, 2);
  EXPECT_EQ(id->storeHost, "10.1.2.3");
  EXPECT_EQ(id->storePort, 29400);
  EXPECT_EQ(id->jobId, "777");

  env["MASTER_ADDR"] = "head";  // MASTER_ADDR wins over the launch node
  env.erase("SLURM_NTASKS");
  env["SLURM_NPROCS"] = "8";  // older SLURM
  id = identityFromEnvMap(env, nullptr);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  EXPECT_EQ(id->storeHost, "head");
}

TEST(identity_slurm, TorchrunInsideSlurmAllocationWins) {
  EnvMap env = torchrun(1, 2);
  env["SLURM_PROCID"] = "0";
  env["SLURM_NTASKS"] = "1";
  auto id = identityFromEnvMap(env, nullptr);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  EXPECT_EQ(id->source, "torchrun");
  EXPECT_EQ(id->rank, 1);
}

TEST(identity_slurm, Errors) {
  EXPECT_THAT(errorOf({{"SLURM_PROCID", "0"}}),
              HasSubstr("missing SLURM_NTASKS (and SLURM_NPROCS)"));
  EXPECT_THAT(errorOf({{"SLURM_PROCID", "8"}, {"SLURM_NTASKS", "8"}}),
              HasSubstr("SLURM_PROCID=8 >= SLURM_NTASKS=8"));
  EXPECT_THAT(errorOf({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"MASTER_PORT", "1"}}),
              HasSubstr("missing MASTER_ADDR (or SLURM_LAUNCH_NODE_IPADDR): SLURM_NTASKS=2 ranks"));
  EXPECT_THAT(errorOf({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"MASTER_ADDR", "h"}}),
              HasSubstr("missing MASTER_PORT"));
}

TEST(identity_hosts, HostListMustAgreeWithRankRange) {
  auto topo = Topology::fromFile(exampleTopology("hosts.textproto"));
  ASSERT_TRUE(topo.ok()) << topo.status().toString();
  EnvMap env = torchrun(17, 24);
  env["ISTHMUS_HOSTNAME"] = "b-gpu1.site-b.example.org";
  auto id = identityFromEnvMap(env, &*topo);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  EXPECT_EQ(id->centerName, "site-b");
  EXPECT_EQ(id->localRank, 1);

  env["RANK"] = "3";
  EXPECT_THAT(errorOf(env, &*topo),
              HasSubstr("host b-gpu1.site-b.example.org is listed in center 1 'site-b' but rank 3 "
                        "is in center 0 'site-a'"));

  env["ISTHMUS_HOSTNAME"] = "laptop";  // a host the file does not list says nothing
  EXPECT_TRUE(identityFromEnvMap(env, &*topo).ok());
}

TEST(identity_errors, NamesTheVariable) {
  EXPECT_THAT(errorOf({}), HasSubstr("missing RANK and WORLD_SIZE (torchrun, isthmus-run) and "
                                     "SLURM_PROCID (srun)"));
  EXPECT_THAT(errorOf({{"WORLD_SIZE", "4"}}), HasSubstr("missing RANK"));
  EXPECT_THAT(errorOf({{"RANK", "0"}}), HasSubstr("missing WORLD_SIZE"));
  EXPECT_THAT(errorOf(torchrun(5, 4)), HasSubstr("RANK=5 >= WORLD_SIZE=4"));
  EnvMap env = torchrun(0, 4);
  env["RANK"] = "abc";
  EXPECT_THAT(errorOf(env), HasSubstr("RANK=\"abc\" is not an integer"));
  env["RANK"] = "-1";
  EXPECT_THAT(errorOf(env), HasSubstr("RANK=-1 is out of range 0.."));
  env = torchrun(0, 4);
  env["WORLD_SIZE"] = "0";
  EXPECT_THAT(errorOf(env), HasSubstr("WORLD_SIZE=0 is out of range 1..1048576"));
  env = torchrun(0, 4);
  env["LOCAL_RANK"] = "2";
  env["LOCAL_WORLD_SIZE"] = "2";
  EXPECT_THAT(errorOf(env), HasSubstr("LOCAL_RANK=2 >= LOCAL_WORLD_SIZE=2"));
  env = torchrun(0, 4);
  env.erase("MASTER_ADDR");
  EXPECT_THAT(errorOf(env), HasSubstr("missing MASTER_ADDR: WORLD_SIZE=4 ranks need the "
                                      "rendezvous store's host"));
  env = torchrun(0, 4);
  env["MASTER_PORT"] = "70000";
  EXPECT_THAT(errorOf(env), HasSubstr("MASTER_PORT=70000 is out of range 1..65535"));
}

TEST(identity_errors, CenterVariables) {
  EXPECT_THAT(errorOf(isthmusRun(3, "zeta")),
              HasSubstr("ISTHMUS_CENTER=zeta names an unknown center \"zeta\" (centers: \"c0\", "
                        "\"c1\", \"c2\")"));
  EXPECT_THAT(errorOf(isthmusRun(3, "7")),
              HasSubstr("ISTHMUS_CENTER=7 is out of range: the topology has 3 centers"));
  EXPECT_THAT(errorOf(isthmusRun(3, "0")),
              HasSubstr("ISTHMUS_CENTER=0 (center 0 'c0') but rank 3 is in center 1 'c1'"));

  EnvMap env = torchrun(1, 4);
  env["ISTHMUS_CENTER"] = "1";  // no count, no sizes: only one center is known
  EXPECT_THAT(errorOf(env), HasSubstr("ISTHMUS_CENTER=1 is out of range: the topology has 1 "
                                      "center (set ISTHMUS_NUM_CENTERS, ISTHMUS_RANKS_PER_CENTER "
                                      "or ISTHMUS_TOPOLOGY)"));

  env = isthmusRun(3, "1");
  env["WORLD_SIZE"] = "4";
  env["RANK"] = "1";
  EXPECT_THAT(errorOf(env),
              HasSubstr("ISTHMUS_RANKS_PER_CENTER=2,3,1 sums to 6 ranks but WORLD_SIZE=4"));
  env = isthmusRun(3, "1");
  env["ISTHMUS_RANKS_PER_CENTER"] = "2,x,1";
  EXPECT_THAT(errorOf(env),
              HasSubstr("ISTHMUS_RANKS_PER_CENTER=\"2,x,1\": entry 1 \"x\" is not a positive"));
  env["ISTHMUS_RANKS_PER_CENTER"] = "2,0,4";
  EXPECT_THAT(errorOf(env), HasSubstr("entry 1 \"0\" is not a positive integer"));
  env = isthmusRun(3, "1");
  env["ISTHMUS_NUM_CENTERS"] = "2";
  EXPECT_THAT(errorOf(env), HasSubstr("ISTHMUS_NUM_CENTERS=2 but the topology has 3 centers"));

  env = torchrun(0, 4);
  env["ISTHMUS_NUM_CENTERS"] = "3";
  EXPECT_THAT(errorOf(env), HasSubstr("ISTHMUS_NUM_CENTERS=3 does not divide WORLD_SIZE=4 into "
                                      "equal centers"));
  env["ISTHMUS_NUM_CENTERS"] = "many";
  EXPECT_THAT(errorOf(env), HasSubstr("ISTHMUS_NUM_CENTERS=\"many\" must be an integer in 1.."));
}

TEST(identity_errors, TopologyFileDisagreements) {
  const std::string path = exampleTopology("two_centers.textproto");
  EnvMap env = torchrun(0, 6);
  env["ISTHMUS_TOPOLOGY"] = path;
  EXPECT_THAT(errorOf(env), HasSubstr("WORLD_SIZE=6 but the topology in ISTHMUS_TOPOLOGY=" + path +
                                      " has 4 ranks (2,2 per center)"));
  env["WORLD_SIZE"] = "4";
  env["ISTHMUS_RANKS_PER_CENTER"] = "1,3";
  EXPECT_THAT(errorOf(env), HasSubstr("ISTHMUS_RANKS_PER_CENTER=1,3 but the topology in "
                                      "ISTHMUS_TOPOLOGY=" +
                                      path + " has 2,2 ranks per center"));
  env["ISTHMUS_TOPOLOGY"] = "/nonexistent/topo.textproto";
  EXPECT_THAT(errorOf(env), HasSubstr("ISTHMUS_TOPOLOGY: topology file "
                                      "\"/nonexistent/topo.textproto\": cannot open"));
}

TEST(identity_env, TopologyFromEnvMap) {
  auto sizes = topologyFromEnvMap({{"ISTHMUS_RANKS_PER_CENTER", "2,3,1"}, {"ISTHMUS_JOB_ID", "j"}});
  ASSERT_TRUE(sizes.ok()) << sizes.status().toString();
  EXPECT_EQ(sizes->centerSizes(), (std::vector<int>{2, 3, 1}));
  EXPECT_EQ(sizes->jobId(), "j");

  auto single = topologyFromEnvMap(torchrun(0, 4));
  ASSERT_TRUE(single.ok()) << single.status().toString();
  EXPECT_EQ(single->centerSizes(), (std::vector<int>{4}));

  auto file = topologyFromEnvMap({{"ISTHMUS_TOPOLOGY", exampleTopology("two_centers.json")}});
  ASSERT_TRUE(file.ok()) << file.status().toString();
  EXPECT_EQ(file->centerName(1), "east");

  auto none = topologyFromEnvMap({});
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(),
              HasSubstr("no ISTHMUS_TOPOLOGY or ISTHMUS_RANKS_PER_CENTER, and the world size is "
                        "unknown: missing RANK and WORLD_SIZE"));
}

TEST(identity_env, ReadsTheProcessEnvironment) {
  for (const char* v : {"ISTHMUS_TOPOLOGY", "ISTHMUS_CENTER", "ISTHMUS_NUM_CENTERS",
                        "TORCHELASTIC_RUN_ID", "LOCAL_RANK", "LOCAL_WORLD_SIZE"}) {
    unsetenv(v);
  }
  ASSERT_EQ(setenv("RANK", "1", 1), 0);
  ASSERT_EQ(setenv("WORLD_SIZE", "2", 1), 0);
  ASSERT_EQ(setenv("MASTER_ADDR", "localhost", 1), 0);
  ASSERT_EQ(setenv("MASTER_PORT", "1234", 1), 0);
  ASSERT_EQ(setenv("ISTHMUS_RANKS_PER_CENTER", "1,1", 1), 0);
  EXPECT_EQ(processEnv().at("ISTHMUS_RANKS_PER_CENTER"), "1,1");
  auto topo = topologyFromEnv();
  ASSERT_TRUE(topo.ok()) << topo.status().toString();
  EXPECT_EQ(topo->numCenters(), 2);
  auto id = identityFromEnv(nullptr);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  EXPECT_EQ(id->describe(), "[rank 1/2 center 1 'c1']");
  EXPECT_EQ(id->source, "isthmus-run");
  for (const char* v :
       {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "ISTHMUS_RANKS_PER_CENTER"}) {
    unsetenv(v);
  }
}

}  // namespace
}  // namespace isthmus
