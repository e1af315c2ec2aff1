// Identity: who this process is (rank, center, store address), read from the environment in
// the conventions users already have. docs/topology.md lists every variable.
//
// Conventions, first match wins:
//   - torchrun / isthmus-run: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK,
//     MASTER_ADDR, MASTER_PORT. source is "isthmus-run" when ISTHMUS_RANKS_PER_CENTER is also set
//     (the launcher always sets it) and TORCHELASTIC_RUN_ID is not, else "torchrun".
//   - SLURM (srun): SLURM_PROCID, SLURM_NTASKS (or SLURM_NPROCS), SLURM_LOCALID, SLURM_NODEID,
//     store at MASTER_ADDR (or SLURM_LAUNCH_NODE_IPADDR) and MASTER_PORT. source "slurm".
// Isthmus variables on top: ISTHMUS_TOPOLOGY (a topology file), ISTHMUS_RANKS_PER_CENTER
// ("2,3,1"), ISTHMUS_NUM_CENTERS, ISTHMUS_CENTER (index or name), ISTHMUS_JOB_ID, and
// ISTHMUS_HOSTNAME (the name matched against topology host lists; default gethostname()).
//
// The center of a rank comes from the topology's rank ranges (every valid Topology has them).
// The topology's host lists and ISTHMUS_CENTER, when they say something about this process,
// must agree with that; a disagreement is an error naming both sides, never a silent choice.
//
// Every error is kInvalidArgument and names the variable and the problem ("RANK=5 >=
// WORLD_SIZE=4"). Functions are reentrant; identityFromEnv/topologyFromEnv read the process
// environment.
#pragma once

#include <map>
#include <string>

#include "runtime/core/status.h"
#include "runtime/topology.h"

namespace isthmus {

using EnvMap = std::map<std::string, std::string>;

struct Identity {
  int rank = 0;
  int worldSize = 1;
  int localRank = 0;       // index of this rank inside its center (not per node: see below)
  int localWorldSize = 1;  // number of ranks in this rank's center
  int center = 0;
  int numCenters = 1;
  std::string centerName;
  // Per-node position from LOCAL_RANK/LOCAL_WORLD_SIZE (SLURM_LOCALID), e.g. to pick a GPU;
  // -1 when the environment does not say. Equal to localRank/localWorldSize under isthmus-run,
  // where each emulated center is one node.
  int nodeLocalRank = -1;
  int nodeLocalWorldSize = -1;
  int nodeIndex = -1;  // this node's index: SLURM_NODEID, torchrun's GROUP_RANK; -1 if unknown
  std::string hostname;
  std::string storeHost;  // empty and storePort 0 only when worldSize == 1 and none was given
  int storePort = 0;
  std::string jobId;   // ISTHMUS_JOB_ID, else the topology's job_id, else SLURM_JOB_ID or
                       // TORCHELASTIC_RUN_ID, else ""
  std::string source;  // "isthmus-run", "torchrun" or "slurm"

  // "[rank 3/8 center 1 'b']"
  std::string describe() const;
};

// Reads the process environment. `topology` may be null: then topologyFromEnv() builds it.
Result<Identity> identityFromEnv(const Topology* topology);
// Same, from an explicit map of variables (tests, or a launcher checking what it will set).
Result<Identity> identityFromEnvMap(const EnvMap& env, const Topology* topology);

// The job's topology from the environment: the file ISTHMUS_TOPOLOGY; else the center sizes in
// ISTHMUS_RANKS_PER_CENTER; else ISTHMUS_NUM_CENTERS equal centers of WORLD_SIZE /
// ISTHMUS_NUM_CENTERS ranks; else one center of WORLD_SIZE ranks (logged at info). Centers
// built from sizes are named "c0", "c1", ...; ISTHMUS_JOB_ID becomes their job_id.
Result<Topology> topologyFromEnv();
Result<Topology> topologyFromEnvMap(const EnvMap& env);

// A snapshot of the process environment as an EnvMap.
EnvMap processEnv();

}  // namespace isthmus
