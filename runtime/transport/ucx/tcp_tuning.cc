#include "runtime/transport/ucx/tcp_tuning.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "runtime/transport/ucx/ucx_transport.h"

namespace isthmus::ucximpl {
namespace {

std::vector<int> openSocketFds(std::vector<unsigned long>* inodes) {
  std::vector<int> fds;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return fds;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    struct stat st {};
    if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    fds.push_back(static_cast<int>(fd));
    inodes->push_back(static_cast<unsigned long>(st.st_ino));
  }
  closedir(d);
  return fds;
}

}  // namespace

std::set<unsigned long> socketInodes() {
  std::vector<unsigned long> inodes;
  openSocketFds(&inodes);
  return std::set<unsigned long>(inodes.begin(), inodes.end());
}

CongestionResult setCongestionControl(const std::string& algorithm,
                                      const std::set<unsigned long>& before,
                                      const std::set<std::string>& remoteHosts) {
  CongestionResult r;
  r.algorithm = algorithm;
  std::vector<unsigned long> inodes;
  std::vector<int> fds = openSocketFds(&inodes);
  for (size_t i = 0; i < fds.size(); ++i) {
    if (before.count(inodes[i])) continue;
    const int fd = fds[i];
    int protocol = 0;
    socklen_t len = sizeof(protocol);
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) != 0 || protocol != IPPROTO_TCP) {
      continue;
    }
    sockaddr_in peer{};
    len = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0 ||
        peer.sin_family != AF_INET) {
      continue;
    }
    char host[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &peer.sin_addr, host, sizeof(host));
    if (!remoteHosts.count(host)) continue;
    if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, algorithm.data(),
                   static_cast<socklen_t>(algorithm.size())) != 0) {
      const int err = errno;
      r.error = err == EPERM ? "not permitted: it is not in net.ipv4.tcp_allowed_congestion_control"
                             : std::strerror(err);
      continue;
    }
    ++r.sockets;
  }
  return r;
}

}  // namespace isthmus::ucximpl

// ---- ucx_transport.h: lanes and windows from the link, the congestion control to ask for ------

namespace isthmus {

namespace {
std::string availableAlgorithms() {
  std::ifstream f("/proc/sys/net/ipv4/tcp_available_congestion_control");
  std::string line;
  std::getline(f, line);
  return line;
}

// The maximum of net.ipv4.tcp_wmem in this process's network namespace (4 MiB if unreadable).
double tcpSendBufferMax() {
  std::ifstream f("/proc/sys/net/ipv4/tcp_wmem");
  double lo = 0, dflt = 0, hi = 0;
  if (f >> lo >> dflt >> hi && hi > 0) return hi;
  return 4u << 20;
}
}  // namespace

PeerLinkParams linkParamsFromRate(double gbps, double rttMs, int lanes, size_t chunkBytes,
                                  const std::string& congestion, int sharers) {
  PeerLinkParams p;
  double bdp = gbps * 1e9 / 8.0 * rttMs / 1e3;
  if (lanes <= 0) {
    if (congestion == "bbr") {
      const double share = bdp / std::max(1, sharers);
      lanes = static_cast<int>(std::ceil(share / (0.75 * tcpSendBufferMax())));
      lanes = std::min(16, std::max(1, lanes));
    } else {
      lanes = kLossBasedLanes;
    }
  }
  p.lanes = std::max(1, lanes);
  // A rendezvous chunk occupies its window from the sender's request to the receiver's
  // acknowledgement: about two round trips plus its transfer time. To keep the link busy the
  // lanes together need ~2x the bandwidth-delay product in flight; 3x leaves slack.
  double perLane = 3.0 * bdp / p.lanes;
  p.windowBytesPerLane = std::max<size_t>(2 * chunkBytes, static_cast<size_t>(std::ceil(perLane)));
  p.eager = rttMs >= 1.0;
  return p;
}

Result<std::string> chooseTcpCongestion(const std::string& requested) {
  std::string want = requested;
  if (const char* env = std::getenv("ISTHMUS_TCP_CONGESTION"); env && *env) want = env;
  if (want == "system") return want;
  const std::string available = availableAlgorithms();
  std::istringstream words(available);
  std::set<std::string> have;
  for (std::string w; words >> w;) have.insert(w);
  if (want.empty()) return std::string(have.count("bbr") ? "bbr" : "system");
  if (!have.count(want)) {
    return invalidArgumentError(
        "TCP congestion control '", want,
        "' is not available in this kernel (it has: ", available.empty() ? "unknown" : available,
        "); use one of those or 'system'");
  }
  return want;
}

}  // namespace isthmus
