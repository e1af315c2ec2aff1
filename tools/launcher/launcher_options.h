// Command line of isthmus-run, parsed and checked before anything starts.
//
//   isthmus-run --centers C --ranks-per-center K|k0,k1,... [--topology FILE] [--job-id ID]
//               [--store-port P] [--wan SPEC] [--timeout SECONDS] -- PROGRAM ARGS...
//
// parseLauncherArgs never exits or prints: errors come back as kInvalidArgument whose message
// says what is wrong ("--ranks-per-center lists 3 centers but --centers is 2"); the caller prints
// it with the usage text. With --topology the center sizes come from the file, and --centers /
// --ranks-per-center, when also given, must agree with it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/status.h"

namespace isthmus::launcher {

struct LauncherOptions {
  std::vector<int> ranksPerCenter;   // one entry per center, each >= 1
  std::string topologyPath;          // empty: none
  std::string jobId;                 // empty: the launcher picks a random one
  uint16_t storePort = 0;            // 0: any free port
  std::string wanSpec;               // empty: no WAN emulation
  bool wan = false;                  // --wan was given
  double timeoutSeconds = 0;         // 0: no timeout
  double killGraceSeconds = 3.0;     // SIGTERM -> SIGKILL grace when stopping ranks
  std::vector<std::string> program;  // PROGRAM ARGS...
  bool help = false;                 // --help: print usage, run nothing

  int numCenters() const { return static_cast<int>(ranksPerCenter.size()); }
  int worldSize() const;
};

std::string launcherUsage();

// args excludes argv[0].
Result<LauncherOptions> parseLauncherArgs(const std::vector<std::string>& args);

// "2,3,1" -> {2,3,1}; "4" -> {4}. kInvalidArgument naming the bad element.
Result<std::vector<int>> parseRanksPerCenter(const std::string& text);

}  // namespace isthmus::launcher
