#include "tools/launcher/launcher_options.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "runtime/topology.h"

namespace isthmus::launcher {
namespace {

constexpr int kMaxWorldSize = 4096;  // one machine: more processes than this is a typo

bool parseInt(const std::string& text, long long lo, long long hi, long long* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size() || v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

int LauncherOptions::worldSize() const {
  int n = 0;
  for (int k : ranksPerCenter) n += k;
  return n;
}

std::string launcherUsage() {
  return "usage: isthmus-run --centers C --ranks-per-center K|k0,k1,... [--topology FILE]\n"
         "                   [--job-id ID] [--store-port P] [--wan SPEC] [--timeout SECONDS]\n"
         "                   -- PROGRAM [ARGS...]\n"
         "\n"
         "Starts a rendezvous store and C centers of ranks on this machine, each rank a process\n"
         "running PROGRAM with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,\n"
         "MASTER_PORT, ISTHMUS_CENTER, ISTHMUS_NUM_CENTERS, ISTHMUS_RANKS_PER_CENTER and\n"
         "ISTHMUS_JOB_ID set. Output lines are prefixed with [c<center> r<rank>]. When a rank\n"
         "fails the others are stopped (SIGTERM, SIGKILL after 3 s) and isthmus-run exits with\n"
         "that rank's status.\n"
         "\n"
         "  --centers C             number of centers\n"
         "  --ranks-per-center K    ranks in every center, or a list k0,k1,... (uneven centers)\n"
         "  --topology FILE         topology file (text proto or JSON); gives the center sizes\n"
         "  --job-id ID             job id (default: random)\n"
         "  --store-port P          port of the rendezvous store (default: any free port)\n"
         "  --wan SPEC              emulate WAN links between centers (needs root), e.g.\n"
         "                          rate=1gbit,rtt=40ms\n"
         "  --timeout SECONDS       stop everything after this long and exit 124\n"
         "  -h, --help              this text\n";
}

Result<std::vector<int>> parseRanksPerCenter(const std::string& text) {
  std::vector<int> sizes;
  size_t pos = 0;
  while (true) {
    size_t comma = text.find(',', pos);
    std::string item =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    long long v = 0;
    if (!parseInt(item, 1, kMaxWorldSize, &v)) {
      return invalidArgumentError("--ranks-per-center '", text, "': element ", sizes.size(), " ('",
                                  item, "') is not a rank count in 1..", kMaxWorldSize);
    }
    sizes.push_back(static_cast<int>(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return sizes;
}

Result<LauncherOptions> parseLauncherArgs(const std::vector<std::string>& args) {
  LauncherOptions o;
  long long centers = 0;
  std::vector<int> perCenter;
  bool perCenterIsList = false;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "-h" || arg == "--help") {
      o.help = true;
      return o;
    }
    if (arg.rfind("--", 0) != 0) {
      return invalidArgumentError("unexpected argument '", arg,
                                  "': put the program after '--' (isthmus-run [options] -- "
                                  "PROGRAM ARGS...)");
    }
    std::string value;
    bool hasValue = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      hasValue = true;
    }
    auto need = [&]() -> Status {
      if (hasValue) return okStatus();
      if (i + 1 >= args.size() || args[i + 1] == "--") {
        return invalidArgumentError(arg, " needs a value");
      }
      value = args[++i];
      return okStatus();
    };
    if (arg == "--centers") {
      ISTHMUS_RETURN_IF_ERROR(need());
      if (!parseInt(value, 1, kMaxWorldSize, &centers)) {
        return invalidArgumentError("--centers '", value, "' is not a number in 1..",
                                    kMaxWorldSize);
      }
    } else if (arg == "--ranks-per-center") {
      ISTHMUS_RETURN_IF_ERROR(need());
      ISTHMUS_ASSIGN_OR_RETURN(perCenter, parseRanksPerCenter(value));
      perCenterIsList = value.find(',') != std::string::npos;
    } else if (arg == "--topology") {
      ISTHMUS_RETURN_IF_ERROR(need());
      o.topologyPath = value;
    } else if (arg == "--job-id") {
      ISTHMUS_RETURN_IF_ERROR(need());
      if (value.empty()) return invalidArgumentError("--job-id must not be empty");
      o.jobId = value;
    } else if (arg == "--store-port") {
      ISTHMUS_RETURN_IF_ERROR(need());
      long long port = 0;
      if (!parseInt(value, 0, 65535, &port)) {
        return invalidArgumentError("--store-port '", value, "' is not a port in 0..65535");
      }
      o.storePort = static_cast<uint16_t>(port);
    } else if (arg == "--wan") {
      ISTHMUS_RETURN_IF_ERROR(need());
      o.wan = true;
      o.wanSpec = value;
    } else if (arg == "--timeout") {
      ISTHMUS_RETURN_IF_ERROR(need());
      char* end = nullptr;
      double t = std::strtod(value.c_str(), &end);
      if (value.empty() || end != value.c_str() + value.size() || !std::isfinite(t) || t <= 0) {
        return invalidArgumentError("--timeout '", value, "' is not a positive number of seconds");
      }
      o.timeoutSeconds = t;
    } else {
      return invalidArgumentError("unknown option '", arg, "'");
    }
  }
  o.program.assign(args.begin() + static_cast<long>(i), args.end());
  if (o.program.empty()) {
    return invalidArgumentError("no program given: isthmus-run [options] -- PROGRAM ARGS...");
  }

  if (!o.topologyPath.empty()) {
    auto topology = Topology::fromFile(o.topologyPath);
    if (!topology.ok()) return topology.status().withContext("--topology");
    const std::vector<int> sizes = topology->centerSizes();
    if (centers != 0 && centers != static_cast<long long>(sizes.size())) {
      return invalidArgumentError("--centers ", centers, " disagrees with --topology ",
                                  o.topologyPath, ", which has ", sizes.size(), " centers");
    }
    if (!perCenter.empty()) {
      const bool uniformMatch =
          !perCenterIsList && perCenter.size() == 1 &&
          std::all_of(sizes.begin(), sizes.end(), [&](int k) { return k == perCenter[0]; });
      if (perCenter != sizes && !uniformMatch) {
        return invalidArgumentError(
            "--ranks-per-center disagrees with the center sizes of "
            "--topology ",
            o.topologyPath);
      }
    }
    // The launcher numbers ranks center by center; a valid topology may list its centers in
    // another order, which the launcher does not support (yet): say so instead of mis-numbering.
    int expectedFirst = 0;
    for (int c = 0; c < static_cast<int>(sizes.size()); ++c) {
      if (topology->firstRank(c) != expectedFirst) {
        return invalidArgumentError("--topology ", o.topologyPath, ": center \"",
                                    topology->centerName(c), "\" starts at rank ",
                                    topology->firstRank(c),
                                    " but isthmus-run numbers ranks center "
                                    "by center and would give it rank ",
                                    expectedFirst, "; list the centers in rank order");
      }
      expectedFirst += sizes[c];
    }
    o.ranksPerCenter = sizes;
  } else {
    if (perCenter.empty()) {
      return invalidArgumentError("--ranks-per-center is required (or give --topology)");
    }
    if (perCenterIsList) {
      if (centers != 0 && centers != static_cast<long long>(perCenter.size())) {
        return invalidArgumentError("--ranks-per-center lists ", perCenter.size(),
                                    " centers but --centers is ", centers);
      }
      o.ranksPerCenter = perCenter;
    } else {
      if (centers == 0) {
        return invalidArgumentError(
            "--centers is required (or give --topology, or a list in "
            "--ranks-per-center)");
      }
      o.ranksPerCenter.assign(static_cast<size_t>(centers), perCenter[0]);
    }
  }
  if (o.worldSize() > kMaxWorldSize) {
    return invalidArgumentError("the job would start ", o.worldSize(),
                                " processes; isthmus-run allows at most ", kMaxWorldSize);
  }
  return o;
}

}  // namespace isthmus::launcher
