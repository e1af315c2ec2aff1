#include "tests/harness/child_process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>

namespace isthmus::testing {

std::string ChildExit::describe() const {
  std::string s = signal != 0 ? "killed by signal " + std::to_string(signal)
                              : "exit " + std::to_string(exitCode);
  if (timedOut) s += " (timed out)";
  return s;
}

ChildProcess ChildProcess::fork(const std::function<int()>& body) {
  std::fflush(nullptr);  // do not let the child flush the parent's buffered output again
  ChildProcess child;
  const pid_t parent = getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(125);  // the parent died before prctl took effect
    int code = 1;
    try {
      code = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child %d: exception: %s\n", getpid(), e.what());
    } catch (...) {
      std::fprintf(stderr, "child %d: unknown exception\n", getpid());
    }
    std::fflush(nullptr);
    _exit(code);
  }
  child.pid_ = pid;
  if (pid < 0) child.reaped_ = true;
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept { *this = std::move(other); }

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (running()) {
      kill(SIGKILL);
      waitFor(10);
    }
    pid_ = other.pid_;
    reaped_ = other.reaped_;
    exit_ = other.exit_;
    other.pid_ = -1;
    other.reaped_ = true;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (running()) {
    kill(SIGKILL);
    waitFor(10);
  }
}

void ChildProcess::kill(int signal) {
  if (running()) ::kill(pid_, signal);
}

ChildExit ChildProcess::waitFor(double timeoutSeconds) {
  if (!running()) return exit_;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::microseconds(static_cast<int64_t>(timeoutSeconds * 1e6));
  bool killed = false;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      if (WIFEXITED(status)) {
        exit_.exitCode = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        exit_.signal = WTERMSIG(status);
        exit_.exitCode = 128 + exit_.signal;
      }
      exit_.timedOut = killed;
      return exit_;
    }
    if (r < 0) {  // not our child any more (reaped elsewhere): nothing left to wait for
      reaped_ = true;
      return exit_;
    }
    if (!killed && std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace isthmus::testing
