// Starting one rank: fork + exec with its environment, its own process group and pipes for its
// stdout and stderr.
//
// The child (between fork and exec, async-signal-safe calls only, everything prepared by the
// parent): setpgid(0, 0) so the launcher can signal the rank's whole tree and Ctrl-C reaches
// only the launcher; PR_SET_PDEATHSIG(SIGKILL) so a rank never outlives a launcher that dies;
// setns() into its center's network namespace when one is given (then, like `ip netns exec`, a
// private mount namespace with /sys remounted, so /sys/class/net shows that namespace's
// interfaces: UCX enumerates its devices there); default signal dispositions and
// an empty signal mask; then execve. A failed exec (or setns) is reported to the parent through a
// close-on-exec pipe, so spawnRank returns an error naming the program and the errno.
//
// Call spawnRank from the thread that will outlive the ranks (the launcher's main thread):
// PDEATHSIG fires when the forking *thread* exits.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "runtime/core/status.h"

namespace isthmus::launcher {

struct RankSpec {
  int rank = 0;
  int center = 0;
  int localRank = 0;
  std::string programPath;        // resolved, absolute or relative to the cwd
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // full environment, "NAME=value"
  std::string netnsPath;          // empty: stay in the launcher's network namespace
};

struct RankProcess {
  pid_t pid = -1;
  int stdoutFd = -1;  // read ends, non-blocking, close-on-exec
  int stderrFd = -1;
};

Result<RankProcess> spawnRank(const RankSpec& spec);

// Finds `program` the way execvp would (a name with no '/' is searched on PATH). kInvalidArgument
// naming the program when it is not an executable file.
Result<std::string> resolveProgram(const std::string& program);

}  // namespace isthmus::launcher
