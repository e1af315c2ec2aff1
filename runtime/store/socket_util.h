// Socket helpers for the TCP store (internal to runtime/store). Every blocking helper is bounded
// by a Deadline through poll(); none raises SIGPIPE (MSG_NOSIGNAL).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/core/deadline.h"
#include "runtime/core/status.h"

namespace isthmus::net {

// "10.0.0.1:4000" for an AF_INET/AF_INET6 address.
std::string formatSockaddr(const sockaddr* addr, socklen_t len);
std::string peerName(int fd);
Status setNonBlocking(int fd);
void setNoDelay(int fd);

// Creates a listening TCP socket bound to host:port (numeric IPv4, or "0.0.0.0"). If netnsPath
// is not empty, the socket is created inside that network namespace by a helper thread.
Result<int> listenTcp(const std::string& host, uint16_t port, const std::string& netnsPath);
uint16_t localPort(int fd);

enum class IoOutcome { kOk, kTimeout, kClosed, kError };
struct IoResult {
  IoOutcome outcome = IoOutcome::kOk;
  int err = 0;  // errno for kError / kClosed by reset
};
// Writes all of data; fd may be blocking or not.
IoResult sendAll(int fd, const char* data, size_t size, Deadline deadline);
// Reads exactly size bytes.
IoResult recvAll(int fd, char* data, size_t size, Deadline deadline);

// One connect attempt to host:port bounded by deadline. On failure returns -1 and sets *err.
int connectOnce(const std::string& host, uint16_t port, Deadline deadline, int* err);

}  // namespace isthmus::net
