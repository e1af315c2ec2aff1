#include "tools/launcher/rank_env.h"

#include <sys/random.h>

#include <cstdio>
#include <set>

#include "runtime/core/status.h"

namespace isthmus::launcher {
namespace {

// Variables the launcher owns: inherited values are dropped, never passed through.
const std::set<std::string>& ownedNames() {
  static const std::set<std::string> names{"RANK",
                                           "WORLD_SIZE",
                                           "LOCAL_RANK",
                                           "LOCAL_WORLD_SIZE",
                                           "MASTER_ADDR",
                                           "MASTER_PORT",
                                           "GROUP_RANK",
                                           "TORCHELASTIC_RUN_ID",
                                           "ISTHMUS_CENTER",
                                           "ISTHMUS_NUM_CENTERS",
                                           "ISTHMUS_RANKS_PER_CENTER",
                                           "ISTHMUS_JOB_ID",
                                           "ISTHMUS_TOPOLOGY",
                                           "ISTHMUS_WAN_ADDRESS",
                                           "ISTHMUS_HOSTNAME"};
  return names;
}

}  // namespace

std::string ranksPerCenterText(const std::vector<int>& sizes) {
  std::string s;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i > 0) s += ",";
    s += std::to_string(sizes[i]);
  }
  return s;
}

std::vector<std::string> environSnapshot(char** env) {
  std::vector<std::string> out;
  for (char** e = env; e != nullptr && *e != nullptr; ++e) out.emplace_back(*e);
  return out;
}

std::string randomJobSecret() {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    ISTHMUS_CHECK(n > 0, "getrandom failed while making the job secret");
    got += static_cast<size_t>(n);
  }
  std::string hex;
  char digits[3];
  for (unsigned char b : bytes) {
    std::snprintf(digits, sizeof(digits), "%02x", b);
    hex += digits;
  }
  return hex;
}

bool hasJobSecret(const std::vector<std::string>& env) {
  for (const auto& kv : env) {
    const std::string name = kv.substr(0, kv.find('='));
    if (name == "ISTHMUS_JOB_SECRET" || name == "ISTHMUS_JOB_SECRET_FILE") return true;
  }
  return false;
}

std::vector<std::string> rankEnvironment(const RankEnvInputs& in, int rank, int center,
                                         int localRank, int localWorldSize,
                                         const std::string& wanAddress) {
  std::vector<std::string> env;
  for (const auto& kv : in.base) {
    const std::string name = kv.substr(0, kv.find('='));
    if (ownedNames().count(name) > 0) continue;
    if (in.wan && name == "UCX_TLS") continue;
    env.push_back(kv);
  }
  auto set = [&](const char* name, const std::string& value) {
    env.push_back(std::string(name) + "=" + value);
  };
  set("RANK", std::to_string(rank));
  set("WORLD_SIZE", std::to_string(in.worldSize));
  set("LOCAL_RANK", std::to_string(localRank));
  set("LOCAL_WORLD_SIZE", std::to_string(localWorldSize));
  set("MASTER_ADDR", in.storeHost);
  set("MASTER_PORT", std::to_string(in.storePort));
  set("ISTHMUS_CENTER", std::to_string(center));
  set("ISTHMUS_NUM_CENTERS", std::to_string(in.numCenters));
  set("ISTHMUS_RANKS_PER_CENTER", ranksPerCenterText(in.ranksPerCenter));
  set("ISTHMUS_JOB_ID", in.jobId);
  if (!in.jobSecret.empty() && !hasJobSecret(in.base)) set("ISTHMUS_JOB_SECRET", in.jobSecret);
  if (!in.topologyPath.empty()) set("ISTHMUS_TOPOLOGY", in.topologyPath);
  if (in.wan) {
    set("UCX_TLS", "tcp");
    set("ISTHMUS_WAN_ADDRESS", wanAddress);
  }
  return env;
}

}  // namespace isthmus::launcher
