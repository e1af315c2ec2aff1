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
  // The job's shared secret for the inter-center handshake: set as ISTHMUS_JOB_SECRET unless the
  // launcher's own environment already names one (ISTHMUS_JOB_SECRET or ISTHMUS_JOB_SECRET_FILE).
  std::string jobSecret;
  std::string topologyPath;  // empty: ISTHMUS_TOPOLOGY is not set
  bool wan = false;          // set UCX_TLS=tcp (shared memory would bypass the emulated links)
};

// "2,3,1"
std::string ranksPerCenterText(const std::vector<int>& sizes);

std::vector<std::string> environSnapshot(char** env);

// 32 random bytes from the kernel, as 64 hex digits.
std::string randomJobSecret();

// True if `env` ("NAME=value" entries) already gives the job a secret.
bool hasJobSecret(const std::vector<std::string>& env);

// Sets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ISTHMUS_CENTER,
// ISTHMUS_NUM_CENTERS, ISTHMUS_RANKS_PER_CENTER, ISTHMUS_JOB_ID, ISTHMUS_JOB_SECRET (unless the
// user gave a secret), ISTHMUS_TOPOLOGY (if given),
// and under --wan UCX_TLS=tcp and ISTHMUS_WAN_ADDRESS (this center's address on the WAN).
std::vector<std::string> rankEnvironment(const RankEnvInputs& in, int rank, int center,
                                         int localRank, int localWorldSize,
                                         const std::string& wanAddress);

}  // namespace isthmus::launcher
