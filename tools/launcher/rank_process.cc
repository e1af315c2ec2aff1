#include "tools/launcher/rank_process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace isthmus::launcher {
namespace {

// What the child reports through the status pipe before it dies.
struct ChildFailure {
  int stage;  // 1 = setns, 2 = exec, 3 = parent died, 4 = sysfs of the namespace
  int err;
};

[[noreturn]] void failChild(int statusFd, int stage, int err) {
  ChildFailure f{stage, err};
  ssize_t ignored = write(statusFd, &f, sizeof(f));
  (void)ignored;
  _exit(127);
}

bool isExecutableFile(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

}  // namespace

Result<std::string> resolveProgram(const std::string& program) {
  if (program.empty()) return invalidArgumentError("empty program name");
  if (program.find('/') != std::string::npos) {
    if (isExecutableFile(program)) return program;
    return invalidArgumentError("program '", program, "' is not an executable file");
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= dirs.size()) {
    size_t colon = dirs.find(':', pos);
    std::string dir =
        dirs.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (isExecutableFile(candidate)) return candidate;
    if (colon == std::string::npos) break;
    pos = colon + 1;
  }
  return invalidArgumentError("program '", program, "' was not found on PATH");
}

Result<RankProcess> spawnRank(const RankSpec& spec) {
  int outPipe[2], errPipe[2], statusPipe[2];
  if (pipe2(outPipe, O_CLOEXEC) != 0) return internalError("pipe: ", std::strerror(errno));
  if (pipe2(errPipe, O_CLOEXEC) != 0) {
    close(outPipe[0]);
    close(outPipe[1]);
    return internalError("pipe: ", std::strerror(errno));
  }
  if (pipe2(statusPipe, O_CLOEXEC) != 0) {
    for (int fd : {outPipe[0], outPipe[1], errPipe[0], errPipe[1]}) close(fd);
    return internalError("pipe: ", std::strerror(errno));
  }
  // Everything the child needs, prepared before fork: no allocation after it.
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const char* program = spec.programPath.c_str();
  const char* netns = spec.netnsPath.empty() ? nullptr : spec.netnsPath.c_str();
  const pid_t launcherPid = getpid();

  pid_t pid = fork();
  if (pid == 0) {
    const int statusFd = statusPipe[1];
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != launcherPid) failChild(statusFd, 3, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    if (netns != nullptr) {
      int nsFd = open(netns, O_RDONLY | O_CLOEXEC);
      if (nsFd < 0 || setns(nsFd, CLONE_NEWNET) != 0) failChild(statusFd, 1, errno);
      close(nsFd);
      // As `ip netns exec` does: a private mount namespace with a fresh /sys, so that
      // /sys/class/net lists this namespace's interfaces (UCX enumerates devices there).
      if (unshare(CLONE_NEWNS) != 0 ||
          mount("none", "/", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) {
        failChild(statusFd, 4, errno);
      }
      umount2("/sys", MNT_DETACH);
      if (mount("isthmus-netns", "/sys", "sysfs", 0, nullptr) != 0) failChild(statusFd, 4, errno);
    }
    // dup2 clears close-on-exec on the new descriptors 1 and 2.
    if (dup2(outPipe[1], STDOUT_FILENO) < 0 || dup2(errPipe[1], STDERR_FILENO) < 0) {
      failChild(statusFd, 2, errno);
    }
    execve(program, argv.data(), envp.data());
    failChild(statusFd, 2, errno);
  }
  const int forkErr = errno;
  close(outPipe[1]);
  close(errPipe[1]);
  close(statusPipe[1]);
  if (pid < 0) {
    close(outPipe[0]);
    close(errPipe[0]);
    close(statusPipe[0]);
    return internalError("fork for rank ", spec.rank, " failed: ", std::strerror(forkErr));
  }
  setpgid(pid, pid);  // from the parent too, so the group exists before we ever signal it
  // The status pipe closes at exec (success) or carries a ChildFailure.
  ChildFailure failure{0, 0};
  ssize_t n;
  do {
    n = read(statusPipe[0], &failure, sizeof(failure));
  } while (n < 0 && errno == EINTR);
  close(statusPipe[0]);
  if (n == static_cast<ssize_t>(sizeof(failure))) {
    waitpid(pid, nullptr, 0);
    close(outPipe[0]);
    close(errPipe[0]);
    if (failure.stage == 1) {
      return internalError("rank ", spec.rank, ": cannot enter network namespace ", spec.netnsPath,
                           ": ", std::strerror(failure.err));
    }
    if (failure.stage == 3) return internalError("rank ", spec.rank, ": launcher went away");
    if (failure.stage == 4) {
      return internalError("rank ", spec.rank, ": cannot mount the sysfs of network namespace ",
                           spec.netnsPath, ": ", std::strerror(failure.err));
    }
    return invalidArgumentError("rank ", spec.rank, ": cannot execute '", spec.programPath,
                                "': ", std::strerror(failure.err));
  }
  fcntl(outPipe[0], F_SETFL, fcntl(outPipe[0], F_GETFL) | O_NONBLOCK);
  fcntl(errPipe[0], F_SETFL, fcntl(errPipe[0], F_GETFL) | O_NONBLOCK);
  RankProcess p;
  p.pid = pid;
  p.stdoutFd = outPipe[0];
  p.stderrFd = errPipe[0];
  return p;
}

}  // namespace isthmus::launcher
