// ChildProcess: fork a function into its own process (gloo's MultiProcTest style), so a test can
// kill it, watch it exit, and never leave it behind.
//
// Contract
// - fork(body) forks; the child sets PR_SET_PDEATHSIG(SIGKILL) (it dies if the test process
//   dies), runs body() and _exit()s with its return value (an escaping exception or a crash is
//   a failure). The parent gets a handle. Fork before the parent starts threads where you can:
//   only the forking thread exists in the child.
// - waitFor(timeout) reaps the child; past the timeout it SIGKILLs it and reports timedOut.
// - The destructor SIGKILLs and reaps a child that is still running: no process outlives the
//   handle. Not thread-safe: one thread owns a handle.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

namespace isthmus::testing {

struct ChildExit {
  int exitCode = -1;  // 0..255 when exited; 128 + signal when killed
  int signal = 0;     // the signal that ended it, 0 if it exited
  bool timedOut = false;
  std::string describe() const;  // "exit 0", "killed by signal 9 (timed out)"
};

class ChildProcess {
 public:
  static ChildProcess fork(const std::function<int()>& body);
  ChildProcess() = default;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !reaped_; }
  void kill(int signal);
  ChildExit waitFor(double timeoutSeconds);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  ChildExit exit_;
};

}  // namespace isthmus::testing
