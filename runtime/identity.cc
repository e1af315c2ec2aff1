#include "runtime/identity.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "runtime/core/logging.h"

extern char** environ;

namespace isthmus {
namespace {

const std::string* lookup(const EnvMap& env, const std::string& name) {
  auto it = env.find(name);
  return it == env.end() ? nullptr : &it->second;
}

// Strict decimal integer: digits only (an optional leading '-' when allowNegative).
bool parseInt(const std::string& text, int64_t* out) {
  if (text.empty() || text.size() > 18) return false;
  size_t i = text[0] == '-' ? 1 : 0;
  if (i == text.size()) return false;
  int64_t v = 0;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    v = v * 10 + (text[i] - '0');
  }
  *out = text[0] == '-' ? -v : v;
  return true;
}

// Reads variable `name` as an integer in [min, max]; absent leaves *out and returns OK with
// *present false.
Status readInt(const EnvMap& env, const std::string& name, int64_t min, int64_t max, int* out,
               bool* present) {
  const std::string* v = lookup(env, name);
  *present = v != nullptr;
  if (!v) return okStatus();
  int64_t parsed = 0;
  if (!parseInt(*v, &parsed)) {
    return invalidArgumentError(name, "=\"", *v, "\" is not an integer");
  }
  if (parsed < min || parsed > max) {
    return invalidArgumentError(name, "=", parsed, " is out of range ", min, "..", max);
  }
  *out = static_cast<int>(parsed);
  return okStatus();
}

Status requireInt(const EnvMap& env, const std::string& name, int64_t min, int64_t max, int* out,
                  const std::string& why) {
  bool present = false;
  ISTHMUS_RETURN_IF_ERROR(readInt(env, name, min, max, out, &present));
  if (!present) return invalidArgumentError("missing ", name, why);
  return okStatus();
}

// What the launcher convention says: rank, world size, node position, store address.
struct Launch {
  int rank = 0;
  int worldSize = 1;
  int nodeLocalRank = -1;
  int nodeLocalWorldSize = -1;
  int nodeIndex = -1;
  std::string storeHost;
  int storePort = 0;
  std::string source;
  std::string worldVar;  // the variable worldSize came from, for messages
  std::string conventionJobId;
};

Status readStore(const EnvMap& env, const std::string& hostFallbackVar, Launch* l) {
  const std::string* addr = lookup(env, "MASTER_ADDR");
  std::string addrVar = "MASTER_ADDR";
  if ((!addr || addr->empty()) && !hostFallbackVar.empty()) {
    addr = lookup(env, hostFallbackVar);
    addrVar = hostFallbackVar;
  }
  bool portPresent = false;
  int port = 0;
  ISTHMUS_RETURN_IF_ERROR(readInt(env, "MASTER_PORT", 1, 65535, &port, &portPresent));
  if (l->worldSize > 1) {
    const std::string where = hostFallbackVar.empty() ? "" : " (or " + hostFallbackVar + ")";
    if (!addr || addr->empty()) {
      return invalidArgumentError("missing MASTER_ADDR", where, ": ", l->worldVar, "=",
                                  l->worldSize, " ranks need the rendezvous store's host");
    }
    if (!portPresent) {
      return invalidArgumentError("missing MASTER_PORT: ", l->worldVar, "=", l->worldSize,
                                  " ranks need the rendezvous store's port (e.g. 29500)");
    }
  }
  if (addr) l->storeHost = *addr;
  if (portPresent) l->storePort = port;
  return okStatus();
}

Status readTorchrun(const EnvMap& env, Launch* l) {
  l->worldVar = "WORLD_SIZE";
  const bool elastic = lookup(env, "TORCHELASTIC_RUN_ID") != nullptr;
  l->source = !elastic && lookup(env, "ISTHMUS_RANKS_PER_CENTER") ? "isthmus-run" : "torchrun";
  if (elastic) l->conventionJobId = *lookup(env, "TORCHELASTIC_RUN_ID");
  const std::string both = " (torchrun and isthmus-run set RANK and WORLD_SIZE together)";
  ISTHMUS_RETURN_IF_ERROR(
      requireInt(env, "WORLD_SIZE", 1, Topology::kMaxRanks, &l->worldSize, both));
  ISTHMUS_RETURN_IF_ERROR(requireInt(env, "RANK", 0, INT_MAX, &l->rank, both));
  if (l->rank >= l->worldSize) {
    return invalidArgumentError("RANK=", l->rank, " >= WORLD_SIZE=", l->worldSize);
  }
  bool p1 = false;
  bool p2 = false;
  ISTHMUS_RETURN_IF_ERROR(readInt(env, "LOCAL_RANK", 0, INT_MAX, &l->nodeLocalRank, &p1));
  ISTHMUS_RETURN_IF_ERROR(
      readInt(env, "LOCAL_WORLD_SIZE", 1, l->worldSize, &l->nodeLocalWorldSize, &p2));
  if (p1 && p2 && l->nodeLocalRank >= l->nodeLocalWorldSize) {
    return invalidArgumentError("LOCAL_RANK=", l->nodeLocalRank,
                                " >= LOCAL_WORLD_SIZE=", l->nodeLocalWorldSize);
  }
  if (p1 && l->nodeLocalRank >= l->worldSize) {
    return invalidArgumentError("LOCAL_RANK=", l->nodeLocalRank, " >= WORLD_SIZE=", l->worldSize);
  }
  ISTHMUS_RETURN_IF_ERROR(readInt(env, "GROUP_RANK", 0, INT_MAX, &l->nodeIndex, &p1));
  return readStore(env, "", l);
}

Status readSlurm(const EnvMap& env, Launch* l) {
  l->source = "slurm";
  if (const std::string* job = lookup(env, "SLURM_JOB_ID")) l->conventionJobId = *job;
  if (!lookup(env, "SLURM_NTASKS") && !lookup(env, "SLURM_NPROCS")) {
    return invalidArgumentError(
        "missing SLURM_NTASKS (and SLURM_NPROCS): SLURM_PROCID is set but "
        "not the task count; run under srun");
  }
  l->worldVar = lookup(env, "SLURM_NTASKS") ? "SLURM_NTASKS" : "SLURM_NPROCS";
  ISTHMUS_RETURN_IF_ERROR(requireInt(env, l->worldVar, 1, Topology::kMaxRanks, &l->worldSize, ""));
  ISTHMUS_RETURN_IF_ERROR(requireInt(env, "SLURM_PROCID", 0, INT_MAX, &l->rank, ""));
  if (l->rank >= l->worldSize) {
    return invalidArgumentError("SLURM_PROCID=", l->rank, " >= ", l->worldVar, "=", l->worldSize);
  }
  bool present = false;
  ISTHMUS_RETURN_IF_ERROR(
      readInt(env, "SLURM_LOCALID", 0, l->worldSize - 1, &l->nodeLocalRank, &present));
  ISTHMUS_RETURN_IF_ERROR(readInt(env, "SLURM_NODEID", 0, INT_MAX, &l->nodeIndex, &present));
  // SLURM_NTASKS_PER_NODE is a plain number only when the user asked for a fixed count.
  const std::string* v = lookup(env, "SLURM_NTASKS_PER_NODE");
  int64_t parsed = 0;
  if (v && parseInt(*v, &parsed) && parsed >= 1 && parsed <= l->worldSize) {
    l->nodeLocalWorldSize = static_cast<int>(parsed);
  }
  return readStore(env, "SLURM_LAUNCH_NODE_IPADDR", l);
}

Status readLaunch(const EnvMap& env, Launch* l) {
  if (lookup(env, "RANK") || lookup(env, "WORLD_SIZE")) return readTorchrun(env, l);
  if (lookup(env, "SLURM_PROCID")) return readSlurm(env, l);
  return invalidArgumentError(
      "missing RANK and WORLD_SIZE (torchrun, isthmus-run) and SLURM_PROCID (srun): no process "
      "identity in the environment");
}

Result<std::vector<int>> parseRanksPerCenter(const std::string& text) {
  std::vector<int> sizes;
  size_t start = 0;
  for (int i = 0;; ++i) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? comma : comma - start);
    int64_t v = 0;
    if (!parseInt(item, &v) || v <= 0 || v > Topology::kMaxRanks) {
      return invalidArgumentError("ISTHMUS_RANKS_PER_CENTER=\"", text, "\": entry ", i, " \"", item,
                                  "\" is not a positive integer");
    }
    sizes.push_back(static_cast<int>(v));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return sizes;
}

std::string joinInts(const std::vector<int>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + std::to_string(v[i]);
  return out;
}

std::string localHostname(const EnvMap& env) {
  if (const std::string* h = lookup(env, "ISTHMUS_HOSTNAME")) return *h;
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

// Resolves ISTHMUS_CENTER (an index or a name) against the topology.
Result<int> resolveCenterVar(const std::string& value, const Topology& topo) {
  int64_t index = 0;
  if (parseInt(value, &index)) {
    if (index < 0 || index >= topo.numCenters()) {
      std::string hint = topo.numCenters() == 1 ? " (set ISTHMUS_NUM_CENTERS, "
                                                  "ISTHMUS_RANKS_PER_CENTER or ISTHMUS_TOPOLOGY)"
                                                : "";
      return invalidArgumentError("ISTHMUS_CENTER=", value, " is out of range: the topology has ",
                                  topo.numCenters(),
                                  topo.numCenters() == 1 ? " center" : " centers", hint);
    }
    return static_cast<int>(index);
  }
  auto c = topo.centerIndex(value);
  if (!c.ok()) {
    return invalidArgumentError("ISTHMUS_CENTER=", value, " names an ", c.status().message());
  }
  return c;
}

// The checks that tie the environment to the topology.
// `topoName` says where the topology came from, for messages.
Status checkAgainstTopology(const EnvMap& env, const Launch& l, const Topology& topo,
                            const std::string& topoName, Identity* id) {
  if (topo.worldSize() != l.worldSize) {
    return invalidArgumentError(l.worldVar, "=", l.worldSize, " but ", topoName, " has ",
                                topo.worldSize(), " ranks (", joinInts(topo.centerSizes()),
                                " per center)");
  }
  const std::string where =
      strCat("rank ", l.rank, " is in center ", topo.centerOf(l.rank), " '",
             topo.centerName(topo.centerOf(l.rank)), "' by ", topoName, "'s rank ranges");
  if (const std::string* n = lookup(env, "ISTHMUS_NUM_CENTERS")) {
    int64_t v = 0;
    if (!parseInt(*n, &v) || v <= 0) {
      return invalidArgumentError("ISTHMUS_NUM_CENTERS=\"", *n, "\" is not a positive integer");
    }
    if (v != topo.numCenters()) {
      return invalidArgumentError("ISTHMUS_NUM_CENTERS=", v, " but ", topoName, " has ",
                                  topo.numCenters(), " centers");
    }
  }
  if (const std::string* r = lookup(env, "ISTHMUS_RANKS_PER_CENTER")) {
    ISTHMUS_ASSIGN_OR_RETURN(std::vector<int> sizes, parseRanksPerCenter(*r));
    if (sizes != topo.centerSizes()) {
      return invalidArgumentError("ISTHMUS_RANKS_PER_CENTER=", *r, " but ", topoName, " has ",
                                  joinInts(topo.centerSizes()), " ranks per center");
    }
  }
  const int center = topo.centerOf(l.rank);
  if (auto hostCenter = topo.centerOfHost(id->hostname); hostCenter && *hostCenter != center) {
    return invalidArgumentError("host ", id->hostname, " is listed in center ", *hostCenter, " '",
                                topo.centerName(*hostCenter), "' but ", where);
  }
  if (const std::string* c = lookup(env, "ISTHMUS_CENTER")) {
    ISTHMUS_ASSIGN_OR_RETURN(int named, resolveCenterVar(*c, topo));
    if (named != center) {
      return invalidArgumentError("ISTHMUS_CENTER=", *c, " (center ", named, " '",
                                  topo.centerName(named), "') but ", where);
    }
  }
  id->center = center;
  id->numCenters = topo.numCenters();
  id->centerName = topo.centerName(center);
  id->localRank = topo.localRank(l.rank);
  id->localWorldSize = topo.centerSize(center);
  return okStatus();
}

Result<Topology> topologyFromEnvImpl(const EnvMap& env, bool* fromSizes) {
  *fromSizes = false;
  if (const std::string* path = lookup(env, "ISTHMUS_TOPOLOGY")) {
    auto topo = Topology::fromFile(*path);
    if (!topo.ok()) return topo.status().withContext("ISTHMUS_TOPOLOGY");
    return topo;
  }
  *fromSizes = true;
  Launch l;
  Status launch = readLaunch(env, &l);
  const std::string* jobId = lookup(env, "ISTHMUS_JOB_ID");
  auto withJob = [&](Result<Topology> t) -> Result<Topology> {
    if (!t.ok() || !jobId) return t;
    proto::Topology p = t->proto();
    p.set_job_id(*jobId);
    return Topology::fromProto(p);
  };
  if (const std::string* r = lookup(env, "ISTHMUS_RANKS_PER_CENTER")) {
    ISTHMUS_ASSIGN_OR_RETURN(std::vector<int> sizes, parseRanksPerCenter(*r));
    int64_t sum = 0;
    for (int s : sizes) sum += s;
    if (launch.ok() && sum != l.worldSize) {
      return invalidArgumentError("ISTHMUS_RANKS_PER_CENTER=", *r, " sums to ", sum, " ranks but ",
                                  l.worldVar, "=", l.worldSize);
    }
    return withJob(Topology::fromRanksPerCenter(sizes));
  }
  if (!launch.ok()) {
    return launch.withContext(
        "no ISTHMUS_TOPOLOGY or ISTHMUS_RANKS_PER_CENTER, and the world size is unknown");
  }
  if (const std::string* n = lookup(env, "ISTHMUS_NUM_CENTERS")) {
    int64_t v = 0;
    if (!parseInt(*n, &v) || v <= 0 || v > l.worldSize) {
      return invalidArgumentError("ISTHMUS_NUM_CENTERS=\"", *n, "\" must be an integer in 1..",
                                  l.worldVar, "=", l.worldSize);
    }
    if (l.worldSize % v != 0) {
      return invalidArgumentError("ISTHMUS_NUM_CENTERS=", v, " does not divide ", l.worldVar, "=",
                                  l.worldSize,
                                  " into equal centers; set ISTHMUS_RANKS_PER_CENTER or "
                                  "ISTHMUS_TOPOLOGY");
    }
    return withJob(Topology::uniform(static_cast<int>(v), l.worldSize / static_cast<int>(v)));
  }
  ISTHMUS_LOG(kInfo) << "no ISTHMUS_TOPOLOGY, ISTHMUS_RANKS_PER_CENTER or ISTHMUS_NUM_CENTERS: "
                     << "one center of " << l.worldVar << "=" << l.worldSize << " ranks";
  return withJob(Topology::uniform(1, l.worldSize));
}

}  // namespace

std::string Identity::describe() const {
  return strCat("[rank ", rank, "/", worldSize, " center ", center, " '", centerName, "']");
}

EnvMap processEnv() {
  EnvMap env;
  for (char** e = environ; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (!eq) continue;
    env.emplace(std::string(*e, static_cast<size_t>(eq - *e)), std::string(eq + 1));
  }
  return env;
}

Result<Topology> topologyFromEnvMap(const EnvMap& env) {
  bool fromSizes = false;
  return topologyFromEnvImpl(env, &fromSizes);
}

Result<Topology> topologyFromEnv() { return topologyFromEnvMap(processEnv()); }

Result<Identity> identityFromEnvMap(const EnvMap& env, const Topology* topology) {
  Launch l;
  ISTHMUS_RETURN_IF_ERROR(readLaunch(env, &l));
  Identity id;
  id.rank = l.rank;
  id.worldSize = l.worldSize;
  id.nodeLocalRank = l.nodeLocalRank;
  id.nodeLocalWorldSize = l.nodeLocalWorldSize;
  id.nodeIndex = l.nodeIndex;
  id.storeHost = l.storeHost;
  id.storePort = l.storePort;
  id.source = l.source;
  id.hostname = localHostname(env);

  std::optional<Topology> built;
  std::string topoName = "the given topology";
  if (!topology) {
    bool fromSizes = false;
    ISTHMUS_ASSIGN_OR_RETURN(Topology t, topologyFromEnvImpl(env, &fromSizes));
    built = std::move(t);
    topology = &*built;
    const std::string* path = lookup(env, "ISTHMUS_TOPOLOGY");
    topoName = fromSizes ? "the topology" : "the topology in ISTHMUS_TOPOLOGY=" + *path;
  }
  ISTHMUS_RETURN_IF_ERROR(checkAgainstTopology(env, l, *topology, topoName, &id));

  const std::string* jobVar = lookup(env, "ISTHMUS_JOB_ID");
  if (jobVar) {
    id.jobId = *jobVar;
    if (!topology->jobId().empty() && topology->jobId() != *jobVar) {
      ISTHMUS_LOG(kWarn) << "ISTHMUS_JOB_ID=" << *jobVar << " overrides the topology's job_id \""
                         << topology->jobId() << "\"";
    }
  } else if (!topology->jobId().empty()) {
    id.jobId = topology->jobId();
  } else {
    id.jobId = l.conventionJobId;
  }
  return id;
}

Result<Identity> identityFromEnv(const Topology* topology) {
  return identityFromEnvMap(processEnv(), topology);
}

}  // namespace isthmus
