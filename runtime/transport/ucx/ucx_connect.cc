// Connection set-up: the listener's accept path, the dialer's path, and the handshake between
// them (see handshake.h for the proofs). Runs on the progress thread only.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "runtime/core/logging.h"
#include "runtime/transport/ucx/callbacks.h"
#include "runtime/transport/ucx/handshake.h"
#include "runtime/transport/ucx/ucx_impl.h"

namespace isthmus {
namespace ucximpl {

std::string sockaddrToString(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
    port = ntohs(in6->sin6_port);
  }
  return strCat(ip, ":", port);
}

Status parseHostPort(const std::string& address, sockaddr_in* out) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    return invalidArgumentError("address '", address, "' is not host:port");
  }
  std::memset(out, 0, sizeof(*out));
  out->sin_family = AF_INET;
  int port = std::atoi(address.substr(colon + 1).c_str());
  if (port <= 0 || port > 65535) return invalidArgumentError("bad port in '", address, "'");
  out->sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &out->sin_addr) != 1) {
    return invalidArgumentError("address '", address, "' is not an IPv4 host:port");
  }
  return okStatus();
}

ucp_ep_params_t dialParams(const sockaddr_in& sa, ucp_err_handling_mode_t mode,
                           ucp_err_handler_cb_t onError, void* arg) {
  ucp_ep_params_t ep{};
  ep.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR |
                  UCP_EP_PARAM_FIELD_ERR_HANDLER | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
  ep.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
  ep.sockaddr.addr = reinterpret_cast<const sockaddr*>(&sa);
  ep.sockaddr.addrlen = sizeof(sa);
  ep.err_mode = mode;
  ep.err_handler.cb = onError;
  ep.err_handler.arg = arg;
  return ep;
}

void UcxTransportImpl::onConnRequest(ucp_conn_request_h request) {
  connRequests_.push_back(request);
}

void UcxTransportImpl::onEpError(ucp_ep_h ep, ucs_status_t status) {
  epErrors_.emplace_back(ep, status);
}

ucs_status_t UcxTransportImpl::onHandshakeAm(const void* data, size_t length,
                                             const ucp_am_recv_param_t* param) {
  if (!(param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) || param->reply_ep == nullptr) {
    ISTHMUS_LOG(kWarn) << who() << " dropped a handshake message without a reply endpoint";
    return UCS_OK;
  }
  if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
    // Far too big for a handshake: refuse without reading it.
    handshakes_.push_back(Deferred{param->reply_ep, std::string(), true});
    return UCS_OK;
  }
  handshakes_.push_back(
      Deferred{param->reply_ep, std::string(static_cast<const char*>(data), length), false});
  return UCS_OK;
}

bool UcxTransportImpl::deferredEmpty() const {
  return connRequests_.empty() && handshakes_.empty() && epErrors_.empty();
}

void UcxTransportImpl::handleDeferred() {
  if (!connRequests_.empty()) {
    std::vector<ucp_conn_request_h> reqs;
    reqs.swap(connRequests_);
    for (auto r : reqs) accept(r);
  }
  if (!handshakes_.empty()) {
    std::vector<Deferred> msgs;
    msgs.swap(handshakes_);
    for (auto& m : msgs) handleHandshake(m);
  }
  if (!epErrors_.empty()) {
    std::vector<std::pair<ucp_ep_h, ucs_status_t>> errs;
    errs.swap(epErrors_);
    for (auto& [ep, st] : errs) handleEpError(ep, st);
  }
}

bool UcxTransportImpl::flushHandshakes(ucp_ep_h ep) {
  // A data message can overtake our processing of the welcome that preceded it on the same
  // endpoint (handshakes are deferred, data is handled in the callback): handle this endpoint's
  // pending handshake messages now, in arrival order. On the dialer, a welcome sends nothing.
  bool any = false;
  for (size_t i = 0; i < handshakes_.size();) {
    if (handshakes_[i].ep == ep) {
      Deferred m = std::move(handshakes_[i]);
      handshakes_.erase(handshakes_.begin() + static_cast<std::ptrdiff_t>(i));
      handleHandshake(m);
      any = true;
    } else {
      ++i;
    }
  }
  return any;
}

void UcxTransportImpl::accept(ucp_conn_request_h request) {
  ucp_conn_request_attr_t attr{};
  attr.field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR;
  std::string remote = "?";
  if (ucp_conn_request_query(request, &attr) == UCS_OK)
    remote = sockaddrToString(attr.client_address);

  ucp_ep_params_t ep{};
  ep.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST | UCP_EP_PARAM_FIELD_ERR_HANDLER |
                  UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
  ep.conn_request = request;
  ep.err_mode = opt_.peerErrorHandling ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE;
  ep.err_handler.cb = &Callbacks::epError;
  ep.err_handler.arg = this;
  ucp_ep_h handle = nullptr;
  ucs_status_t st = ucp_ep_create(worker_, &ep, &handle);
  if (st != UCS_OK) {
    recordRefusal(
        strCat(who(), " could not accept a connection from ", remote, ": ", ucs_status_string(st)));
    return;
  }
  EpInfo info;
  info.role = EpInfo::kAccepting;
  info.remote = remote;
  info.started = Clock::now();
  auto nonce = handshake::freshNonce();
  if (!nonce.ok()) {
    recordRefusal(strCat(who(), " ", nonce.status().message()));
    closeEp(handle, true);
    return;
  }
  info.challenge.set_protocol_version(ucxwire::kProtocolVersion);
  info.challenge.set_nonce(*nonce);
  info.challenge.set_job_id(opt_.jobId);
  info.challenge.set_rank(opt_.rank);
  info.challenge.set_center(opt_.center);
  proto::HandshakeMessage msg;
  *msg.mutable_challenge() = info.challenge;
  eps_[handle] = info;
  ISTHMUS_LOG(kDebug) << who() << " connection from " << remote << ": challenge sent";
  sendHandshake(handle, msg);
}

void UcxTransportImpl::dial(int peer, const std::string& address) {
  Peer& p = peers_[peer];
  p.address = address;
  p.lanes.assign(p.lanesWanted, Lane{});
  sockaddr_in sa{};
  Status parsed = parseHostPort(address, &sa);
  if (!parsed.ok()) {
    failConnect(parsed.withContext(strCat(who(), " dialing rank ", peer)));
    return;
  }
  for (int lane = 0; lane < p.lanesWanted; ++lane) {
    ucp_ep_params_t ep = dialParams(
        sa, opt_.peerErrorHandling ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE,
        &Callbacks::epError, this);
    ucp_ep_h handle = nullptr;
    ucs_status_t st = ucp_ep_create(worker_, &ep, &handle);
    if (st != UCS_OK) {
      failConnect(peerLostError(who(), " dialing rank ", peer, " at ", address, " lane ", lane,
                                ": ", ucs_status_string(st)));
      return;
    }
    EpInfo info;
    info.role = EpInfo::kDialing;
    info.peer = peer;
    info.lane = lane;
    info.remote = address;
    info.started = Clock::now();
    eps_[handle] = info;
  }
}

void UcxTransportImpl::failConnect(Status why) {
  ISTHMUS_LOG(kError) << why.message();
  std::lock_guard<std::mutex> lock(mu_);
  if (connectFailure_.ok()) connectFailure_ = std::move(why);
  connectedCv_.notify_all();
}

void UcxTransportImpl::handleHandshake(const Deferred& m) {
  auto it = eps_.find(m.ep);
  if (it == eps_.end()) return;  // closed meanwhile
  EpInfo& info = it->second;
  proto::HandshakeMessage msg;
  bool parsed =
      !m.tooBig && m.bytes.size() <= ucxwire::kMaxHandshakeBytes && msg.ParseFromString(m.bytes);

  if (info.role == EpInfo::kAccepting) {
    if (!parsed || msg.kind_case() != proto::HandshakeMessage::kHello) {
      refuse(m.ep, info,
             strCat("bytes that are not a handshake hello (", m.tooBig ? "oversized" : "",
                    m.bytes.size(), " bytes)"));
      return;
    }
    const proto::Hello& hello = msg.hello();
    handshake::Expectation expect;
    expect.version = ucxwire::kProtocolVersion;
    expect.jobId = opt_.jobId;
    expect.secret = secret_;
    expect.listenerRank = opt_.rank;
    expect.groupSize = opt_.size;
    Status ok = handshake::checkHello(expect, info.challenge, hello);
    if (!ok.ok()) {
      refuse(m.ep, info, ok.message());
      return;
    }
    Peer& p = peers_[hello.rank()];
    if (p.lanesWanted == 0) {
      p.lanesWanted = hello.lanes();
      p.lanes.assign(p.lanesWanted, Lane{});
    } else if (p.lanesWanted != hello.lanes()) {
      refuse(m.ep, info,
             strCat("rank ", hello.rank(), " announced ", hello.lanes(), " lanes after announcing ",
                    p.lanesWanted));
      return;
    }
    if (p.lanes[hello.lane()].up || p.lost) {
      refuse(m.ep, info,
             strCat("rank ", hello.rank(), " lane ", hello.lane(),
                    p.lost ? " belongs to a lost peer" : " is already connected"));
      return;
    }
    p.center = hello.center();
    p.address = info.remote;
    proto::HandshakeMessage reply;
    auto* w = reply.mutable_welcome();
    w->set_rank(opt_.rank);
    w->set_center(opt_.center);
    for (const auto& c : opt_.codecs) w->add_codecs(c);
    w->set_proof(handshake::welcomeProof(secret_, info.challenge, hello));
    sendHandshake(m.ep, reply);
    ISTHMUS_LOG(kInfo) << who() << " accepted rank " << hello.rank() << " lane " << hello.lane()
                       << "/" << hello.lanes() << " from " << info.remote;
    laneUp(hello.rank(), hello.lane(), m.ep);
    return;
  }

  if (info.role == EpInfo::kDialing) {
    Peer& p = peers_[info.peer];
    std::string at = strCat("rank ", info.peer, " at ", info.remote);
    if (!parsed) {
      failConnect(
          unauthenticatedError(who(), " ", at, " answered with bytes that are not a handshake"));
      closeEp(m.ep, true);
      return;
    }
    if (!info.challenged) {
      if (msg.kind_case() != proto::HandshakeMessage::kChallenge) {
        if (msg.kind_case() == proto::HandshakeMessage::kRefusal) {
          failConnect(
              unauthenticatedError(who(), " ", at, " refused us: ", msg.refusal().reason()));
        } else {
          failConnect(unauthenticatedError(who(), " ", at, " sent no challenge"));
        }
        closeEp(m.ep, true);
        return;
      }
      const proto::Challenge& c = msg.challenge();
      if (c.protocol_version() != ucxwire::kProtocolVersion || c.job_id() != opt_.jobId ||
          c.rank() != info.peer) {
        failConnect(unauthenticatedError(who(), " ", at, " is not our peer: protocol ",
                                         c.protocol_version(), " (ours ", ucxwire::kProtocolVersion,
                                         "), job '", c.job_id(), "' (ours '", opt_.jobId,
                                         "'), rank ", c.rank()));
        closeEp(m.ep, true);
        return;
      }
      auto nonce = handshake::freshNonce();
      if (!nonce.ok()) {
        failConnect(nonce.status());
        return;
      }
      proto::Hello hello;
      hello.set_protocol_version(ucxwire::kProtocolVersion);
      hello.set_job_id(opt_.jobId);
      hello.set_rank(opt_.rank);
      hello.set_center(opt_.center);
      hello.set_lane(info.lane);
      hello.set_lanes(p.lanesWanted);
      for (const auto& codec : opt_.codecs) hello.add_codecs(codec);
      hello.set_nonce(*nonce);
      hello.set_proof(handshake::helloProof(secret_, c, hello));
      info.challenge = c;
      info.hello = hello;
      info.challenged = true;
      proto::HandshakeMessage out;
      *out.mutable_hello() = hello;
      sendHandshake(m.ep, out);
      return;
    }
    if (msg.kind_case() == proto::HandshakeMessage::kRefusal) {
      failConnect(unauthenticatedError(who(), " ", at, " refused us: ", msg.refusal().reason()));
      closeEp(m.ep, true);
      return;
    }
    if (msg.kind_case() != proto::HandshakeMessage::kWelcome || msg.welcome().rank() != info.peer ||
        !handshake::constantTimeEqual(
            msg.welcome().proof(), handshake::welcomeProof(secret_, info.challenge, info.hello))) {
      failConnect(
          unauthenticatedError(who(), " ", at, " failed to prove the job secret in its welcome"));
      closeEp(m.ep, true);
      return;
    }
    p.center = msg.welcome().center();
    ISTHMUS_LOG(kInfo) << who() << " connected to " << at << " lane " << info.lane << "/"
                       << p.lanesWanted;
    laneUp(info.peer, info.lane, m.ep);
    return;
  }
  ISTHMUS_LOG(kWarn) << who() << " ignored a handshake message on an established lane from "
                     << info.remote;
}

void UcxTransportImpl::refuse(ucp_ep_h ep, EpInfo& info, const std::string& reason) {
  recordRefusal(strCat(who(), " refused connection from ", info.remote, ": ", reason));
  proto::HandshakeMessage msg;
  msg.mutable_refusal()->set_reason(reason);
  sendHandshake(ep, msg);
  closeEp(ep, /*force=*/false);  // flush: the refusal reaches the dialer first
}

void UcxTransportImpl::handleEpError(ucp_ep_h ep, ucs_status_t status) {
  auto it = eps_.find(ep);
  if (it == eps_.end()) return;
  EpInfo info = it->second;
  switch (info.role) {
    case EpInfo::kAccepting:
      ISTHMUS_LOG(kInfo) << who() << " connection from " << info.remote
                         << " dropped during the handshake: " << ucs_status_string(status);
      closeEp(ep, true);
      break;
    case EpInfo::kDialing:
      closeEp(ep, true);
      failConnect(peerLostError(who(), " dialing rank ", info.peer, " at ", info.remote, " lane ",
                                info.lane, " failed: ", ucs_status_string(status)));
      break;
    case EpInfo::kData: {
      Peer& p = peers_[info.peer];
      markPeerLost(p, peerLostError(who(), " peer ", p.name(), " lost: lane ", info.lane,
                                    " failed with ", ucs_status_string(status)));
      break;
    }
  }
}

void UcxTransportImpl::laneUp(int peer, int lane, ucp_ep_h ep) {
  Peer& p = peers_[peer];
  auto& info = eps_[ep];
  info.role = EpInfo::kData;
  info.peer = peer;
  info.lane = lane;
  p.lanes[lane].ep = ep;
  p.lanes[lane].up = true;
  p.lanes[lane].inflightBytes = 0;
  p.lastHeard = Clock::now();
  epLane_[ep] = {peer, lane};
  updateConnected();
}

void UcxTransportImpl::updateConnected() {
  std::string missing;
  bool all = true;
  for (const auto& q : peers_) {
    if (q.rank == opt_.rank) continue;
    if (q.lanesWanted == 0 || q.lanesUp() < q.lanesWanted) {
      all = false;
      missing +=
          strCat(" rank ", q.rank, " (", q.lanesUp(), "/",
                 q.lanesWanted == 0 ? std::string("?") : std::to_string(q.lanesWanted),
                 " lanes authenticated", q.rank < opt_.rank ? ", we dial it)" : ", it dials us)");
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  missing_ = missing.empty() ? std::string("none") : "missing" + missing;
  if (all && !connected_) {
    connected_ = true;
    connectedCv_.notify_all();
  }
}

Peer* UcxTransportImpl::peerOfEp(ucp_ep_h ep, int* lane) {
  auto it = epLane_.find(ep);
  if (it == epLane_.end()) return nullptr;
  Peer& p = peers_[it->second.first];
  if (lane) *lane = it->second.second;
  return &p;
}

void UcxTransportImpl::sendHandshake(ucp_ep_h ep, const proto::HandshakeMessage& msg) {
  Status st = sendControl(ep, ucxwire::kAmHandshake, nullptr, 0, msg.SerializeAsString(),
                          /*eager=*/true);
  if (!st.ok()) {
    ISTHMUS_LOG(kWarn) << who() << " handshake send failed: " << st.message();
  }
}

void UcxTransportImpl::checkHandshakeStalls(Clock::time_point now) {
  auto limit = std::chrono::duration<double>(opt_.handshakeTimeoutSeconds);
  std::vector<ucp_ep_h> stalled;
  for (auto& [ep, info] : eps_) {
    if (info.role == EpInfo::kAccepting && now - info.started > limit) stalled.push_back(ep);
  }
  for (auto ep : stalled) {
    auto& info = eps_[ep];
    refuse(ep, info,
           strCat("handshake stalled: no hello within ", opt_.handshakeTimeoutSeconds, " s"));
  }
}

}  // namespace ucximpl
}  // namespace isthmus
