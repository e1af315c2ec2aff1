// TcpStoreServer: one thread, poll() over listener + wake pipe + clients. Requests on one
// connection are handled in order; a get/wait that cannot be answered parks its connection until
// a write creates its keys or its deadline passes.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "runtime/core/logging.h"
#include "runtime/store/socket_util.h"
#include "runtime/store/store_util.h"
#include "runtime/store/tcp_store.h"
#include "runtime/store/tcp_store_protocol.h"

namespace isthmus {

using namespace store_wire;  // NOLINT: the wire constants read better unqualified here

namespace {

struct Parked {
  uint8_t op = 0;
  std::vector<std::string> keys;
  Deadline deadline = Deadline::infinite();
};

struct Conn {
  int fd = -1;
  std::string peer;
  std::string in;
  std::string out;
  bool parked = false;
  Parked wait;
};

}  // namespace

class TcpStoreServer::Impl {
 public:
  Impl(Options options, int listenFd, int wakeRead, int wakeWrite)
      : options_(std::move(options)),
        listenFd_(listenFd),
        wakeRead_(wakeRead),
        wakeWrite_(wakeWrite),
        port_(net::localPort(listenFd)) {}

  ~Impl() { stop(); }

  void run() {
    thread_ = std::thread([this] { loop(); });
  }

  void stop() {
    std::lock_guard<std::mutex> lock(stopMu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_.store(true);
    char b = 1;
    ssize_t ignored = write(wakeWrite_, &b, 1);
    (void)ignored;
    if (thread_.joinable()) thread_.join();
    for (auto& [fd, conn] : conns_) close(fd);
    conns_.clear();
    close(listenFd_);
    close(wakeRead_);
    close(wakeWrite_);
  }

  uint16_t port() const { return port_; }
  std::string address() const { return strCat(options_.host, ":", port_); }
  size_t numClients() const { return numClients_.load(); }

 private:
  void loop() {
    std::vector<pollfd> fds;
    while (!stopping_.load()) {
      fds.clear();
      fds.push_back({listenFd_, POLLIN, 0});
      fds.push_back({wakeRead_, POLLIN, 0});
      for (auto& [fd, conn] : conns_) {
        short ev = POLLIN | POLLRDHUP;
        if (!conn.out.empty()) ev |= POLLOUT;
        fds.push_back({fd, ev, 0});
      }
      int rc = poll(fds.data(), fds.size(), nextTimeoutMs());
      if (rc < 0 && errno != EINTR) {
        ISTHMUS_LOG(kError) << "rendezvous store " << address()
                            << ": poll failed: " << std::strerror(errno);
        break;
      }
      if (stopping_.load()) break;
      if (rc > 0) {
        if (fds[0].revents & POLLIN) acceptAll();
        for (size_t i = 2; i < fds.size(); ++i) {
          if (fds[i].revents == 0) continue;
          auto it = conns_.find(fds[i].fd);
          if (it == conns_.end()) continue;
          serviceConn(it->second, fds[i].revents);
        }
      }
      expireWaits();
      reapClosed();
    }
  }

  int nextTimeoutMs() const {
    Deadline soonest = Deadline::infinite();
    for (const auto& [fd, conn] : conns_) {
      if (conn.parked) soonest = Deadline::earliest(soonest, conn.wait.deadline);
    }
    if (soonest.isInfinite()) return -1;
    // Round up so we do not spin for the last sub-millisecond.
    return soonest.remainingMsForPoll() + 1;
  }

  void acceptAll() {
    for (;;) {
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      int fd =
          accept4(listenFd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          ISTHMUS_LOG(kWarn) << "rendezvous store " << address()
                             << ": accept failed: " << std::strerror(errno);
        }
        return;
      }
      net::setNoDelay(fd);
      Conn conn;
      conn.fd = fd;
      conn.peer = net::formatSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
      conns_[fd] = std::move(conn);
      numClients_.store(conns_.size());
    }
  }

  void dropConn(Conn& conn, const std::string& reason, bool warn) {
    if (warn) {
      ISTHMUS_LOG(kWarn) << "rendezvous store " << address() << ": closing connection from "
                         << conn.peer << ": " << reason;
    }
    toClose_.insert(conn.fd);
  }

  void serviceConn(Conn& conn, short revents) {
    if (toClose_.count(conn.fd)) return;
    if (revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) {
      char buf[64 * 1024];
      for (;;) {
        ssize_t n = recv(conn.fd, buf, sizeof(buf), 0);
        if (n > 0) {
          conn.in.append(buf, static_cast<size_t>(n));
          // A parked connection may not pipeline more than one maximal frame behind its wait.
          if (conn.in.size() > options_.maxFrameBytes + 2 * kHeaderBytes) break;
          continue;
        }
        if (n == 0) {
          dropConn(conn, "peer closed", false);
          return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        dropConn(conn, strCat("recv failed: ", std::strerror(errno)), false);
        return;
      }
      processFrames(conn);
    }
    if (!toClose_.count(conn.fd)) flushOut(conn);
  }

  void flushOut(Conn& conn) {
    // Replies pile up only for a client that sends requests without reading the answers.
    if (conn.out.size() > 4 * options_.maxFrameBytes + kHeaderBytes) {
      dropConn(conn, strCat(conn.out.size(), " bytes of replies unread"), true);
      return;
    }
    while (!conn.out.empty()) {
      ssize_t n = send(conn.fd, conn.out.data(), conn.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        conn.out.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      dropConn(conn, strCat("send failed: ", std::strerror(errno)), false);
      return;
    }
  }

  void processFrames(Conn& conn) {
    while (!conn.parked && !toClose_.count(conn.fd)) {
      if (conn.in.size() < kHeaderBytes) return;
      FrameHeader h = decodeHeader(conn.in.data());
      if (h.magic != kMagic) {
        char hex[16];
        std::snprintf(hex, sizeof(hex), "0x%08x", h.magic);
        dropConn(conn, strCat("bad frame magic ", hex, " (not an Isthmus store client?)"), true);
        return;
      }
      if (h.version != kVersion) {
        dropConn(conn, strCat("protocol version ", h.version, ", this server speaks ", kVersion),
                 true);
        return;
      }
      if (h.length > options_.maxFrameBytes) {
        dropConn(conn,
                 strCat("frame of ", h.length, " bytes exceeds the limit of ",
                        options_.maxFrameBytes, " bytes"),
                 true);
        return;
      }
      if (conn.in.size() < kHeaderBytes + h.length) return;
      std::string payload = conn.in.substr(kHeaderBytes, h.length);
      conn.in.erase(0, kHeaderBytes + h.length);
      handleRequest(conn, h.op, payload);
    }
    if (conn.parked && conn.in.size() > options_.maxFrameBytes + 2 * kHeaderBytes) {
      dropConn(conn, "sent more than a frame while waiting for a reply", true);
    }
  }

  void reply(Conn& conn, uint8_t code, const std::string& payload) {
    conn.out += makeFrame(code, payload);
  }

  bool has(const std::string& key) const { return data_.count(key) > 0; }

  void handleRequest(Conn& conn, uint8_t op, const std::string& payload) {
    Reader r(payload.data(), payload.size());
    std::string key, a, b;
    int64_t num = 0;
    auto malformed = [&] {
      dropConn(conn, strCat("malformed ", opName(op), " request (", payload.size(), " bytes)"),
               true);
    };
    switch (op) {
      case kOpPing:
        if (!r.done()) return malformed();
        return reply(conn, kReplyOk, "");
      case kOpSet:
        if (!r.str(&key) || !r.str(&a) || !r.done()) return malformed();
        data_[key] = std::move(a);
        reply(conn, kReplyOk, "");
        return keyWritten(key);
      case kOpAdd: {
        if (!r.str(&key) || !r.i64(&num) || !r.done()) return malformed();
        int64_t current = 0;
        auto it = data_.find(key);
        if (it != data_.end() && !parseStoreInt(it->second, &current)) {
          return reply(conn, kReplyError,
                       Writer()
                           .str(strCat("add on key '", key, "': value '", it->second.substr(0, 64),
                                       "' is not an integer"))
                           .bytes());
        }
        const int64_t value = current + num;
        data_[key] = std::to_string(value);
        reply(conn, kReplyOk, Writer().i64(value).bytes());
        return keyWritten(key);
      }
      case kOpCompareSet: {
        if (!r.str(&key) || !r.str(&a) || !r.str(&b) || !r.done()) return malformed();
        auto it = data_.find(key);
        const std::string current = it == data_.end() ? std::string() : it->second;
        if (current != a) return reply(conn, kReplyOk, Writer().str(current).bytes());
        data_[key] = b;
        reply(conn, kReplyOk, Writer().str(b).bytes());
        return keyWritten(key);
      }
      case kOpCheck:
        if (!r.str(&key) || !r.done()) return malformed();
        return reply(conn, kReplyOk, Writer().u8(has(key) ? 1 : 0).bytes());
      case kOpDelete:
        if (!r.str(&key) || !r.done()) return malformed();
        return reply(conn, kReplyOk, Writer().u8(data_.erase(key) > 0 ? 1 : 0).bytes());
      case kOpGet:
      case kOpWait: {
        Parked w;
        w.op = op;
        if (!r.i64(&num)) return malformed();
        if (op == kOpGet) {
          if (!r.str(&key) || !r.done()) return malformed();
          w.keys.push_back(key);
        } else {
          uint32_t n = 0;
          if (!r.u32(&n) || n > payload.size() / 4) return malformed();
          for (uint32_t i = 0; i < n; ++i) {
            if (!r.str(&key)) return malformed();
            w.keys.push_back(key);
          }
          if (!r.done()) return malformed();
        }
        // Negative or absurdly long (over ~30 years, which would overflow the clock): no limit.
        constexpr int64_t kMaxTimeoutMs = int64_t{1} << 40;
        w.deadline = num < 0 || num > kMaxTimeoutMs
                         ? Deadline::infinite()
                         : Deadline::after(std::chrono::milliseconds(num));
        conn.wait = std::move(w);
        conn.parked = true;
        if (tryFinishWait(conn)) return;
        for (const auto& k : conn.wait.keys) waitersByKey_[k].insert(conn.fd);
        return;
      }
      default: return dropConn(conn, strCat("unknown request op ", static_cast<int>(op)), true);
    }
  }

  // Answers a parked wait if all its keys exist. Returns true when answered.
  bool tryFinishWait(Conn& conn) {
    for (const auto& k : conn.wait.keys) {
      if (!has(k)) return false;
    }
    unpark(conn);
    if (conn.wait.op == kOpGet) {
      reply(conn, kReplyOk, Writer().str(data_[conn.wait.keys[0]]).bytes());
    } else {
      reply(conn, kReplyOk, "");
    }
    return true;
  }

  void unpark(Conn& conn) {
    conn.parked = false;
    for (const auto& k : conn.wait.keys) {
      auto it = waitersByKey_.find(k);
      if (it == waitersByKey_.end()) continue;
      it->second.erase(conn.fd);
      if (it->second.empty()) waitersByKey_.erase(it);
    }
  }

  void keyWritten(const std::string& key) {
    auto it = waitersByKey_.find(key);
    if (it == waitersByKey_.end()) return;
    const std::vector<int> fds(it->second.begin(), it->second.end());
    for (int fd : fds) {
      auto c = conns_.find(fd);
      if (c == conns_.end() || !c->second.parked || toClose_.count(fd)) continue;
      if (!tryFinishWait(c->second)) continue;
      processFrames(c->second);  // a pipelined request may be waiting behind the wait
      if (!toClose_.count(fd)) flushOut(c->second);
    }
  }

  void expireWaits() {
    for (auto& [fd, conn] : conns_) {
      if (!conn.parked || toClose_.count(fd) || !conn.wait.deadline.expired()) continue;
      Writer w;
      std::vector<std::string> missing;
      for (const auto& k : conn.wait.keys) {
        if (!has(k)) missing.push_back(k);
      }
      w.u32(static_cast<uint32_t>(missing.size()));
      for (const auto& k : missing) w.str(k);
      unpark(conn);
      reply(conn, kReplyTimeout, w.bytes());
      processFrames(conn);
      if (!toClose_.count(fd)) flushOut(conn);
    }
  }

  void reapClosed() {
    for (int fd : toClose_) {
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;
      if (it->second.parked) unpark(it->second);
      close(fd);
      conns_.erase(it);
    }
    toClose_.clear();
    numClients_.store(conns_.size());
  }

  Options options_;
  int listenFd_;
  int wakeRead_;
  int wakeWrite_;
  uint16_t port_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex stopMu_;
  bool stopped_ = false;
  std::atomic<size_t> numClients_{0};
  // Owned by the server thread.
  std::map<int, Conn> conns_;
  std::set<int> toClose_;
  std::map<std::string, std::string> data_;
  std::map<std::string, std::set<int>> waitersByKey_;
};

Result<std::unique_ptr<TcpStoreServer>> TcpStoreServer::start(const std::string& host,
                                                              uint16_t port) {
  Options options;
  options.host = host;
  options.port = port;
  return start(options);
}

Result<std::unique_ptr<TcpStoreServer>> TcpStoreServer::start(const Options& options) {
  if (options.maxFrameBytes < 1024) {
    return invalidArgumentError("store maxFrameBytes must be at least 1024, got ",
                                options.maxFrameBytes);
  }
  ISTHMUS_ASSIGN_OR_RETURN(int listenFd,
                           net::listenTcp(options.host, options.port, options.netnsPath));
  Status st = net::setNonBlocking(listenFd);
  int pipeFds[2];
  if (st.ok() && pipe2(pipeFds, O_CLOEXEC | O_NONBLOCK) != 0) {
    st = internalError("store cannot create its wake-up pipe: ", std::strerror(errno));
  }
  if (!st.ok()) {
    close(listenFd);
    return st;
  }
  auto impl = std::make_unique<Impl>(options, listenFd, pipeFds[0], pipeFds[1]);
  impl->run();
  ISTHMUS_LOG(kInfo) << "rendezvous store listening on " << impl->address()
                     << (options.netnsPath.empty() ? "" : " in ") << options.netnsPath;
  return std::unique_ptr<TcpStoreServer>(new TcpStoreServer(std::move(impl)));
}

TcpStoreServer::TcpStoreServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TcpStoreServer::~TcpStoreServer() { stop(); }
uint16_t TcpStoreServer::port() const { return impl_->port(); }
std::string TcpStoreServer::address() const { return impl_->address(); }
void TcpStoreServer::stop() { impl_->stop(); }
size_t TcpStoreServer::numClients() const { return impl_->numClients(); }

}  // namespace isthmus
