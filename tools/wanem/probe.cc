// Echo server and RTT probe: see probe.h.
#include "tools/wanem/probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "tools/wanem/packet_ring.h"

namespace isthmus::wanem {
namespace {

std::string errnoText(int err) { return strCat(std::strerror(err), " (errno ", err, ")"); }

RttSummary summarize(std::vector<double> ms) {
  RttSummary s;
  s.samples = static_cast<int>(ms.size());
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  s.minMs = ms.front();
  s.maxMs = ms.back();
  s.medianMs = ms.size() % 2 ? ms[ms.size() / 2] : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
  double sum = 0;
  for (double v : ms) sum += v;
  s.meanMs = sum / static_cast<double>(ms.size());
  return s;
}

Result<sockaddr_in> makeAddr(const std::string& host, int port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    return invalidArgumentError("'", host, "' is not an IPv4 address");
  }
  return sa;
}

// Waits for fd to be ready for `events` until the deadline.
Status waitFd(int fd, short events, const Deadline& deadline, const std::string& what) {
  struct pollfd p = {fd, events, 0};
  int rc = poll(&p, 1, deadline.remainingMsForPoll());
  if (rc == 0) return timeoutError(what, ": timed out");
  if (rc < 0) return internalError(what, ": poll: ", errnoText(errno));
  return okStatus();
}

Result<int> connectTo(const sockaddr_in& sa, const Deadline& deadline, const std::string& who) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return internalError("socket: ", errnoText(errno));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0 &&
      errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return peerLostError("connect to ", who, ": ", errnoText(err));
  }
  Status st = waitFd(fd, POLLOUT, deadline, "connect to " + who);
  int err = 0;
  socklen_t len = sizeof(err);
  if (st.ok()) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (st.ok() && err != 0) st = peerLostError("connect to ", who, ": ", errnoText(err));
  if (!st.ok()) {
    close(fd);
    return st;
  }
  return fd;
}

double msSince(int64_t startNs) { return static_cast<double>(monotonicNs() - startNs) / 1e6; }

}  // namespace

std::string RttSummary::toString() const {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "min=%.3f median=%.3f mean=%.3f max=%.3f ms (n=%d)", minMs,
                medianMs, meanMs, maxMs, samples);
  return buf;
}

Result<ProbeResult> probeRtt(const std::string& host, int port, int count, size_t messageBytes,
                             Deadline deadline) {
  ISTHMUS_ASSIGN_OR_RETURN(sockaddr_in sa, makeAddr(host, port));
  std::string who = strCat(host, ":", port);
  std::vector<double> connectMs, echoMs;
  for (int i = 0; i < count; ++i) {
    int64_t t0 = monotonicNs();
    ISTHMUS_ASSIGN_OR_RETURN(int fd, connectTo(sa, deadline, who));
    connectMs.push_back(msSince(t0));
    close(fd);
  }
  ISTHMUS_ASSIGN_OR_RETURN(int fd, connectTo(sa, deadline, who));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::vector<char> out(std::max<size_t>(messageBytes, 1), 'p'), in(out.size());
  Status st;
  // One extra round first: the connection's first exchange pays for nothing we want to measure.
  for (int i = -1; i < count && st.ok(); ++i) {
    int64_t t0 = monotonicNs();
    size_t sent = 0;
    while (sent < out.size() && st.ok()) {
      ssize_t n = send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (n < 0 && errno == EAGAIN) {
        st = waitFd(fd, POLLOUT, deadline, "echo send to " + who);
      } else {
        st = peerLostError("echo send to ", who, ": ", errnoText(errno));
      }
    }
    size_t got = 0;
    while (got < in.size() && st.ok()) {
      ssize_t n = recv(fd, in.data() + got, in.size() - got, 0);
      if (n > 0) {
        got += static_cast<size_t>(n);
      } else if (n < 0 && errno == EAGAIN) {
        st = waitFd(fd, POLLIN, deadline, "echo reply from " + who);
      } else {
        st = peerLostError("echo reply from ", who, ": ",
                           n == 0 ? std::string("connection closed") : errnoText(errno));
      }
    }
    if (st.ok() && i >= 0) echoMs.push_back(msSince(t0));
  }
  close(fd);
  if (!st.ok()) return st;
  ProbeResult r;
  r.connect = summarize(connectMs);
  r.echo = summarize(echoMs);
  return r;
}

Result<std::unique_ptr<EchoServer>> EchoServer::start(const std::string& bindAddress, int port) {
  ISTHMUS_ASSIGN_OR_RETURN(sockaddr_in sa, makeAddr(bindAddress, port));
  std::unique_ptr<EchoServer> s(new EchoServer());
  s->listenFd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->listenFd_ < 0) return internalError("socket: ", errnoText(errno));
  int one = 1;
  setsockopt(s->listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(s->listenFd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return internalError("echo server: bind ", bindAddress, ":", port, ": ", errnoText(errno));
  }
  if (listen(s->listenFd_, 128) != 0) return internalError("listen: ", errnoText(errno));
  socklen_t len = sizeof(sa);
  getsockname(s->listenFd_, reinterpret_cast<sockaddr*>(&sa), &len);
  s->port_ = ntohs(sa.sin_port);
  s->stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->stopFd_ < 0) return internalError("eventfd: ", errnoText(errno));
  EchoServer* raw = s.get();
  s->acceptThread_ = std::thread([raw] { raw->acceptLoop(); });
  return s;
}

void EchoServer::acceptLoop() {
  while (!stopping_.load()) {
    struct pollfd p[2] = {{listenFd_, POLLIN, 0}, {stopFd_, POLLIN, 0}};
    if (poll(p, 2, -1) < 0 && errno != EINTR) return;
    if (stopping_.load()) return;
    if ((p[0].revents & POLLIN) == 0) continue;
    int fd = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv {
      1, 0
    };  // a client that stops reading cannot block stop() for long
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    connThreads_.emplace_back([this, fd] { serve(fd); });
  }
}

void EchoServer::serve(int fd) {
  std::vector<char> buf(256 * 1024);
  while (!stopping_.load()) {
    struct pollfd p[2] = {{fd, POLLIN, 0}, {stopFd_, POLLIN, 0}};
    if (poll(p, 2, -1) < 0 && errno != EINTR) break;
    if (stopping_.load()) break;
    if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    size_t sent = 0;
    while (sent < static_cast<size_t>(n)) {
      ssize_t m = send(fd, buf.data() + sent, static_cast<size_t>(n) - sent, MSG_NOSIGNAL);
      if (m <= 0) break;
      sent += static_cast<size_t>(m);
    }
    if (sent < static_cast<size_t>(n)) break;
  }
  close(fd);
}

void EchoServer::stop() {
  if (listenFd_ < 0) return;
  stopping_.store(true);
  uint64_t one = 1;
  if (write(stopFd_, &one, sizeof(one)) < 0) {
    // The threads also poll stopping_ after every wake-up; nothing else to do.
  }
  if (acceptThread_.joinable()) acceptThread_.join();
  for (auto& t : connThreads_) t.join();
  connThreads_.clear();
  close(listenFd_);
  close(stopFd_);
  listenFd_ = -1;
  stopFd_ = -1;
}

EchoServer::~EchoServer() { stop(); }

}  // namespace isthmus::wanem
