// UcxTransport lifecycle: creation, the progress thread, commands from callers, abort, teardown.
// The handshake lives in ucx_connect.cc, the data path in ucx_data.cc.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "runtime/core/logging.h"
#include "runtime/transport/ucx/callbacks.h"
#include "runtime/transport/ucx/tcp_tuning.h"
#include "runtime/transport/ucx/ucx_impl.h"

namespace isthmus {

Result<std::string> loadJobSecret() {
  if (const char* s = std::getenv("ISTHMUS_JOB_SECRET"); s && *s) return std::string(s);
  if (const char* f = std::getenv("ISTHMUS_JOB_SECRET_FILE"); f && *f) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return unauthenticatedError("cannot read ISTHMUS_JOB_SECRET_FILE '", f, "'");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string secret = ss.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.empty()) return unauthenticatedError("ISTHMUS_JOB_SECRET_FILE '", f, "' is empty");
    return secret;
  }
  return unauthenticatedError(
      "no job secret: set ISTHMUS_JOB_SECRET or ISTHMUS_JOB_SECRET_FILE (every rank the same)");
}

// UCX's registration cache installs mmap/munmap hooks (libucm) guarded by a process-wide rwlock.
// A process forked while another thread was inside a hooked call inherits the lock held and
// deadlocks in ucp_init (seen: 1 in ~10 forked test ranks). TCP and shared memory need no memory
// registration, so we turn the cache and the memory events off unless the user set them.
void disableMemoryHooks(ucp_config_t* config) {
  const char* settings[][2] = {{"RCACHE_ENABLE", "n"}, {"MEMTYPE_CACHE", "n"}};
  for (const auto& kv : settings) {
    if (!std::getenv((std::string("UCX_") + kv[0]).c_str()))
      ucp_config_modify(config, kv[0], kv[1]);
  }
}

Result<std::unique_ptr<UcxTransport>> UcxTransport::create(UcxTransportOptions options,
                                                           Deadline deadline) {
  auto impl = std::make_unique<ucximpl::UcxTransportImpl>(std::move(options));
  ISTHMUS_RETURN_IF_ERROR(impl->start(deadline));
  return std::unique_ptr<UcxTransport>(std::move(impl));
}

Result<std::unique_ptr<UcxTransport>> UcxTransport::createCpuGroup(UcxTransportOptions options,
                                                                   Deadline deadline) {
  options.peerErrorHandling = false;
  options.tls.clear();
  options.defaultLink.lanes = 1;
  options.linkFor = nullptr;
  return create(std::move(options), deadline);
}

namespace ucximpl {

// ---- OpState --------------------------------------------------------------------------------

bool OpState::complete(Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_.load(std::memory_order_relaxed)) return false;
  status_ = std::move(status);
  done_.store(true, std::memory_order_release);
  cv_.notify_all();
  return true;
}

Status OpState::wait(Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  auto pred = [&] { return done_.load(std::memory_order_relaxed); };
  if (deadline.isInfinite()) {
    cv_.wait(lock, pred);
  } else if (!cv_.wait_until(lock, deadline.when(), pred)) {
    return timeoutError("wait for ", isSend ? "isend" : "irecv", " tag=", tag, " ", bytes,
                        " bytes ", isSend ? "to" : "from", " rank ", peer, " timed out after ",
                        secondsSince(posted), " s (operation still running)");
  }
  return status_;
}

Status OpState::status() {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

// ---- Peer -----------------------------------------------------------------------------------

std::string Peer::name() const {
  return strCat("rank ", rank, " (center ", center, ", ", address.empty() ? "?" : address, ")");
}

int Peer::lanesUp() const {
  int n = 0;
  for (const auto& l : lanes) n += l.up ? 1 : 0;
  return n;
}

// ---- construction ---------------------------------------------------------------------------

UcxTransportImpl::UcxTransportImpl(UcxTransportOptions options) : opt_(std::move(options)) {
  if (opt_.host.empty()) {
    const char* h = std::getenv("ISTHMUS_UCX_HOST");
    const char* w = std::getenv("ISTHMUS_WAN_ADDRESS");  // set by isthmus-run --wan
    opt_.host = (h && *h) ? h : (w && *w) ? w : "127.0.0.1";
  }
  flipChunk_ = opt_.testHooks.flipPayloadByteOfChunk;
  if (const char* f = std::getenv("ISTHMUS_TEST_FLIP_CHUNK"); f && *f) flipChunk_ = std::atoll(f);
}

std::string UcxTransportImpl::who() const {
  return strCat("[rank ", opt_.rank, "/", opt_.size, " center ", opt_.center, "]");
}

Status UcxTransportImpl::start(Deadline deadline) {
  if (opt_.size < 1 || opt_.rank < 0 || opt_.rank >= opt_.size) {
    return invalidArgumentError("UcxTransport: rank ", opt_.rank, " outside group of ", opt_.size);
  }
  if (opt_.size > 1 && !opt_.store) {
    return invalidArgumentError("UcxTransport: a group of ", opt_.size, " needs a store");
  }
  for (size_t c : {opt_.chunkBytes, opt_.rndvChunkBytes}) {
    if (c < 4096 || c > (1u << 30)) {
      return invalidArgumentError("UcxTransport: chunk size ", c, " outside [4 KiB, 1 GiB]");
    }
  }
  ISTHMUS_ASSIGN_OR_RETURN(const std::string congestion, chooseTcpCongestion(opt_.tcpCongestion));
  // The sockets that exist before ours: not ours to tune (only needed when we tune).
  const std::set<unsigned long> socketsBefore =
      congestion == "system" ? std::set<unsigned long>() : socketInodes();
  secret_ = opt_.secret;
  if (secret_.empty()) {
    ISTHMUS_ASSIGN_OR_RETURN(secret_, loadJobSecret());
  }

  peers_.resize(opt_.size);
  std::ostringstream links;
  for (int r = 0; r < opt_.size; ++r) {
    Peer& p = peers_[r];
    p.rank = r;
    PeerLinkParams link = opt_.linkFor ? opt_.linkFor(r) : opt_.defaultLink;
    if (link.lanes < 1 || link.lanes > 64) {
      return invalidArgumentError("UcxTransport: ", link.lanes, " lanes to rank ", r,
                                  " outside 1..64");
    }
    p.eager = link.eager;
    if (const char* proto = std::getenv("ISTHMUS_UCX_PROTOCOL"); proto && *proto) {
      if (std::string(proto) == "eager") {
        p.eager = true;
      } else if (std::string(proto) == "rndv") {
        p.eager = false;
      } else {
        return invalidArgumentError("ISTHMUS_UCX_PROTOCOL='", proto, "': use eager or rndv");
      }
    }
    p.chunk = p.eager ? opt_.chunkBytes : opt_.rndvChunkBytes;
    p.window = std::max(link.windowBytesPerLane, p.chunk);
    if (r < opt_.rank) p.lanesWanted = link.lanes;  // we dial lower ranks
    if (r != opt_.rank) {
      links << " " << r << ":" << link.lanes << "x" << (p.window >> 10) << "KiB"
            << (p.eager ? "/eager/" : "/rndv/") << (p.chunk >> 10) << "KiB";
    }
  }
  linkSummary_ = links.str();

  // UCX context and worker.
  ucp_config_t* config = nullptr;
  ucs_status_t st = ucp_config_read(nullptr, nullptr, &config);
  if (st != UCS_OK) return internalError("ucp_config_read: ", ucs_status_string(st));
  if (!opt_.tls.empty() && !std::getenv("UCX_TLS")) {
    ucp_config_modify(config, "TLS", opt_.tls.c_str());
  }
  disableMemoryHooks(config);
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES;
  params.features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP;
  st = ucp_init(&params, config, &context_);
  ucp_config_release(config);
  if (st != UCS_OK) return internalError("ucp_init: ", ucs_status_string(st));

  ucp_worker_params_t wparams{};
  wparams.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wparams.thread_mode = UCS_THREAD_MODE_SINGLE;  // only the progress thread touches it
  st = ucp_worker_create(context_, &wparams, &worker_);
  if (st != UCS_OK) return internalError("ucp_worker_create: ", ucs_status_string(st));
  st = ucp_worker_get_efd(worker_, &efd_);
  if (st != UCS_OK) return internalError("ucp_worker_get_efd: ", ucs_status_string(st));

  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (wakeFd_ < 0 || epfd_ < 0) return internalError("eventfd/epoll: ", std::strerror(errno));
  for (int fd : {efd_, wakeFd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      return internalError("epoll_ctl: ", std::strerror(errno));
    }
  }

  ISTHMUS_RETURN_IF_ERROR(Callbacks::install(this));

  // Listener on port 0.
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (inet_pton(AF_INET, opt_.host.c_str(), &addr.sin_addr) != 1) {
    return invalidArgumentError("UcxTransport: host '", opt_.host, "' is not an IPv4 address");
  }
  ucp_listener_params_t lp{};
  lp.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
  lp.sockaddr.addr = reinterpret_cast<const sockaddr*>(&addr);
  lp.sockaddr.addrlen = sizeof(addr);
  lp.conn_handler.cb = &Callbacks::connRequest;
  lp.conn_handler.arg = this;
  st = ucp_listener_create(worker_, &lp, &listener_);
  if (st != UCS_OK) {
    return internalError("ucp_listener_create on ", opt_.host, ":0: ", ucs_status_string(st));
  }
  ucp_listener_attr_t la{};
  la.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR;
  st = ucp_listener_query(listener_, &la);
  if (st != UCS_OK) return internalError("ucp_listener_query: ", ucs_status_string(st));
  uint16_t port = ntohs(reinterpret_cast<const sockaddr_in*>(&la.sockaddr)->sin_port);
  listenAddress_ = strCat(opt_.host, ":", port);

  auto now = Clock::now();
  for (auto& p : peers_) p.lastHeard = p.lastSent = now;
  if (opt_.size == 1) connected_ = true;
  thread_ = std::thread([this] { progressLoop(); });

  if (opt_.size == 1) return okStatus();
  ISTHMUS_RETURN_IF_ERROR(opt_.store->set(strCat("ucx/addr/", opt_.rank), listenAddress_));
  for (int r = 0; r < opt_.rank; ++r) {
    auto a = opt_.store->get(strCat("ucx/addr/", r), deadline);
    if (!a.ok()) return a.status().withContext(strCat(who(), " looking up rank ", r, "'s address"));
    std::lock_guard<std::mutex> lock(mu_);
    commands_.push_back(Command{Command::kDial, nullptr, r, *a});
  }
  wake();

  std::unique_lock<std::mutex> lock(mu_);
  auto done = [&] { return connected_ || !connectFailure_.ok() || !health_.ok(); };
  if (!connectedCv_.wait_until(lock, deadline.when(), done)) {
    return timeoutError(who(), " connecting to the group timed out: ", missing_);
  }
  if (!connectFailure_.ok()) return connectFailure_;
  if (!health_.ok()) return health_;
  std::set<std::string> remoteHosts;
  for (const Peer& p : peers_) {
    const std::string host = p.address.substr(0, p.address.rfind(':'));
    if (p.rank != opt_.rank && !host.empty() && p.center != opt_.center && host != opt_.host) {
      remoteHosts.insert(host);
    }
  }
  lock.unlock();
  // Only toward other centers' addresses: on one host (no emulated WAN) there is no long link.
  if (congestion != "system" && !remoteHosts.empty()) {
    CongestionResult cc = setCongestionControl(congestion, socketsBefore, remoteHosts);
    if (!cc.error.empty()) {
      ISTHMUS_LOG(kWarn) << who() << " could not select TCP congestion control " << congestion
                         << " for connections to other centers (" << cc.error
                         << "); they keep the system default, which over a long link may leave "
                            "much of it idle. ISTHMUS_TCP_CONGESTION=system silences this.";
    }
    lock.lock();
    congestionSummary_ = strCat(" tcp_cc=", congestion, "(", cc.sockets, " sockets)");
  } else {
    lock.lock();
  }
  ISTHMUS_LOG(kInfo) << who() << " connected: " << describeLocked();
  return okStatus();
}

UcxTransportImpl::~UcxTransportImpl() {
  if (thread_.joinable()) {
    stop_.store(true);
    wake();
    thread_.join();
  } else {
    teardown();
  }
  if (epfd_ >= 0) close(epfd_);
  if (wakeFd_ >= 0) close(wakeFd_);
}

void UcxTransportImpl::wake() {
  uint64_t one = 1;
  ssize_t n = write(wakeFd_, &one, sizeof(one));
  (void)n;
}

// ---- caller API -----------------------------------------------------------------------------

std::shared_ptr<Request> UcxTransportImpl::isend(int peer, uint64_t tag, const void* data,
                                                 size_t bytes, Deadline deadline) {
  auto op = std::make_shared<OpState>();
  op->isSend = true;
  op->peer = peer;
  op->tag = tag;
  op->data = static_cast<uint8_t*>(const_cast<void*>(data));
  op->bytes = bytes;
  op->deadline = deadline;
  op->posted = Clock::now();
  submit(op);
  return op;
}

std::shared_ptr<Request> UcxTransportImpl::irecv(int peer, uint64_t tag, void* data, size_t bytes,
                                                 Deadline deadline) {
  auto op = std::make_shared<OpState>();
  op->isSend = false;
  op->peer = peer;
  op->tag = tag;
  op->data = static_cast<uint8_t*>(data);
  op->bytes = bytes;
  op->deadline = deadline;
  op->posted = Clock::now();
  submit(op);
  return op;
}

void UcxTransportImpl::submit(const OpPtr& op) {
  if (op->peer < 0 || op->peer >= opt_.size) {
    op->complete(invalidArgumentError(who(), op->isSend ? " isend" : " irecv", " to rank ",
                                      op->peer, " outside the group of ", opt_.size));
    return;
  }
  if (op->data == nullptr && op->bytes > 0) {
    op->complete(invalidArgumentError(who(), " null buffer of ", op->bytes, " bytes"));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!health_.ok()) {
      op->complete(health_);
      return;
    }
    registry_.push_back(op);
    commands_.push_back(Command{Command::kPost, op, -1, {}});
  }
  wake();
}

void UcxTransportImpl::expectDeparture(int peer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (peer < 0 || peer >= opt_.size) return;
  if (departing_.size() != static_cast<size_t>(opt_.size)) departing_.assign(opt_.size, false);
  departing_[peer] = true;
}

void UcxTransportImpl::setSendRate(int peer, double bytesPerSecond) {
  std::lock_guard<std::mutex> lock(mu_);
  if (peer < 0 || peer >= opt_.size) return;
  if (sendRates_.size() != static_cast<size_t>(opt_.size)) sendRates_.assign(opt_.size, 0.0);
  if (sendRates_[peer] == bytesPerSecond) return;
  sendRates_[peer] = std::max(0.0, bytesPerSecond);
  sendRatesChanged_ = true;
}

void UcxTransportImpl::applySendRates(const std::vector<double>& rates) {
  const auto now = Clock::now();
  for (size_t r = 0; r < rates.size() && r < peers_.size(); ++r) {
    Peer& p = peers_[r];
    if (p.rate == rates[r]) continue;
    p.rate = rates[r];
    // Enough for a chunk, and for 10 ms of sending: the progress thread sleeps up to 5 ms.
    p.burst = std::max(static_cast<double>(p.chunk), p.rate * 0.010);
    p.tokens = p.burst;
    p.tokensAt = now;
  }
}

bool UcxTransportImpl::isDeparting(int peer) const {
  std::lock_guard<std::mutex> lock(mu_);
  return peer >= 0 && static_cast<size_t>(peer) < departing_.size() && departing_[peer];
}

void UcxTransportImpl::abort(Status reason) {
  if (reason.ok()) reason = abortedError(who(), " abort() called");
  std::vector<OpPtr> ops;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (health_.ok()) health_ = reason;
    for (auto& w : registry_) {
      if (auto op = w.lock()) ops.push_back(std::move(op));
    }
    commands_.push_back(Command{Command::kAbort, nullptr, -1, {}});
    connectedCv_.notify_all();
  }
  for (auto& op : ops) op->complete(health());
  wake();
}

Status UcxTransportImpl::health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return health_;
}

std::vector<std::string> UcxTransportImpl::refusals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refusals_;
}

void UcxTransportImpl::recordRefusal(const std::string& line) {
  ISTHMUS_LOG(kWarn) << line;
  std::lock_guard<std::mutex> lock(mu_);
  refusals_.push_back(line);
  if (refusals_.size() > 1000) refusals_.erase(refusals_.begin());
}

std::string UcxTransportImpl::describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  return describeLocked();
}

std::string UcxTransportImpl::describeLocked() const {
  return strCat("ucx ", who(), " listen=", listenAddress_,
                " tls=", std::getenv("UCX_TLS") ? std::getenv("UCX_TLS") : opt_.tls,
                " errmode=", opt_.peerErrorHandling ? "peer" : "none", congestionSummary_,
                " peers(lanes x window/protocol/chunk):", linkSummary_);
}

// ---- progress thread ------------------------------------------------------------------------

void UcxTransportImpl::progressLoop() {
  constexpr int kSpin = 256;
  int idle = 0;
  while (!stop_.load(std::memory_order_relaxed)) {
    drainCommands();
    handleDeferred();
    unsigned events = 0;
    for (int i = 0; i < 32; ++i) {
      unsigned n = ucp_worker_progress(worker_);
      events += n;
      if (n == 0) break;
    }
    for (auto& p : peers_) pumpSends(p);
    auto now = Clock::now();
    if (now - lastTimerCheck_ >= std::chrono::milliseconds(5)) {
      lastTimerCheck_ = now;
      checkTimers(now);
    }
    if (events > 0 || !deferredEmpty()) {
      idle = 0;
      continue;
    }
    // Poll briefly, then sleep on the worker's event fd. Longer spinning while operations are
    // pending was measured (2-core host, 2 ranks): it starves the threads doing the work and
    // made 4 KiB ping-pong 20x slower, so we do not.
    if (++idle < kSpin) continue;
    idle = 0;
    ucs_status_t st = ucp_worker_arm(worker_);
    if (st == UCS_ERR_BUSY) continue;
    epoll_event evs[4];
    int n = epoll_wait(epfd_, evs, 4, 5);
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.fd == wakeFd_) {
        uint64_t v;
        ssize_t r = read(wakeFd_, &v, sizeof(v));
        (void)r;
      }
    }
  }
  teardown();
}

void UcxTransportImpl::drainCommands() {
  std::vector<Command> cmds;
  std::vector<double> rates;
  {
    // Rates and commands under one lock: a send posted after setSendRate returned is paced.
    std::lock_guard<std::mutex> lock(mu_);
    if (sendRatesChanged_) {
      sendRatesChanged_ = false;
      rates = sendRates_;
    }
    cmds.swap(commands_);
  }
  if (!rates.empty()) applySendRates(rates);
  for (auto& c : cmds) {
    switch (c.kind) {
      case Command::kPost: post(c.op); break;
      case Command::kAbort: abortAll(health()); break;
      case Command::kDial: dial(c.peer, c.address); break;
    }
  }
}

void UcxTransportImpl::abortAll(const Status& why) {
  for (auto& p : peers_) {
    for (auto& [tag, op] : p.sends) op->complete(why);
    for (auto& [tag, op] : p.recvs) op->complete(why);
    dropQueues(p);
  }
  for (auto& [tag, op] : selfSends_) op->complete(why);
  for (auto& [tag, op] : selfRecvs_) op->complete(why);
  selfSends_.clear();
  selfRecvs_.clear();
}

void UcxTransportImpl::teardown() {
  if (!worker_) {
    if (context_) ucp_cleanup(context_);
    context_ = nullptr;
    return;
  }
  abortAll(abortedError(who(), " transport destroyed"));
  if (listener_) ucp_listener_destroy(listener_);
  listener_ = nullptr;
  std::vector<ucp_ep_h> eps;
  for (auto& [ep, info] : eps_) eps.push_back(ep);
  for (auto ep : eps) closeEp(ep, /*force=*/true);
  // Let in-flight requests and closes finish (bounded): their callbacks free our chunk objects.
  auto until = Clock::now() + std::chrono::seconds(2);
  while ((outstandingUcx_ > 0 || !closing_.empty()) && Clock::now() < until) {
    ucp_worker_progress(worker_);
    for (auto it = closing_.begin(); it != closing_.end();) {
      if (ucp_request_check_status(*it) != UCS_INPROGRESS) {
        ucp_request_free(*it);
        it = closing_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (outstandingUcx_ > 0 || !closing_.empty()) {
    ISTHMUS_LOG(kWarn) << who() << " teardown: " << outstandingUcx_ << " UCX requests and "
                       << closing_.size() << " endpoint closes still pending after 2 s";
  }
  for (auto req : connRequests_) ucp_listener_reject(nullptr, req);
  connRequests_.clear();
  ucp_worker_destroy(worker_);
  worker_ = nullptr;
  ucp_cleanup(context_);
  context_ = nullptr;
}

void UcxTransportImpl::closeEp(ucp_ep_h ep, bool force) {
  epLane_.erase(ep);
  auto it = eps_.find(ep);
  if (it != eps_.end()) {
    if (it->second.role == EpInfo::kData && it->second.peer >= 0) {
      auto& lanes = peers_[it->second.peer].lanes;
      if (it->second.lane < static_cast<int>(lanes.size())) {
        lanes[it->second.lane].up = false;
        lanes[it->second.lane].ep = nullptr;
      }
    }
    eps_.erase(it);
  }
  ucp_request_param_t prm{};
  prm.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  prm.flags = force ? UCP_EP_CLOSE_FLAG_FORCE : 0;
  void* req = ucp_ep_close_nbx(ep, &prm);
  if (req && !UCS_PTR_IS_ERR(req)) closing_.push_back(req);
}

}  // namespace ucximpl
}  // namespace isthmus
