// isthmus-wanem: run commands over an emulated WAN between network namespaces, and probe it.
//
//   isthmus-wanem run --centers N --wan SPEC [--center C] [--stats] [--stats-json F] -- CMD...
//   isthmus-wanem up --centers N --wan SPEC [--stats-every SECONDS]
//   isthmus-wanem echo-server [--bind ADDR] [--port P] [--port-file FILE]
//   isthmus-wanem probe --connect ADDR:PORT [--count N] [--size BYTES] [--timeout SECONDS]
//   isthmus-wanem cleanup | check | parse SPEC
//
// `run` starts the emulation, runs CMD (in the host namespace, or inside center C's with
// --center) with ISTHMUS_WAN_* variables naming the namespaces and addresses, and tears
// everything down when CMD exits or on SIGINT/SIGTERM/SIGHUP (CMD gets the signal, then SIGKILL
// after 5 s). It exits with CMD's status (128 + signal when a signal ended the run). If this tool
// is SIGKILLed, CMD gets SIGKILL too (PR_SET_PDEATHSIG) and the namespaces stay until the next
// start or `isthmus-wanem cleanup` removes them.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "runtime/core/logging.h"
#include "tools/wanem/packet_ring.h"
#include "tools/wanem/probe.h"
#include "tools/wanem/wan_emulation.h"

namespace isthmus::wanem {
namespace {

const char* kUsage =
    "usage:\n"
    "  isthmus-wanem run --centers N --wan SPEC [--center C] [--stats] [--stats-json FILE]\n"
    "                    -- CMD [ARGS...]\n"
    "      start the emulation, run CMD, tear down when it exits or on Ctrl-C.\n"
    "      CMD runs in the host namespace (or in center C's with --center) and sees\n"
    "      ISTHMUS_WAN_CENTERS, ISTHMUS_WAN_NETNS_<c>, ISTHMUS_WAN_ADDR_<c>, ISTHMUS_WAN_TCP,\n"
    "      ISTHMUS_WAN_SPEC; e.g. `ip netns exec $ISTHMUS_WAN_NETNS_1 iperf3 -s`.\n"
    "  isthmus-wanem up --centers N --wan SPEC [--stats-every SECONDS]\n"
    "      start the emulation and keep it up until SIGINT/SIGTERM.\n"
    "  isthmus-wanem echo-server [--bind ADDR] [--port P] [--port-file FILE]\n"
    "  isthmus-wanem probe --connect ADDR:PORT [--count N] [--size BYTES] [--timeout SECONDS]\n"
    "      TCP connect and echo round-trip times.\n"
    "  isthmus-wanem cleanup   remove namespaces left by dead owners\n"
    "  isthmus-wanem check     say whether this process may create namespaces and TUN devices\n"
    "  isthmus-wanem parse SPEC   print the spec as understood\n"
    "SPEC: rate=1gbit,rtt=40ms,jitter=0ms,loss=0,queue=auto[,cc=cubic,tcpbuf=default,late=1ms]"
    "[;A-B:rate=...]\n";

int usageError(const std::string& msg) {
  std::fprintf(stderr, "isthmus-wanem: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

struct Args {
  std::vector<std::string> positional;
  std::vector<std::string> command;  // after "--"
  std::vector<std::pair<std::string, std::string>> options;
  std::vector<std::string> flags;
  bool has(const std::string& flag) const {
    for (const auto& f : flags) {
      if (f == flag) return true;
    }
    return false;
  }
  const std::string* get(const std::string& key) const {
    for (const auto& o : options) {
      if (o.first == key) return &o.second;
    }
    return nullptr;
  }
};

bool isFlag(const std::string& a) { return a == "--stats" || a == "--help" || a == "-h"; }

Args parseArgs(int argc, char** argv, int from) {
  Args args;
  for (int i = from; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) args.command.push_back(argv[i]);
      break;
    }
    if (a.rfind("--", 0) == 0 && !isFlag(a)) {
      size_t eq = a.find('=');
      if (eq != std::string::npos) {
        args.options.emplace_back(a.substr(0, eq), a.substr(eq + 1));
      } else if (i + 1 < argc) {
        args.options.emplace_back(a, argv[++i]);
      } else {
        args.options.emplace_back(a, "");
      }
    } else if (isFlag(a)) {
      args.flags.push_back(a);
    } else {
      args.positional.push_back(a);
    }
  }
  return args;
}

bool parseInt(const std::string* text, int* out) {
  if (text == nullptr) return false;
  char* end = nullptr;
  long v = std::strtol(text->c_str(), &end, 10);
  if (end == text->c_str() || *end != '\0') return false;
  *out = static_cast<int>(v);
  return true;
}

// Starts the emulation from --centers and --wan; prints why not on failure.
std::unique_ptr<WanEmulation> startFromArgs(const Args& args) {
  int centers = 0;
  if (!parseInt(args.get("--centers"), &centers)) {
    usageError("--centers N is required");
    return nullptr;
  }
  const std::string* specText = args.get("--wan");
  if (specText == nullptr) {
    usageError("--wan SPEC is required");
    return nullptr;
  }
  auto spec = parseWanSpec(*specText);
  if (!spec.ok()) {
    std::fprintf(stderr, "isthmus-wanem: %s\n", spec.status().message().c_str());
    return nullptr;
  }
  auto emu = WanEmulation::start(centers, *spec);
  if (!emu.ok()) {
    std::fprintf(stderr, "isthmus-wanem: %s\n", emu.status().toString().c_str());
    return nullptr;
  }
  return std::move(emu).value();
}

void printLayout(const WanEmulation& emu) {
  std::fprintf(stderr, "isthmus-wanem: spec %s\n", emu.spec().toString().c_str());
  std::fprintf(stderr, "isthmus-wanem: namespace TCP settings: %s\n", emu.tcpSettings().c_str());
  for (int c = 0; c < emu.numCenters(); ++c) {
    std::fprintf(stderr, "isthmus-wanem: center %d: netns %s address %s\n", c,
                 emu.netnsName(c).c_str(), emu.address(c).c_str());
  }
}

sigset_t blockTeardownSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts: relay threads inherit
  return set;
}

int64_t g_startNs = 0;

// CPU time of this process's threads (the relay), excluding children such as iperf3.
void printRelayCpu() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  double user = static_cast<double>(ru.ru_utime.tv_sec) + ru.ru_utime.tv_usec / 1e6;
  double sys = static_cast<double>(ru.ru_stime.tv_sec) + ru.ru_stime.tv_usec / 1e6;
  double wall = static_cast<double>(monotonicNs() - g_startNs) / 1e9;
  std::fprintf(stderr,
               "isthmus-wanem: relay CPU: user %.2f s + sys %.2f s over %.2f s = %.3f cores "
               "(sys includes the kernel's TCP receive work done inside write() into a TUN)\n",
               user, sys, wall, (user + sys) / wall);
}

double relayCpuSeconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The final counters as JSON, for scripts (scripts/wan/validate.py).
void writeStatsJson(const std::string& path, const WanEmulation& emu, const WanStats& s, int rc) {
  std::ofstream out(path);
  double wall = static_cast<double>(monotonicNs() - g_startNs) / 1e9;
  out << "{\"spec\": \"" << emu.spec().toString() << "\", \"tcp\": \"" << emu.tcpSettings()
      << "\", \"command_status\": " << rc << ", \"kept_up\": " << (s.keptUp() ? "true" : "false")
      << ", \"relay_cpu_seconds\": " << relayCpuSeconds() << ", \"wall_seconds\": " << wall
      << ", \"unroutable\": " << s.unroutable << ", \"tun_tx_dropped\": [";
  for (size_t c = 0; c < s.tunTxDropped.size(); ++c) out << (c ? ", " : "") << s.tunTxDropped[c];
  out << "], \"directions\": [";
  for (size_t i = 0; i < s.directions.size(); ++i) {
    const DirectionStats& d = s.directions[i];
    out << (i ? ", " : "") << "{\"src\": " << d.src << ", \"dst\": " << d.dst
        << ", \"packets_in\": " << d.packetsIn << ", \"bytes_in\": " << d.bytesIn
        << ", \"packets_out\": " << d.packetsOut << ", \"bytes_out\": " << d.bytesOut
        << ", \"dropped_loss\": " << d.droppedLoss << ", \"dropped_queue\": " << d.droppedQueue
        << ", \"dropped_overrun\": " << d.droppedOverrun << ", \"late_packets\": " << d.latePackets
        << ", \"max_late_ms\": " << d.maxLateMs << ", \"frames_in\": " << d.framesIn
        << ", \"frames_out\": " << d.framesOut << ", \"write_errors\": " << d.writeErrors
        << ", \"late_histogram\": [";
    for (int b = 0; b < DirectionStats::kLateBuckets; ++b) {
      out << (b ? ", " : "") << d.lateHistogram[b];
    }
    out << "]}";
  }
  out << "]}\n";
}

int finish(WanEmulation& emu, bool printStats, int rc, const Args* args = nullptr) {
  Status st = emu.stop();
  WanStats s = emu.stats();
  if (printStats || !s.keptUp()) std::fprintf(stderr, "isthmus-wanem: %s\n", s.toString().c_str());
  if (printStats) printRelayCpu();
  if (args != nullptr && args->get("--stats-json") != nullptr) {
    writeStatsJson(*args->get("--stats-json"), emu, s, rc);
  }
  if (!st.ok()) {
    std::fprintf(stderr, "isthmus-wanem: teardown: %s\n", st.toString().c_str());
    if (rc == 0) rc = 1;
  }
  return rc;
}

int cmdRun(const Args& args) {
  if (args.command.empty()) return usageError("run: give the command after --");
  int center = -1;
  if (args.get("--center") != nullptr && !parseInt(args.get("--center"), &center)) {
    return usageError("--center needs a number");
  }
  sigset_t set = blockTeardownSignals();
  g_startNs = monotonicNs();
  auto emu = startFromArgs(args);
  if (!emu) return 1;
  if (center >= emu->numCenters()) {
    std::fprintf(stderr, "isthmus-wanem: --center %d but only %d centers\n", center,
                 emu->numCenters());
    return finish(*emu, false, 2);
  }
  printLayout(*emu);
  std::vector<std::string> env;
  env.push_back(strCat("ISTHMUS_WAN_CENTERS=", emu->numCenters()));
  env.push_back(strCat("ISTHMUS_WAN_SPEC=", emu->spec().toString()));
  env.push_back(strCat("ISTHMUS_WAN_TCP=", emu->tcpSettings()));
  for (int c = 0; c < emu->numCenters(); ++c) {
    env.push_back(strCat("ISTHMUS_WAN_NETNS_", c, "=", emu->netnsName(c)));
    env.push_back(strCat("ISTHMUS_WAN_ADDR_", c, "=", emu->address(c)));
  }
  std::string nsPath = center >= 0 ? emu->netnsPath(center) : "";
  pid_t parent = getpid();
  pid_t child = fork();
  if (child < 0) {
    std::fprintf(stderr, "isthmus-wanem: fork: %s\n", std::strerror(errno));
    return finish(*emu, false, 1);
  }
  if (child == 0) {
    // If this tool is killed (SIGKILL), the command goes too rather than run on, cut off.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    if (!nsPath.empty()) {
      int fd = open(nsPath.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        std::fprintf(stderr, "isthmus-wanem: enter %s: %s\n", nsPath.c_str(), std::strerror(errno));
        _exit(127);
      }
    }
    std::vector<char*> argv;
    for (const auto& a : args.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "isthmus-wanem: exec %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  int rc = 0;
  int killedBy = 0;
  int64_t killAt = -1;
  for (;;) {
    int status = 0;
    pid_t w = waitpid(child, &status, WNOHANG);
    if (w == child) {
      if (killedBy == 0) rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    struct timespec ts {
      0, 200 * 1000 * 1000
    };
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      if (killedBy == 0) {
        std::fprintf(stderr, "isthmus-wanem: got signal %d, stopping the command\n", sig);
        killedBy = sig;
        rc = 128 + sig;
        kill(child, sig);
        killAt = 25;  // 25 x 200 ms
      }
    }
    if (killAt > 0 && --killAt == 0) kill(child, SIGKILL);
  }
  return finish(*emu, args.has("--stats"), rc, &args);
}

int cmdUp(const Args& args) {
  double every = 0;
  if (const std::string* e = args.get("--stats-every")) every = std::atof(e->c_str());
  sigset_t set = blockTeardownSignals();
  g_startNs = monotonicNs();
  auto emu = startFromArgs(args);
  if (!emu) return 1;
  printLayout(*emu);
  std::fprintf(stderr, "isthmus-wanem: up; Ctrl-C (SIGINT) or SIGTERM tears it down\n");
  int64_t ticks = 0;
  for (;;) {
    struct timespec ts {
      0, 100 * 1000 * 1000
    };
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) break;
    ++ticks;
    if (every > 0 && ticks % std::max<int64_t>(1, static_cast<int64_t>(every * 10)) == 0) {
      std::fprintf(stderr, "isthmus-wanem: %s\n", emu->stats().toString().c_str());
    }
  }
  return finish(*emu, true, 0, &args);
}

int cmdEchoServer(const Args& args) {
  std::string bindAddr = args.get("--bind") ? *args.get("--bind") : "0.0.0.0";
  int port = 0;
  if (args.get("--port") && !parseInt(args.get("--port"), &port)) return usageError("bad --port");
  sigset_t set = blockTeardownSignals();
  auto server = EchoServer::start(bindAddr, port);
  if (!server.ok()) {
    std::fprintf(stderr, "isthmus-wanem: %s\n", server.status().toString().c_str());
    return 1;
  }
  std::printf("listening on %s:%d\n", bindAddr.c_str(), (*server)->port());
  std::fflush(stdout);
  if (const std::string* file = args.get("--port-file")) {
    std::string tmp = *file + ".tmp";
    std::ofstream(tmp) << (*server)->port() << "\n";
    std::rename(tmp.c_str(), file->c_str());  // readers never see a half-written file
  }
  for (;;) {
    int sig = sigwaitinfo(&set, nullptr);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) break;
  }
  (*server)->stop();
  return 0;
}

int cmdProbe(const Args& args) {
  const std::string* target = args.get("--connect");
  if (target == nullptr || target->find(':') == std::string::npos) {
    return usageError("probe: --connect ADDR:PORT is required");
  }
  std::string host = target->substr(0, target->rfind(':'));
  int port = std::atoi(target->substr(target->rfind(':') + 1).c_str());
  int count = 20, size = 64;
  if (args.get("--count") && !parseInt(args.get("--count"), &count)) return usageError("--count");
  if (args.get("--size") && !parseInt(args.get("--size"), &size)) return usageError("--size");
  double timeout = args.get("--timeout") ? std::atof(args.get("--timeout")->c_str()) : 30.0;
  auto r = probeRtt(host, port, count, static_cast<size_t>(size), Deadline::afterSeconds(timeout));
  if (!r.ok()) {
    std::fprintf(stderr, "isthmus-wanem: probe: %s\n", r.status().toString().c_str());
    return 1;
  }
  std::printf("connect_rtt %s\necho_rtt %s\n", r->connect.toString().c_str(),
              r->echo.toString().c_str());
  return 0;
}

int mainImpl(int argc, char** argv) {
  if (argc < 2) return usageError("no command");
  std::string cmd = argv[1];
  Args args = parseArgs(argc, argv, 2);
  if (args.has("--help") || args.has("-h") || cmd == "help" || cmd == "--help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "run") return cmdRun(args);
  if (cmd == "up") return cmdUp(args);
  if (cmd == "echo-server") return cmdEchoServer(args);
  if (cmd == "probe") return cmdProbe(args);
  if (cmd == "check") {
    Status st = checkPrivileges();
    std::printf("%s\n",
                st.ok() ? "ok: can create namespaces and TUN devices" : st.toString().c_str());
    return st.ok() ? 0 : 1;
  }
  if (cmd == "cleanup") {
    int removed = 0;
    Status st = cleanupStaleNamespaces(&removed);
    std::printf("removed %d stale namespaces\n", removed);
    if (!st.ok()) std::fprintf(stderr, "isthmus-wanem: %s\n", st.toString().c_str());
    return st.ok() ? 0 : 1;
  }
  if (cmd == "parse") {
    if (args.positional.size() != 1) return usageError("parse takes one SPEC");
    auto spec = parseWanSpec(args.positional[0]);
    if (!spec.ok()) {
      std::fprintf(stderr, "isthmus-wanem: %s\n", spec.status().message().c_str());
      return 1;
    }
    std::printf("%s\n", spec->toString().c_str());
    return 0;
  }
  return usageError("unknown command '" + cmd + "'");
}

}  // namespace
}  // namespace isthmus::wanem

int main(int argc, char** argv) { return isthmus::wanem::mainImpl(argc, argv); }
