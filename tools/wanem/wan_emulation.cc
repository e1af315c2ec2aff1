// WanEmulation: namespaces + TUN devices + relay, with teardown on every path.
#include "tools/wanem/wan_emulation.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "runtime/core/logging.h"
#include "tools/wanem/netns.h"
#include "tools/wanem/relay.h"
#include "tools/wanem/tun_device.h"

namespace isthmus::wanem {
namespace {

constexpr uint32_t kBaseAddr = (10u << 24) | (77u << 16);  // 10.77.0.0/24
constexpr const char* kIfName = "wan0";

std::atomic<int>& instanceCounter() {
  static std::atomic<int> counter{0};
  return counter;
}

// Effective capability bits of this process (CapEff in /proc/self/status).
uint64_t effectiveCaps() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 16);
  }
  return 0;
}

std::string addressOf(int center) {
  uint32_t a = kBaseAddr + static_cast<uint32_t>(center) + 1;
  return strCat(a >> 24, ".", (a >> 16) & 255, ".", (a >> 8) & 255, ".", a & 255);
}

// Per-namespace TCP settings; returns what the namespace ended up with, for the record.
Result<std::string> applyTcpSettings(const TcpSettings& tcp) {
  Status st = writeSysctl("net.ipv4.tcp_congestion_control", tcp.congestionControl);
  if (!st.ok()) {
    auto avail = readSysctl("net.ipv4.tcp_available_congestion_control");
    return invalidArgumentError("WAN spec: congestion control '", tcp.congestionControl,
                                "' cannot be set (available: ",
                                avail.ok() ? *avail : std::string("?"), "): ", st.message());
  }
  if (tcp.maxBufferBytes > 0) {
    ISTHMUS_RETURN_IF_ERROR(
        writeSysctl("net.ipv4.tcp_rmem", strCat("4096 131072 ", tcp.maxBufferBytes)));
    ISTHMUS_RETURN_IF_ERROR(
        writeSysctl("net.ipv4.tcp_wmem", strCat("4096 16384 ", tcp.maxBufferBytes)));
  }
  // Each connection starts from scratch: no ssthresh/RTT cached from an earlier run.
  ISTHMUS_RETURN_IF_ERROR(writeSysctl("net.ipv4.tcp_no_metrics_save", "1"));
  ISTHMUS_RETURN_IF_ERROR(
      writeSysctl("net.ipv4.tcp_slow_start_after_idle", tcp.slowStartAfterIdle ? "1" : "0"));
  std::string report;
  for (const char* key : {"net.ipv4.tcp_congestion_control", "net.ipv4.tcp_rmem",
                          "net.ipv4.tcp_wmem", "net.ipv4.tcp_slow_start_after_idle"}) {
    auto v = readSysctl(key);
    report += strCat(report.empty() ? "" : " ", key + 9, "=", v.ok() ? *v : std::string("?"));
  }
  return report;
}

bool hasWord(const std::string& list, const std::string& word) {
  std::istringstream is(list);
  std::string w;
  while (is >> w) {
    if (w == word) return true;
  }
  return false;
}

// A namespace other than the initial one may only pick a congestion control from the host's
// tcp_allowed_congestion_control (the kernel returns EPERM otherwise). Widening that list only
// lets more sockets choose that algorithm, so add ours to it, once, and say so.
Status allowCongestionControl(const std::string& cc) {
  auto allowed = readSysctl("net.ipv4.tcp_allowed_congestion_control");
  if (!allowed.ok() || hasWord(*allowed, cc)) return okStatus();
  auto available = readSysctl("net.ipv4.tcp_available_congestion_control");
  if (available.ok() && !hasWord(*available, cc)) {
    return invalidArgumentError("WAN spec: congestion control '", cc,
                                "' is not available on this host (available: ", *available, ")");
  }
  std::string widened = *allowed + " " + cc;
  Status st = writeSysctl("net.ipv4.tcp_allowed_congestion_control", widened);
  if (!st.ok()) {
    return st.withContext(strCat("wanem: namespaces can only use congestion control '", cc,
                                 "' if the host allows it (allowed now: ", *allowed, ")"));
  }
  ISTHMUS_LOG(kWarn) << "wanem: added '" << cc
                     << "' to the host's net.ipv4.tcp_allowed_congestion_control (was '" << *allowed
                     << "') so the emulated centers can use it";
  return okStatus();
}

}  // namespace

class WanEmulation::Impl {
 public:
  int numCenters = 0;
  WanSpec spec;
  std::vector<std::string> names;
  std::vector<int> tunFds;
  std::vector<std::unique_ptr<LinkCounters>> counters;
  std::string tcpReport;
  std::unique_ptr<Relay> relay;
  WanStats finalStats;
  bool stopped = false;
  mutable std::mutex mu;

  Status teardown() {
    Status first;
    if (relay) {
      relay->stop();
      finalStats = relay->stats();
      relay.reset();
    }
    for (int& fd : tunFds) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
    counters.clear();
    for (const std::string& name : names) {
      Status st = deleteNetns(name);
      if (!st.ok() && first.ok()) first = st;
    }
    return first;
  }
};

Status checkPrivileges() {
  if (geteuid() != 0) {
    return notSupportedError(
        "WAN emulation needs root: it creates network namespaces (mounted under /run/netns) and "
        "TUN devices, which needs CAP_SYS_ADMIN and CAP_NET_ADMIN; this process runs as uid ",
        geteuid(),
        ". Run it as root (e.g. sudo). Unprivileged user namespaces are not "
        "supported: ranks would have to join the emulator's user namespace too.");
  }
  uint64_t caps = effectiveCaps();
  const uint64_t kNetAdmin = 1ull << 12, kSysAdmin = 1ull << 21;
  if ((caps & kNetAdmin) == 0 || (caps & kSysAdmin) == 0) {
    return notSupportedError(
        "WAN emulation needs CAP_NET_ADMIN and CAP_SYS_ADMIN; this root "
        "process lacks ",
        (caps & kNetAdmin) == 0 ? "CAP_NET_ADMIN " : "",
        (caps & kSysAdmin) == 0 ? "CAP_SYS_ADMIN" : "", " (a restricted container?)");
  }
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return notSupportedError("WAN emulation needs /dev/net/tun: open failed: ",
                             std::strerror(errno), " (load the tun module or expose the device)");
  }
  close(fd);
  return okStatus();
}

bool WanStats::keptUp() const {
  for (const DirectionStats& d : directions) {
    if (d.latePackets > 0 || d.droppedOverrun > 0) return false;
  }
  for (uint64_t t : tunTxDropped) {
    if (t > 0) return false;
  }
  return true;
}

std::string WanStats::toString() const {
  std::ostringstream os;
  os.precision(4);
  for (const DirectionStats& d : directions) {
    os << "link " << d.src << "->" << d.dst << ": in " << d.packetsIn << " pkts " << d.bytesIn / 1e6
       << " MB, out " << d.packetsOut << " pkts " << d.bytesOut / 1e6 << " MB, lost "
       << d.droppedLoss << ", queue drops " << d.droppedQueue << ", overrun " << d.droppedOverrun
       << ", late " << d.latePackets << " (max " << d.maxLateMs << " ms)";
    if (d.writeErrors > 0) os << ", write errors " << d.writeErrors;
    os << ", frames in/out " << d.framesIn << "/" << d.framesOut << ", write busy "
       << d.writeBusySec << " s, lateness histogram (<0.1,<0.25,<0.5,<1,<2,<5,<10,>=10 ms):";
    for (uint64_t v : d.lateHistogram) os << " " << v;
    os << "\n";
  }
  os << "tun drops:";
  for (size_t c = 0; c < tunTxDropped.size(); ++c) os << " c" << c << "=" << tunTxDropped[c];
  os << ", unroutable " << unroutable << "; verdict: ";
  if (keptUp()) {
    os << "relay kept up";
  } else {
    uint64_t frames = 0, late = 0, overrun = 0, tun = 0;
    double worst = 0;
    for (const DirectionStats& d : directions) {
      frames += d.packetsOut;
      late += d.latePackets;
      overrun += d.droppedOverrun;
      worst = std::max(worst, d.maxLateMs);
    }
    for (uint64_t t : tunTxDropped) tun += t;
    os << "RELAY FELL BEHIND: " << late << " of " << frames
       << " packets late beyond the tolerance (worst " << worst << " ms), " << overrun
       << " overrun drops, " << tun << " TUN drops";
  }
  return os.str();
}

WanEmulation::WanEmulation(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WanEmulation::~WanEmulation() {
  Status st = stop();
  if (!st.ok()) {
    ISTHMUS_LOG(kError) << "wanem: teardown failed: " << st.toString();
  }
}

Result<std::unique_ptr<WanEmulation>> WanEmulation::start(int numCenters, const WanSpec& spec) {
  ISTHMUS_RETURN_IF_ERROR(validateWanSpec(spec, numCenters));
  ISTHMUS_RETURN_IF_ERROR(checkPrivileges());
  int removed = 0;
  Status cleaned = cleanupStaleNamespaces(&removed);
  if (!cleaned.ok()) {
    ISTHMUS_LOG(kWarn) << "wanem: stale namespace clean-up: " << cleaned.toString();
  }
  if (removed > 0) {
    ISTHMUS_LOG(kWarn) << "wanem: removed " << removed << " stale namespaces";
  }

  ISTHMUS_RETURN_IF_ERROR(allowCongestionControl(spec.tcp.congestionControl));

  auto impl = std::make_unique<Impl>();
  impl->numCenters = numCenters;
  impl->spec = spec;
  OwnerId owner = selfOwner();
  int instance = instanceCounter().fetch_add(1);
  // From here on, any failure removes what was made.
  auto fail = [&](Status st) -> Status {
    Status td = impl->teardown();
    if (!td.ok()) {
      ISTHMUS_LOG(kError) << "wanem: teardown after failure: " << td.toString();
    }
    return st;
  };
  for (int c = 0; c < numCenters; ++c) {
    std::string name = makeNetnsName(owner, instance, c);
    Status st = createNetns(name);
    if (!st.ok()) return fail(st.withContext(strCat("wanem: center ", c)));
    impl->names.push_back(name);
    impl->tunFds.push_back(-1);
    impl->counters.push_back(std::make_unique<LinkCounters>());
    int* fdOut = &impl->tunFds.back();
    LinkCounters* counters = impl->counters.back().get();
    std::string report;
    st = runInNetns(strCat(kNetnsRunDir, "/", name), [&]() -> Status {
      TunSetup setup;
      setup.ifname = kIfName;
      setup.address = addressOf(c);
      // IPv6 off for devices created from now on (wan0; lo keeps ::1), before wan0 comes up:
      // no router solicitations wandering into the relay. Absent IPv6 is fine too.
      (void)writeSysctl("net.ipv6.conf.default.disable_ipv6", "1");
      ISTHMUS_ASSIGN_OR_RETURN(*fdOut, createTun(setup));
      ISTHMUS_ASSIGN_OR_RETURN(report, applyTcpSettings(spec.tcp));
      return counters->open(kIfName);
    });
    if (!st.ok()) return fail(st.withContext(strCat("wanem: center ", c, " (", name, ")")));
    impl->tcpReport = report;
  }
  RelayOptions ro;
  ro.numCenters = numCenters;
  ro.tunFds = impl->tunFds;
  ro.spec = spec;
  ro.baseAddr = kBaseAddr;
  ro.seed = static_cast<uint64_t>(owner.pid) * 7919 + static_cast<uint64_t>(instance);
  Impl* raw = impl.get();
  ro.tunDrops = [raw] {
    std::vector<uint64_t> out;
    for (auto& c : raw->counters) {
      auto v = c->txDropped();
      out.push_back(v.ok() ? *v : 0);
    }
    return out;
  };
  auto relay = Relay::start(std::move(ro));
  if (!relay.ok()) return fail(relay.status());
  impl->relay = std::move(relay).value();
  ISTHMUS_LOG(kInfo) << "wanem: " << numCenters << " centers up (" << impl->names[0]
                     << "...), spec " << spec.toString() << "; namespace TCP: " << impl->tcpReport;
  return std::unique_ptr<WanEmulation>(new WanEmulation(std::move(impl)));
}

int WanEmulation::numCenters() const { return impl_->numCenters; }
const WanSpec& WanEmulation::spec() const { return impl_->spec; }
const std::string& WanEmulation::netnsName(int center) const {
  return impl_->names.at(static_cast<size_t>(center));
}
std::string WanEmulation::netnsPath(int center) const {
  return strCat(kNetnsRunDir, "/", netnsName(center));
}
std::string WanEmulation::address(int center) const { return addressOf(center); }
const char* WanEmulation::interfaceName() { return kIfName; }
const std::string& WanEmulation::tcpSettings() const { return impl_->tcpReport; }

Status WanEmulation::stop() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stopped) return okStatus();
  impl_->stopped = true;
  Status st = impl_->teardown();
  const WanStats& s = impl_->finalStats;
  if (!s.keptUp()) {
    ISTHMUS_LOG(kWarn) << "wanem: the relay did not keep up during this run:\n" << s.toString();
  } else {
    ISTHMUS_LOG(kInfo) << "wanem: stopped\n" << s.toString();
  }
  return st;
}

WanStats WanEmulation::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->relay) return impl_->relay->stats();
  return impl_->finalStats;
}

}  // namespace isthmus::wanem
