// TcpStoreClient: a pool of blocking request/reply connections. A call takes an idle connection
// (or opens one), sends one frame, reads one reply frame, and returns the connection to the pool
// only if the exchange completed; any error closes it, so a half-read reply never leaks into the
// next call.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "runtime/core/logging.h"
#include "runtime/store/socket_util.h"
#include "runtime/store/store_util.h"
#include "runtime/store/tcp_store.h"
#include "runtime/store/tcp_store_protocol.h"

namespace isthmus {

using namespace store_wire;  // NOLINT

namespace {

constexpr size_t kMaxIdleFds = 8;
constexpr size_t kMaxReplyBytes = 1u << 30;
// The server answers a timed-out wait at its deadline; allow the reply this long to arrive.
constexpr auto kWaitReplyGrace = std::chrono::milliseconds(1000);

bool retryableConnectErrno(int e) {
  return e == ECONNREFUSED || e == ETIMEDOUT || e == ENETUNREACH || e == EHOSTUNREACH ||
         e == ECONNRESET || e == EAGAIN || e == EADDRNOTAVAIL;
}

}  // namespace

struct TcpStoreClient::Reply {
  uint8_t code = 0;
  std::string payload;
};

Result<std::unique_ptr<TcpStoreClient>> TcpStoreClient::connect(const std::string& host,
                                                                uint16_t port, Deadline deadline) {
  const auto start = Deadline::Clock::now();
  int attempts = 0;
  int lastErr = 0;
  for (;;) {
    ++attempts;
    // Bound each attempt so an unanswered SYN does not eat the whole deadline in one go.
    Deadline attempt = Deadline::earliest(deadline, Deadline::afterSeconds(2.0));
    int fd = net::connectOnce(host, port, attempt, &lastErr);
    if (fd >= 0) {
      std::unique_ptr<TcpStoreClient> client(new TcpStoreClient(host, port, fd));
      // A ping proves it is an Isthmus store of our protocol version, not some other listener.
      auto pong = client->call(kOpPing, "", deadline, "ping");
      if (!pong.ok()) return pong.status();
      ISTHMUS_LOG(kDebug) << "connected to rendezvous store " << host << ":" << port << " after "
                          << attempts << " attempt(s)";
      return client;
    }
    if (!retryableConnectErrno(lastErr)) {
      return peerLostError("cannot connect to rendezvous store at ", host, ":", port, ": ",
                           std::strerror(lastErr));
    }
    if (deadline.expired()) break;
    auto pause =
        std::min<std::chrono::nanoseconds>(std::chrono::milliseconds(50), deadline.remaining());
    std::this_thread::sleep_for(pause);
    if (deadline.expired()) break;
  }
  return timeoutError("cannot connect to rendezvous store at ", host, ":", port, " after ",
                      formatSeconds(secondsSince(start)), " (", attempts,
                      " attempts; last error: ", std::strerror(lastErr), ")");
}

TcpStoreClient::TcpStoreClient(std::string host, uint16_t port, int firstFd)
    : host_(std::move(host)), port_(port) {
  idleFds_.push_back(firstFd);
}

TcpStoreClient::~TcpStoreClient() {
  for (int fd : idleFds_) close(fd);
}

std::string TcpStoreClient::address() const { return strCat(host_, ":", port_); }

void TcpStoreClient::setOperationTimeout(double seconds) {
  operationTimeoutSeconds_.store(seconds);
}

Result<int> TcpStoreClient::acquireFd(Deadline deadline) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idleFds_.empty()) {
      int fd = idleFds_.back();
      idleFds_.pop_back();
      return fd;
    }
  }
  int err = 0;
  int fd = net::connectOnce(host_, port_, deadline, &err);
  if (fd >= 0) return fd;
  if (err == ETIMEDOUT) {
    return timeoutError("opening another connection to rendezvous store at ", address(),
                        " timed out");
  }
  return peerLostError("rendezvous store at ", address(),
                       " refused a new connection: ", std::strerror(err));
}

void TcpStoreClient::releaseFd(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  if (idleFds_.size() < kMaxIdleFds) {
    idleFds_.push_back(fd);
  } else {
    close(fd);
  }
}

Result<TcpStoreClient::Reply> TcpStoreClient::call(uint8_t op, const std::string& request,
                                                   Deadline deadline, const std::string& what) {
  const auto start = Deadline::Clock::now();
  ISTHMUS_ASSIGN_OR_RETURN(int fd, acquireFd(deadline));
  auto fail = [&](net::IoResult io, const char* stage) -> Status {
    close(fd);
    const std::string elapsed = formatSeconds(secondsSince(start));
    switch (io.outcome) {
      case net::IoOutcome::kTimeout:
        return timeoutError("rendezvous store at ", address(), ": no reply to ", what, " after ",
                            elapsed);
      case net::IoOutcome::kClosed:
        return peerLostError(
            "rendezvous store at ", address(), " closed the connection during ", what, " after ",
            elapsed, io.err != 0 ? strCat(" (", std::strerror(io.err), ")") : "", " (", stage, ")");
      default:
        return peerLostError("rendezvous store at ", address(), ": ", stage, " failed during ",
                             what, " after ", elapsed, ": ", std::strerror(io.err));
    }
  };
  const std::string frame = makeFrame(op, request);
  net::IoResult io = net::sendAll(fd, frame.data(), frame.size(), deadline);
  if (io.outcome != net::IoOutcome::kOk) return fail(io, "sending the request");
  // Waits are answered by the server at their deadline; give that answer time to arrive.
  Deadline replyDeadline = deadline;
  if ((op == kOpGet || op == kOpWait) && !deadline.isInfinite()) {
    replyDeadline = Deadline::at(deadline.when() + kWaitReplyGrace);
  }
  char header[kHeaderBytes];
  io = net::recvAll(fd, header, sizeof(header), replyDeadline);
  if (io.outcome != net::IoOutcome::kOk) return fail(io, "reading the reply");
  FrameHeader h = decodeHeader(header);
  if (h.magic != kMagic || h.version != kVersion || h.length > kMaxReplyBytes ||
      (h.op != kReplyOk && h.op != kReplyTimeout && h.op != kReplyError)) {
    close(fd);
    return corruptError("rendezvous store at ", address(), " sent a malformed reply to ", what,
                        " (magic ", h.magic, ", version ", h.version, ", code ",
                        static_cast<int>(h.op), ", ", h.length, " bytes)");
  }
  Reply reply;
  reply.code = h.op;
  reply.payload.resize(h.length);
  io = net::recvAll(fd, reply.payload.data(), h.length, replyDeadline);
  if (io.outcome != net::IoOutcome::kOk) return fail(io, "reading the reply");
  releaseFd(fd);
  return reply;
}

namespace {

Status malformed(const std::string& address, const std::string& what) {
  return corruptError("rendezvous store at ", address, " sent a malformed reply to ", what);
}

int64_t timeoutMs(Deadline deadline) {
  if (deadline.isInfinite()) return -1;
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline.remaining()).count();
}

}  // namespace

Status TcpStoreClient::set(const std::string& key, const std::string& value) {
  Deadline deadline = Deadline::afterSeconds(operationTimeoutSeconds_.load());
  const std::string what = strCat("set '", key, "'");
  ISTHMUS_ASSIGN_OR_RETURN(Reply r,
                           call(kOpSet, Writer().str(key).str(value).bytes(), deadline, what));
  if (r.code != kReplyOk) return malformed(address(), what);
  return okStatus();
}

Result<std::string> TcpStoreClient::get(const std::string& key, Deadline deadline) {
  const auto start = Deadline::Clock::now();
  const std::string what = strCat("get '", key, "'");
  ISTHMUS_ASSIGN_OR_RETURN(
      Reply r, call(kOpGet, Writer().i64(timeoutMs(deadline)).str(key).bytes(), deadline, what));
  Reader rd(r.payload.data(), r.payload.size());
  if (r.code == kReplyTimeout) {
    return timeoutError("rendezvous store at ", address(), ": get waited ",
                        formatSeconds(secondsSince(start)), " for key '", key,
                        "', which nobody set");
  }
  std::string value;
  if (r.code != kReplyOk || !rd.str(&value) || !rd.done()) return malformed(address(), what);
  return value;
}

Status TcpStoreClient::wait(const std::vector<std::string>& keys, Deadline deadline) {
  const auto start = Deadline::Clock::now();
  const std::string what = strCat("wait ", joinKeys(keys));
  Writer w;
  w.i64(timeoutMs(deadline)).u32(static_cast<uint32_t>(keys.size()));
  for (const auto& k : keys) w.str(k);
  ISTHMUS_ASSIGN_OR_RETURN(Reply r, call(kOpWait, w.bytes(), deadline, what));
  Reader rd(r.payload.data(), r.payload.size());
  if (r.code == kReplyOk && rd.done()) return okStatus();
  if (r.code == kReplyTimeout) {
    uint32_t n = 0;
    std::vector<std::string> missing;
    if (!rd.u32(&n)) return malformed(address(), what);
    for (uint32_t i = 0; i < n; ++i) {
      std::string k;
      if (!rd.str(&k)) return malformed(address(), what);
      missing.push_back(std::move(k));
    }
    return timeoutError("rendezvous store at ", address(), ": waited ",
                        formatSeconds(secondsSince(start)), " for keys ", joinKeys(keys),
                        " (missing: ", joinKeys(missing), ")");
  }
  return malformed(address(), what);
}

Result<int64_t> TcpStoreClient::add(const std::string& key, int64_t delta) {
  Deadline deadline = Deadline::afterSeconds(operationTimeoutSeconds_.load());
  const std::string what = strCat("add '", key, "'");
  ISTHMUS_ASSIGN_OR_RETURN(Reply r,
                           call(kOpAdd, Writer().str(key).i64(delta).bytes(), deadline, what));
  Reader rd(r.payload.data(), r.payload.size());
  if (r.code == kReplyError) {
    std::string message;
    if (!rd.str(&message)) return malformed(address(), what);
    return invalidArgumentError("rendezvous store at ", address(), ": ", message);
  }
  int64_t value = 0;
  if (r.code != kReplyOk || !rd.i64(&value) || !rd.done()) return malformed(address(), what);
  return value;
}

Result<std::string> TcpStoreClient::compareSet(const std::string& key, const std::string& expected,
                                               const std::string& desired) {
  Deadline deadline = Deadline::afterSeconds(operationTimeoutSeconds_.load());
  const std::string what = strCat("compareSet '", key, "'");
  ISTHMUS_ASSIGN_OR_RETURN(
      Reply r,
      call(kOpCompareSet, Writer().str(key).str(expected).str(desired).bytes(), deadline, what));
  Reader rd(r.payload.data(), r.payload.size());
  std::string value;
  if (r.code != kReplyOk || !rd.str(&value) || !rd.done()) return malformed(address(), what);
  return value;
}

Result<bool> TcpStoreClient::check(const std::string& key) {
  Deadline deadline = Deadline::afterSeconds(operationTimeoutSeconds_.load());
  const std::string what = strCat("check '", key, "'");
  ISTHMUS_ASSIGN_OR_RETURN(Reply r, call(kOpCheck, Writer().str(key).bytes(), deadline, what));
  Reader rd(r.payload.data(), r.payload.size());
  uint8_t v = 0;
  if (r.code != kReplyOk || !rd.u8(&v) || !rd.done()) return malformed(address(), what);
  return v != 0;
}

Result<bool> TcpStoreClient::deleteKey(const std::string& key) {
  Deadline deadline = Deadline::afterSeconds(operationTimeoutSeconds_.load());
  const std::string what = strCat("deleteKey '", key, "'");
  ISTHMUS_ASSIGN_OR_RETURN(Reply r, call(kOpDelete, Writer().str(key).bytes(), deadline, what));
  Reader rd(r.payload.data(), r.payload.size());
  uint8_t v = 0;
  if (r.code != kReplyOk || !rd.u8(&v) || !rd.done()) return malformed(address(), what);
  return v != 0;
}

Result<std::shared_ptr<Store>> connectStoreFromEnv(Deadline deadline) {
  const char* addr = std::getenv("MASTER_ADDR");
  const char* portText = std::getenv("MASTER_PORT");
  if (addr == nullptr || *addr == '\0') {
    return invalidArgumentError(
        "MASTER_ADDR is not set: start the program with isthmus-run (or torchrun), or set "
        "MASTER_ADDR and MASTER_PORT to the rendezvous store's address");
  }
  if (portText == nullptr || *portText == '\0') {
    return invalidArgumentError("MASTER_PORT is not set (MASTER_ADDR=", addr, ")");
  }
  int64_t port = 0;
  if (!parseStoreInt(portText, &port) || port <= 0 || port > 65535) {
    return invalidArgumentError("MASTER_PORT='", portText, "' is not a TCP port (1..65535)");
  }
  ISTHMUS_ASSIGN_OR_RETURN(auto client,
                           TcpStoreClient::connect(addr, static_cast<uint16_t>(port), deadline));
  return std::shared_ptr<Store>(std::move(client));
}

}  // namespace isthmus
