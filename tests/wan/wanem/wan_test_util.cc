// Helpers for the WAN emulator tests: see wan_test_util.h.
#include "tests/wan/wanem/wan_test_util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "runtime/core/hash.h"
#include "tools/wanem/netns.h"

namespace isthmus::wanem::testing {
namespace {

Status waitFd(int fd, short events, const Deadline& deadline, const char* what) {
  struct pollfd p = {fd, events, 0};
  int rc = poll(&p, 1, deadline.remainingMsForPoll());
  if (rc == 0) return timeoutError(what, " timed out");
  if (rc < 0) return internalError(what, ": poll: ", std::strerror(errno));
  return okStatus();
}

Status sendAll(int fd, const uint8_t* data, size_t len, const Deadline& deadline) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = send(fd, data + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      ISTHMUS_RETURN_IF_ERROR(waitFd(fd, POLLOUT, deadline, "send"));
    } else {
      return peerLostError("send after ", done, " of ", len, " bytes: ", std::strerror(errno));
    }
  }
  return okStatus();
}

Status recvAll(int fd, uint8_t* data, size_t len, const Deadline& deadline) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = recv(fd, data + done, len - done, MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      ISTHMUS_RETURN_IF_ERROR(waitFd(fd, POLLIN, deadline, "recv"));
    } else {
      return peerLostError("recv after ", done, " of ", len,
                           " bytes: ", n == 0 ? "connection closed" : std::strerror(errno));
    }
  }
  return okStatus();
}

}  // namespace

uint64_t fnv1a(const std::vector<uint8_t>& bytes) {
  return ::isthmus::fnv1a(bytes.data(), bytes.size());
}

Result<uint64_t> transferAndHash(const std::string& fromNsPath, const std::string& toNsPath,
                                 const std::string& toAddress, const std::vector<uint8_t>& bytes,
                                 Deadline deadline) {
  // Server: listen inside the destination center, on its WAN address, port 0.
  int listenFd = -1;
  int port = 0;
  Status st = runInNetns(toNsPath, [&]() -> Status {
    listenFd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listenFd < 0) return internalError("socket: ", std::strerror(errno));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, toAddress.c_str(), &sa.sin_addr);
    if (bind(listenFd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
        listen(listenFd, 4) != 0) {
      return internalError("bind/listen ", toAddress, ": ", std::strerror(errno));
    }
    socklen_t len = sizeof(sa);
    getsockname(listenFd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
    return okStatus();
  });
  if (!st.ok()) {
    if (listenFd >= 0) close(listenFd);
    return st;
  }
  Status serverStatus;
  std::thread server([&] {
    serverStatus = waitFd(listenFd, POLLIN, deadline, "accept");
    if (!serverStatus.ok()) return;
    int fd = accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      serverStatus = internalError("accept: ", std::strerror(errno));
      return;
    }
    uint64_t size = 0;
    serverStatus = recvAll(fd, reinterpret_cast<uint8_t*>(&size), sizeof(size), deadline);
    std::vector<uint8_t> got(serverStatus.ok() ? size : 0);
    if (serverStatus.ok()) serverStatus = recvAll(fd, got.data(), got.size(), deadline);
    uint64_t hash = fnv1a(got);
    if (serverStatus.ok()) {
      serverStatus = sendAll(fd, reinterpret_cast<uint8_t*>(&hash), sizeof(hash), deadline);
    }
    close(fd);
  });
  uint64_t hash = 0;
  st = runInNetns(fromNsPath, [&]() -> Status {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, toAddress.c_str(), &sa.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      int err = errno;
      close(fd);
      return peerLostError("connect ", toAddress, ":", port, ": ", std::strerror(err));
    }
    uint64_t size = bytes.size();
    Status s = sendAll(fd, reinterpret_cast<uint8_t*>(&size), sizeof(size), deadline);
    if (s.ok()) s = sendAll(fd, bytes.data(), bytes.size(), deadline);
    if (s.ok()) s = recvAll(fd, reinterpret_cast<uint8_t*>(&hash), sizeof(hash), deadline);
    close(fd);
    return s;
  });
  server.join();
  close(listenFd);
  ISTHMUS_RETURN_IF_ERROR(st.withContext("client"));
  ISTHMUS_RETURN_IF_ERROR(serverStatus.withContext("server"));
  return hash;
}

std::string commandOutput(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

std::vector<std::string> ipNetnsList() {
  std::vector<std::string> names;
  FILE* p = popen("ip netns list 2>/dev/null", "r");
  if (p == nullptr) return names;
  char line[512];
  while (std::fgets(line, sizeof(line), p) != nullptr) {
    std::istringstream is(line);
    std::string name;
    if (is >> name) names.push_back(name);
  }
  pclose(p);
  return names;
}

std::vector<std::string> namespacesOwnedBy(const std::set<int>& owners) {
  std::vector<std::string> out;
  for (const std::string& name : ipNetnsList()) {
    OwnerId owner;
    if (parseNetnsName(name, &owner) && owners.count(owner.pid)) out.push_back(name);
  }
  return out;
}

std::vector<int> pidsWithCmdline(const std::string& cmdline) {
  std::vector<int> pids;
  DIR* d = opendir("/proc");
  if (d == nullptr) return pids;
  while (struct dirent* e = readdir(d)) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/cmdline", std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : text) {
      if (c == '\0') c = ' ';
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    if (text == cmdline) pids.push_back(pid);
  }
  closedir(d);
  return pids;
}

bool waitUntil(const std::function<bool()>& fn, Deadline deadline) {
  while (!fn()) {
    if (deadline.expired()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

}  // namespace isthmus::wanem::testing
