// The environment of each rank: the launcher's own environment, minus any identity variables it
// inherited (a stale RANK must never leak into a child), plus the torchrun variables and the
// Isthmus ones. Pure functions: tested without starting processes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace isthmus::launcher {

struct RankEnvInputs {
  std::vector<std::string> base;  // "NAME=value" entries of the launcher's environment
  int worldSize = 0;
  int numCenters = 0;
  std::vector<int> ranksPerCenter;
  std::string storeHost;
  uint16_t storePort = 0;
  std::string jobId;
  std::string topologyPath;  // empty: ISTHMUS_TOPOLOGY is not set
  bool wan = false;          // set UCX_TLS=tcp (shared memory would bypass the emulated links)
};

// "2,3,1"
std::string ranksPerCenterText(const std::vector<int>& sizes);

std::vector<std::string> environSnapshot(char** env);

// Sets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ISTHMUS_CENTER,
// ISTHMUS_NUM_CENTERS, ISTHMUS_RANKS_PER_CENTER, ISTHMUS_JOB_ID, ISTHMUS_TOPOLOGY (if given),
// and under --wan UCX_TLS=tcp and ISTHMUS_WAN_ADDRESS (this center's address on the WAN).
std::vector<std::string> rankEnvironment(const RankEnvInputs& in, int rank, int center,
                                         int localRank, int localWorldSize,
                                         const std::string& wanAddress);

}  // namespace isthmus::launcher
