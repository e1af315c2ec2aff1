#include "tools/launcher/job.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>

#include "runtime/store/tcp_store.h"
#include "runtime/topology.h"
#include "tools/launcher/output_relay.h"
#include "tools/launcher/rank_env.h"
#include "tools/launcher/rank_process.h"
#include "tools/launcher/wan_setup.h"

extern char** environ;

namespace isthmus::launcher {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void say(const std::string& line) {
  std::string out = "isthmus-run: " + line + "\n";
  writeFully(STDERR_FILENO, out.data(), out.size());
}

std::string signalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? strCat("SIG", abbrev) : strCat("signal ", sig);
}

// Writes `text` to a new file /tmp/<stem>-XXXXXX.textproto and returns its path.
Result<std::string> writeTempFile(const std::string& stem, const std::string& text) {
  std::string path = "/tmp/" + stem + "-XXXXXX.textproto";
  int fd = mkstemps(path.data(), static_cast<int>(std::strlen(".textproto")));
  if (fd < 0) return internalError("mkstemps ", path, ": ", std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fd);
  if (done != text.size()) {
    unlink(path.c_str());
    return internalError("writing ", path, ": ", std::strerror(errno));
  }
  return path;
}

std::string randomJobId() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%08x%08x", rd(), rd());
  return buf;
}

struct RankState {
  int rank = 0;
  int center = 0;
  int localRank = 0;
  pid_t pid = -1;
  bool running = false;
  int waitStatus = 0;
  double exitSeconds = 0;
  bool killed = false;  // we sent SIGKILL after the grace period

  std::string who() const {
    return strCat("rank ", rank, " (center ", center, ", local rank ", localRank, ")");
  }
  bool failed() const { return !WIFEXITED(waitStatus) || WEXITSTATUS(waitStatus) != 0; }
  std::string exitText() const {
    if (WIFEXITED(waitStatus)) return strCat("exited with status ", WEXITSTATUS(waitStatus));
    if (WIFSIGNALED(waitStatus)) {
      const int sig = WTERMSIG(waitStatus);
      return strCat("was killed by signal ", sig, " (", signalName(sig), ")");
    }
    return "ended";
  }
  int exitCode() const {
    if (WIFEXITED(waitStatus)) return WEXITSTATUS(waitStatus);
    if (WIFSIGNALED(waitStatus)) return 128 + WTERMSIG(waitStatus);
    return 1;
  }
};

enum class StopReason { kNone, kRankFailed, kTimeout, kSignal, kStartFailed };

class Supervisor {
 public:
  Supervisor(const LauncherOptions& options, int sigFd) : options_(options), sigFd_(sigFd) {}

  void add(RankState r) { ranks_.push_back(r); }
  OutputRelay& relay() { return relay_; }

  // Stops whatever was started (used when starting a later rank failed).
  void stopForStartFailure() { beginStop(StopReason::kStartFailed, SIGTERM); }

  int run() {
    start_ = Clock::now();
    while (true) {
      std::vector<pollfd> fds{{sigFd_, POLLIN, 0}};
      relay_.appendPollFds(&fds);
      int rc = poll(fds.data(), fds.size(), 50);
      if (rc > 0) {
        if (fds[0].revents & POLLIN) readSignals();
        for (size_t i = 1; i < fds.size(); ++i) {
          if (fds[i].revents != 0) relay_.onReadable(fds[i].fd);
        }
      }
      reap();
      checkTimers();
      if (runningCount() == 0) {
        if (allExitedAt_ == Clock::time_point()) allExitedAt_ = Clock::now();
        // Output still in the pipes comes out; a grandchild holding a pipe open cannot keep us.
        if (relay_.openStreams() == 0 || since(allExitedAt_) > 1.0) break;
      }
    }
    relay_.drainAndCloseAll();
    // Anything a rank left behind in its process group goes too.
    for (const auto& r : ranks_) {
      if (r.pid > 0) kill(-r.pid, SIGKILL);
    }
    return finish();
  }

 private:
  int runningCount() const {
    int n = 0;
    for (const auto& r : ranks_) n += r.running ? 1 : 0;
    return n;
  }

  std::string runningList() const {
    std::string s;
    for (const auto& r : ranks_) {
      if (!r.running) continue;
      if (!s.empty()) s += ", ";
      s += r.who();
    }
    return s;
  }

  void signalAll(int sig) {
    for (const auto& r : ranks_) {
      if (r.running) kill(-r.pid, sig);
    }
  }

  void beginStop(StopReason reason, int sig) {
    if (reason_ != StopReason::kNone) return;
    reason_ = reason;
    stopAt_ = Clock::now();
    signalAll(sig);
  }

  void readSignals() {
    signalfd_siginfo info;
    while (read(sigFd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
      const int sig = static_cast<int>(info.ssi_signo);
      if (sig == SIGCHLD) continue;  // reap() runs every iteration
      if (reason_ == StopReason::kSignal) {
        say(strCat("second ", signalName(sig), ": killing every rank now"));
        killRemaining();
        continue;
      }
      if (reason_ != StopReason::kNone) continue;  // already stopping for another reason
      say(strCat("received ", signalName(sig), "; forwarding it to ", runningCount(),
                 " running rank(s)"));
      stopSignal_ = sig;
      beginStop(StopReason::kSignal, sig);
    }
  }

  void reap() {
    for (auto& r : ranks_) {
      if (!r.running) continue;
      int status = 0;
      pid_t got = waitpid(r.pid, &status, WNOHANG);
      if (got != r.pid) continue;
      r.running = false;
      r.waitStatus = status;
      r.exitSeconds = since(start_);
      if (r.failed() && reason_ == StopReason::kNone) {
        failed_ = &r - ranks_.data();
        say(strCat(r.who(), " ", r.exitText(), " after ", formatSeconds(r.exitSeconds),
                   "; stopping the other ", runningCount(), " rank(s)"));
        beginStop(StopReason::kRankFailed, SIGTERM);
      }
    }
  }

  void killRemaining() {
    for (auto& r : ranks_) {
      if (!r.running) continue;
      kill(-r.pid, SIGKILL);
      r.killed = true;
    }
    killSent_ = true;
  }

  void checkTimers() {
    if (reason_ == StopReason::kNone && options_.timeoutSeconds > 0 &&
        since(start_) > options_.timeoutSeconds && runningCount() > 0) {
      say(strCat("timeout: the job ran longer than --timeout ", options_.timeoutSeconds,
                 " s; still running: ", runningList(), "; stopping them"));
      beginStop(StopReason::kTimeout, SIGTERM);
    }
    if (reason_ != StopReason::kNone && !killSent_ && since(stopAt_) > options_.killGraceSeconds &&
        runningCount() > 0) {
      say(strCat(runningList(), " still running ", options_.killGraceSeconds,
                 " s after SIGTERM; sending SIGKILL"));
      killRemaining();
    }
  }

  static std::string formatSeconds(double s) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1f s", s);
    return buf;
  }

  int finish() {
    const std::string elapsed = formatSeconds(since(start_));
    switch (reason_) {
      case StopReason::kNone: {
        // Every rank ended on its own; a failure would have set reason_.
        return 0;
      }
      case StopReason::kRankFailed: {
        const RankState& r = ranks_[failed_];
        say(strCat("job failed: ", r.who(), " ", r.exitText(), "; the other ranks were stopped",
                   " (", ranks_.size(), " ranks, ", elapsed, ")"));
        return r.exitCode() == 0 ? 1 : r.exitCode();
      }
      case StopReason::kTimeout:
        say(strCat("job stopped by --timeout ", options_.timeoutSeconds, " s after ", elapsed,
                   " (exit 124)"));
        return 124;
      case StopReason::kSignal:
        say(strCat("job interrupted by ", signalName(stopSignal_), " after ", elapsed));
        return 128 + stopSignal_;
      case StopReason::kStartFailed: return 127;
    }
    return 1;
  }

  const LauncherOptions& options_;
  int sigFd_;
  std::vector<RankState> ranks_;
  OutputRelay relay_;
  Clock::time_point start_;
  Clock::time_point stopAt_;
  Clock::time_point allExitedAt_;
  StopReason reason_ = StopReason::kNone;
  bool killSent_ = false;
  size_t failed_ = 0;
  int stopSignal_ = 0;
};

sigset_t launcherSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  return set;
}

}  // namespace

void blockLauncherSignals() {
  sigset_t set = launcherSignals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int runJob(const LauncherOptions& options) {
  sigset_t set = launcherSignals();
  int sigFd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigFd < 0) {
    say(strCat("signalfd failed: ", std::strerror(errno)));
    return 1;
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } sigFdCloser{sigFd};

  auto topology = options.topologyPath.empty()
                      ? Topology::fromRanksPerCenter(options.ranksPerCenter)
                      : Topology::fromFile(options.topologyPath);
  if (!topology.ok()) {
    say(topology.status().toString());
    return 2;
  }
  auto program = resolveProgram(options.program[0]);
  if (!program.ok()) {
    say(program.status().message());
    return 127;
  }
  const std::string jobId = options.jobId.empty() ? randomJobId() : options.jobId;

  std::unique_ptr<WanSetup> wan;
  TcpStoreServer::Options storeOptions;
  storeOptions.host = "127.0.0.1";  // loopback only: nothing outside this machine needs it
  storeOptions.port = options.storePort;
  if (options.wan) {
    auto started = WanSetup::start(options.numCenters(), options.wanSpec, *topology);
    if (!started.ok()) {
      say(started.status().toString());
      return 2;
    }
    wan = std::move(*started);
    // Every center reaches center 0's address over the emulated WAN: the store lives there.
    storeOptions.host = wan->address(0);
    storeOptions.netnsPath = wan->netnsPath(0);
  }
  auto server = TcpStoreServer::start(storeOptions);
  if (!server.ok()) {
    say(strCat("cannot start the rendezvous store: ", server.status().toString()));
    return 1;
  }
  const std::string storeHost = storeOptions.host;
  const uint16_t storePort = (*server)->port();
  say(strCat("job ", jobId, ": ", options.numCenters(), " center(s), ranks per center ",
             ranksPerCenterText(options.ranksPerCenter), ", ", options.worldSize(),
             " rank(s); store at ", storeHost, ":", storePort,
             wan ? strCat("; WAN ", wan->describe()) : std::string()));

  RankEnvInputs envIn;
  envIn.base = environSnapshot(environ);
  envIn.worldSize = options.worldSize();
  envIn.numCenters = options.numCenters();
  envIn.ranksPerCenter = options.ranksPerCenter;
  envIn.storeHost = storeHost;
  envIn.storePort = storePort;
  envIn.jobId = jobId;
  envIn.jobSecret = hasJobSecret(envIn.base) ? std::string() : randomJobSecret();
  envIn.topologyPath = options.topologyPath;
  // Under --wan without --topology, the ranks get a topology describing the emulated links.
  struct FileRemover {
    std::string path;
    ~FileRemover() {
      if (!path.empty()) unlink(path.c_str());
    }
  } emulatedTopology;
  if (wan && options.topologyPath.empty()) {
    auto written = writeTempFile("isthmus-run-topology", wan->emulatedTopologyText(*topology));
    if (!written.ok()) {
      say(strCat("cannot write the emulated topology: ", written.status().toString()));
      return 1;
    }
    emulatedTopology.path = *written;
    envIn.topologyPath = *written;
  }
  envIn.wan = wan != nullptr;

  Supervisor supervisor(options, sigFd);
  int code = 0;
  bool startFailed = false;
  for (int rank = 0; rank < options.worldSize(); ++rank) {
    RankSpec spec;
    spec.rank = rank;
    spec.center = topology->centerOf(rank);
    spec.localRank = topology->localRank(rank);
    spec.programPath = *program;
    spec.argv = options.program;
    spec.env =
        rankEnvironment(envIn, rank, spec.center, spec.localRank, topology->centerSize(spec.center),
                        wan ? wan->address(spec.center) : std::string());
    if (wan) spec.netnsPath = wan->netnsPath(spec.center);
    auto proc = spawnRank(spec);
    if (!proc.ok()) {
      say(strCat("cannot start rank ", rank, ": ", proc.status().message()));
      startFailed = true;
      break;
    }
    RankState st;
    st.rank = rank;
    st.center = spec.center;
    st.localRank = spec.localRank;
    st.pid = proc->pid;
    st.running = true;
    supervisor.add(st);
    const std::string prefix = strCat("[c", spec.center, " r", rank, "] ");
    supervisor.relay().addStream(proc->stdoutFd, prefix, STDOUT_FILENO);
    supervisor.relay().addStream(proc->stderrFd, prefix, STDERR_FILENO);
  }
  if (startFailed) supervisor.stopForStartFailure();
  code = supervisor.run();
  (*server)->stop();
  if (wan) {
    Status st = wan->stop();
    if (!st.ok()) say(strCat("WAN emulation teardown: ", st.toString()));
  }
  return code;
}

}  // namespace isthmus::launcher
