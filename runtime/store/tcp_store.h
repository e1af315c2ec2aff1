// TCP rendezvous store: a server that holds the keys and a client that implements Store over TCP,
// the way torch's TCPStore serves torchrun. The launcher (isthmus-run) hosts the server; every
// rank connects with connectStoreFromEnv(), which reads MASTER_ADDR / MASTER_PORT.
//
// Wire format (both directions): a 12-byte header {magic u32 = 'ISTS', version u16, op u8,
// flags u8, payload length u32}, all little-endian, then the payload (length-prefixed strings and
// 64-bit integers). A frame with a wrong magic or version, a payload longer than maxFrameBytes, or
// a payload that does not parse closes only that client's connection; the server logs the reason
// with the client's address and keeps serving everyone else.
//
// Server: one thread, poll() over the listening socket, a wake-up pipe and every client. get and
// wait requests that cannot be answered yet are parked and answered when a set / add / compareSet
// creates one of their keys (server-side notification, no polling) or when their deadline,
// carried in the request, passes (reply: the keys still missing). stop() (and the destructor)
// closes every connection; clients then see kPeerLost.
//
// Client: a small pool of connections, one per concurrent call, so a thread blocked in wait()
// never blocks another thread's set(). Each call is bounded by poll() against its deadline; calls
// without a Deadline parameter (set, add, compareSet, check, deleteKey) use operationTimeout
// (default 300 s). Errors:
//   - server closed the connection / reset -> kPeerLost "rendezvous store at host:port closed the
//     connection during <op> '<key>' after 1.2 s"
//   - wait/get past its deadline -> kTimeout "... waited 5.0 s for keys [a, b] (missing: [b])"
//   - a reply that does not parse -> kCorrupt
// connect() retries refused connections until its deadline, since ranks may start before the
// server listens. Thread-safe: any thread may call any method concurrently.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/store/store.h"

namespace isthmus {

class TcpStoreServer {
 public:
  struct Options {
    std::string host = "0.0.0.0";      // address to bind: "0.0.0.0" or a numeric IPv4 address
    uint16_t port = 0;                 // 0 = let the kernel pick (then read port())
    size_t maxFrameBytes = 64u << 20;  // larger frames close the sender's connection
    // When not empty, a path such as /var/run/netns/<name>: the listening socket is created
    // inside that network namespace (on a short-lived helper thread; the caller's namespace is
    // untouched). Accepted connections then live in that namespace too.
    std::string netnsPath;
  };

  static Result<std::unique_ptr<TcpStoreServer>> start(const std::string& host, uint16_t port);
  static Result<std::unique_ptr<TcpStoreServer>> start(const Options& options);
  ~TcpStoreServer();  // stop()s

  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;

  uint16_t port() const;
  // "host:port" as bound (host as given in Options).
  std::string address() const;
  // Closes the listener and every client connection and joins the server thread. Idempotent.
  void stop();
  // Number of client connections open now (for tests).
  size_t numClients() const;

  class Impl;

 private:
  explicit TcpStoreServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class TcpStoreClient : public Store {
 public:
  // Connects (retrying refused / unreachable attempts every ~50 ms) until `deadline`; kTimeout
  // naming host:port and the last OS error when it passes.
  static Result<std::unique_ptr<TcpStoreClient>> connect(const std::string& host, uint16_t port,
                                                         Deadline deadline);
  ~TcpStoreClient() override;

  Status set(const std::string& key, const std::string& value) override;
  Result<std::string> get(const std::string& key, Deadline deadline) override;
  Status wait(const std::vector<std::string>& keys, Deadline deadline) override;
  Result<int64_t> add(const std::string& key, int64_t delta) override;
  Result<std::string> compareSet(const std::string& key, const std::string& expected,
                                 const std::string& desired) override;
  Result<bool> check(const std::string& key) override;
  Result<bool> deleteKey(const std::string& key) override;

  // Bound for the calls that take no Deadline. Default 300 s.
  void setOperationTimeout(double seconds);
  // "host:port"
  std::string address() const;

 private:
  struct Reply;
  TcpStoreClient(std::string host, uint16_t port, int firstFd);
  Result<Reply> call(uint8_t op, const std::string& request, Deadline deadline,
                     const std::string& what);
  Result<int> acquireFd(Deadline deadline);
  void releaseFd(int fd);

  std::string host_;
  uint16_t port_;
  std::mutex mu_;
  std::vector<int> idleFds_;  // guarded by mu_
  std::atomic<double> operationTimeoutSeconds_{300.0};
};

// Connects to the store named by MASTER_ADDR and MASTER_PORT (torchrun's convention), retrying
// until `deadline`. kInvalidArgument naming the variable when one is missing or malformed.
Result<std::shared_ptr<Store>> connectStoreFromEnv(Deadline deadline);

}  // namespace isthmus
