#include "runtime/store/socket_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace isthmus::net {

std::string formatSockaddr(const sockaddr* addr, socklen_t len) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (addr->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  }
  return strCat(host, ":", port);
}

std::string peerName(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return formatSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

Status setNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return internalError("fcntl(O_NONBLOCK) failed: ", std::strerror(errno));
  }
  return okStatus();
}

void setNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

namespace {

Result<int> listenHere(const std::string& host, uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return invalidArgumentError("store listen address '", host, "' is not a numeric IPv4 address");
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return internalError("socket() failed: ", std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    close(fd);
    return internalError("store cannot bind ", host, ":", port, ": ", std::strerror(e));
  }
  if (listen(fd, 1024) != 0) {
    int e = errno;
    close(fd);
    return internalError("store cannot listen on ", host, ":", port, ": ", std::strerror(e));
  }
  return fd;
}

}  // namespace

Result<int> listenTcp(const std::string& host, uint16_t port, const std::string& netnsPath) {
  if (netnsPath.empty()) return listenHere(host, port);
  // setns() changes only the calling thread's namespace: do it on a throwaway thread so the
  // caller never leaves its own. A socket stays in the namespace it was created in.
  Result<int> result = internalError("unreachable");
  std::thread helper([&] {
    int nsFd = open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsFd < 0) {
      result = internalError("store cannot open network namespace ", netnsPath, ": ",
                             std::strerror(errno));
      return;
    }
    if (setns(nsFd, CLONE_NEWNET) != 0) {
      int e = errno;
      close(nsFd);
      result = internalError("store cannot enter network namespace ", netnsPath, ": ",
                             std::strerror(e), e == EPERM ? " (needs CAP_SYS_ADMIN / root)" : "");
      return;
    }
    close(nsFd);
    result = listenHere(host, port);
  });
  helper.join();
  return result;
}

uint16_t localPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

namespace {

// Waits for `events` on fd; returns kOk when ready.
IoResult waitFor(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, deadline.remainingMsForPoll());
    if (rc > 0) return {};
    if (rc == 0) {
      if (deadline.expired()) return {IoOutcome::kTimeout, 0};
      continue;  // poll rounds down to milliseconds: try again until the deadline really passes
    }
    if (errno == EINTR) continue;
    return {IoOutcome::kError, errno};
  }
}

bool isClosedErrno(int e) { return e == ECONNRESET || e == EPIPE || e == ENOTCONN; }

}  // namespace

IoResult sendAll(int fd, const char* data, size_t size, Deadline deadline) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = send(fd, data + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      IoResult w = waitFor(fd, POLLOUT, deadline);
      if (w.outcome != IoOutcome::kOk) return w;
      continue;
    }
    int e = errno;
    return {isClosedErrno(e) ? IoOutcome::kClosed : IoOutcome::kError, e};
  }
  return {};
}

IoResult recvAll(int fd, char* data, size_t size, Deadline deadline) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = recv(fd, data + done, size - done, MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return {IoOutcome::kClosed, 0};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      IoResult w = waitFor(fd, POLLIN, deadline);
      if (w.outcome != IoOutcome::kOk) return w;
      continue;
    }
    int e = errno;
    return {isClosedErrno(e) ? IoOutcome::kClosed : IoOutcome::kError, e};
  }
  return {};
}

int connectOnce(const std::string& host, uint16_t port, Deadline deadline, int* err) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string portText = std::to_string(port);
  int gai = getaddrinfo(host.c_str(), portText.c_str(), &hints, &res);
  if (gai != 0) {
    *err = EHOSTUNREACH;
    return -1;
  }
  int lastErr = ECONNREFUSED;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      lastErr = errno;
      continue;
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      IoResult w = waitFor(fd, POLLOUT, deadline);
      if (w.outcome == IoOutcome::kTimeout) {
        lastErr = ETIMEDOUT;
        close(fd);
        continue;
      }
      int soErr = 0;
      socklen_t len = sizeof(soErr);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &soErr, &len);
      rc = soErr == 0 ? 0 : -1;
      errno = soErr;
    }
    if (rc == 0) {
      setNoDelay(fd);
      freeaddrinfo(res);
      return fd;
    }
    lastErr = errno;
    close(fd);
  }
  freeaddrinfo(res);
  *err = lastErr;
  return -1;
}

}  // namespace isthmus::net
