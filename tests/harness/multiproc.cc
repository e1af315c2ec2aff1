// runCommand: fork + exec in a new process group, output through one pipe, a hard timeout that
// escalates SIGTERM -> SIGKILL on the whole group.
#include "tests/harness/multiproc.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#ifndef ISTHMUS_HARNESS_BUILD_DIR
#define ISTHMUS_HARNESS_BUILD_DIR ""
#endif

namespace isthmus::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kKillGraceSeconds = 3.0;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

[[noreturn]] void execChild(const std::vector<std::string>& argv,
                            const std::vector<std::string>& extraEnv, int outFd, pid_t parent) {
  setpgid(0, 0);
  // If the test process dies, the launcher gets SIGTERM and tears its ranks down.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(125);
  dup2(outFd, STDOUT_FILENO);
  dup2(outFd, STDERR_FILENO);
  if (outFd > STDERR_FILENO) close(outFd);
  int devNull = open("/dev/null", O_RDONLY);
  if (devNull >= 0) {
    dup2(devNull, STDIN_FILENO);
    close(devNull);
  }
  for (const auto& kv : extraEnv) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    setenv(kv.substr(0, eq).c_str(), kv.substr(eq + 1).c_str(), 1);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  std::fprintf(stderr, "harness: cannot exec %s: %s\n", args[0], std::strerror(errno));
  _exit(127);
}

}  // namespace

std::string MultiProcResult::describe() const {
  char buf[128];
  if (termSignal != 0) {
    std::snprintf(buf, sizeof(buf), "killed by %s after %.1f s%s", strsignal(termSignal), seconds,
                  timedOut ? " (timed out)" : "");
  } else {
    std::snprintf(buf, sizeof(buf), "exit %d after %.1f s%s", exitCode, seconds,
                  timedOut ? " (timed out)" : "");
  }
  return buf;
}

MultiProcResult runCommand(const std::vector<std::string>& argv, double timeoutSeconds,
                           const std::vector<std::string>& extraEnv) {
  MultiProcResult result;
  if (argv.empty()) {
    result.output = "harness: runCommand with an empty argv";
    return result;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    result.output = std::string("harness: pipe failed: ") + std::strerror(errno);
    return result;
  }
  std::fflush(nullptr);
  const auto start = Clock::now();
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    int out = dup(fds[1]);  // without O_CLOEXEC, so it survives exec as stdout/stderr
    execChild(argv, extraEnv, out, parent);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    result.output = std::string("harness: fork failed: ") + std::strerror(errno);
    return result;
  }
  setpgid(pid, pid);  // also from the parent, so the group exists before we might signal it

  bool exited = false;
  bool pipeOpen = true;
  bool termSent = false;
  bool killSent = false;
  Clock::time_point termAt;
  Clock::time_point exitedAt;
  int status = 0;
  char buf[65536];
  while (true) {
    if (!exited) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        exited = true;
        exitedAt = Clock::now();
        kill(-pid, SIGKILL);  // anything the child left in its group
      }
    }
    if (exited && (!pipeOpen || since(exitedAt) > 2.0)) break;
    if (!exited && !termSent && since(start) > timeoutSeconds) {
      result.timedOut = true;
      kill(-pid, SIGTERM);
      termSent = true;
      termAt = Clock::now();
    }
    if (termSent && !killSent && since(termAt) > kKillGraceSeconds) {
      kill(-pid, SIGKILL);
      killSent = true;
    }
    if (pipeOpen) {
      pollfd p{fds[0], POLLIN, 0};
      int rc = poll(&p, 1, 20);
      if (rc > 0) {
        ssize_t n = read(fds[0], buf, sizeof(buf));
        if (n > 0) {
          result.output.append(buf, static_cast<size_t>(n));
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          pipeOpen = false;
        }
      }
    } else {
      usleep(10000);
    }
  }
  close(fds[0]);
  result.seconds = since(start);
  if (WIFEXITED(status)) {
    result.exitCode = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.termSignal = WTERMSIG(status);
    result.exitCode = 128 + result.termSignal;
  }
  return result;
}

MultiProcResult runUnderLauncher(const std::vector<std::string>& launcherArgs,
                                 const std::vector<std::string>& program, double timeoutSeconds,
                                 const std::vector<std::string>& extraEnv) {
  std::vector<std::string> argv{launcherPath()};
  argv.insert(argv.end(), launcherArgs.begin(), launcherArgs.end());
  argv.push_back("--");
  argv.insert(argv.end(), program.begin(), program.end());
  return runCommand(argv, timeoutSeconds, extraEnv);
}

MultiProcResult runThisTestUnderLauncher(const std::vector<std::string>& launcherArgs,
                                         double timeoutSeconds,
                                         const std::vector<std::string>& childArgs,
                                         const std::vector<std::string>& extraEnv) {
  MultiProcResult result;
  if (isChild()) {
    result.output =
        "harness: runThisTestUnderLauncher called inside a child rank (the test body "
        "must branch on isthmus::testing::isChild())";
    return result;
  }
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) {
    result.output = "harness: runThisTestUnderLauncher called outside a running test";
    return result;
  }
  std::vector<std::string> program{
      selfExePath(), std::string("--gtest_filter=") + info->test_suite_name() + "." + info->name(),
      "--gtest_brief=1"};
  program.insert(program.end(), childArgs.begin(), childArgs.end());
  std::vector<std::string> env = extraEnv;
  env.push_back("ISTHMUS_TEST_CHILD=1");
  return runUnderLauncher(launcherArgs, program, timeoutSeconds, env);
}

bool isChild() {
  const char* v = std::getenv("ISTHMUS_TEST_CHILD");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

std::string buildPath(const std::string& relative) {
  const char* dir = std::getenv("ISTHMUS_BUILD_DIR");
  std::string base = dir != nullptr && *dir != '\0' ? dir : ISTHMUS_HARNESS_BUILD_DIR;
  if (base.empty()) return relative;
  return base + "/" + relative;
}

std::string launcherPath() {
  const char* env = std::getenv("ISTHMUS_RUN");
  if (env != nullptr && *env != '\0') return env;
  return buildPath("tools/launcher/isthmus-run");
}

std::string selfExePath() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "/proc/self/exe";
  buf[n] = '\0';
  return buf;
}

int countLines(const std::string& output, const std::string& needle) {
  int count = 0;
  size_t pos = 0;
  while (pos < output.size()) {
    size_t end = output.find('\n', pos);
    if (end == std::string::npos) end = output.size();
    if (output.substr(pos, end - pos).find(needle) != std::string::npos) ++count;
    pos = end + 1;
  }
  return count;
}

std::vector<int> pidsWithCmdlineContaining(const std::string& needle) {
  std::vector<int> pids;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return pids;
  const int self = getpid();
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == self) continue;
    const std::string base = std::string("/proc/") + e->d_name;
    std::ifstream statFile(base + "/stat");
    std::string stat;
    std::getline(statFile, stat);
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z') continue;
    std::ifstream cmdFile(base + "/cmdline", std::ios::binary);
    std::stringstream cmd;
    cmd << cmdFile.rdbuf();
    std::string text = cmd.str();
    for (auto& c : text) {
      if (c == '\0') c = ' ';
    }
    if (text.find(needle) != std::string::npos) pids.push_back(static_cast<int>(pid));
  }
  closedir(dir);
  return pids;
}

}  // namespace isthmus::testing
