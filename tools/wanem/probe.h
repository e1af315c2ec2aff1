// TCP helpers to check an emulated link: an echo server and an RTT probe.
//
// probeRtt() measures the round-trip time two ways: the time connect() takes (SYN out, SYN-ACK
// back: one round trip, no application in the loop), and the time a small message takes to come
// back from an EchoServer over one connection with TCP_NODELAY. Both are reported as
// min/median/mean/max over `count` samples.
//
// EchoServer runs an accept thread plus one thread per connection; stop() (or the destructor)
// closes everything and joins. Sockets are close-on-exec. Use from any one thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime/core/deadline.h"
#include "runtime/core/status.h"

namespace isthmus::wanem {

struct RttSummary {
  int samples = 0;
  double minMs = 0, medianMs = 0, meanMs = 0, maxMs = 0;
  std::string toString() const;  // "min=40.21 median=40.30 mean=40.31 max=40.52 ms (n=20)"
};

struct ProbeResult {
  RttSummary connect;
  RttSummary echo;
};

Result<ProbeResult> probeRtt(const std::string& host, int port, int count, size_t messageBytes,
                             Deadline deadline);

class EchoServer {
 public:
  // Listens on bindAddress:port (port 0: any free port; see port()).
  static Result<std::unique_ptr<EchoServer>> start(const std::string& bindAddress, int port);
  ~EchoServer();
  int port() const { return port_; }
  void stop();

 private:
  EchoServer() = default;
  void acceptLoop();
  void serve(int fd);
  int listenFd_ = -1;
  int stopFd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptThread_;
  std::vector<std::thread> connThreads_;
};

}  // namespace isthmus::wanem
