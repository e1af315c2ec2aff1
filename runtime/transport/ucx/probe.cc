// probeHandshake: the dialer's half of the handshake on a throw-away worker, driven from the
// calling thread. Used by the security tests to play a stranger (wrong secret, job or version,
// garbage, a stall) against a real listener, and by operators to check a listener's health.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ucp/api/ucp.h>

#include <cstring>
#include <random>
#include <string>

#include "runtime/transport/ucx/handshake.h"
#include "runtime/transport/ucx/ucx_transport.h"
#include "runtime/transport/ucx/wire.h"

namespace isthmus {
namespace ucximpl {
Status parseHostPort(const std::string& address, sockaddr_in* out);
// Endpoint parameters for dialing `sa` in client-server mode (ucx_connect.cc); `sa` must outlive
// the ucp_ep_create call.
ucp_ep_params_t dialParams(const sockaddr_in& sa, ucp_err_handling_mode_t mode,
                           ucp_err_handler_cb_t onError, void* arg);
}  // namespace ucximpl
void disableMemoryHooks(ucp_config_t* config);

namespace {

struct ProbeState {
  std::vector<std::string> inbox;  // handshake messages received
  ucs_status_t epError = UCS_OK;
};

ucs_status_t probeAm(void* arg, const void*, size_t, void* data, size_t length,
                     const ucp_am_recv_param_t* param) {
  if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) return UCS_OK;
  static_cast<ProbeState*>(arg)->inbox.emplace_back(static_cast<const char*>(data), length);
  return UCS_OK;
}

void probeEpError(void* arg, ucp_ep_h, ucs_status_t status) {
  static_cast<ProbeState*>(arg)->epError = status;
}

// A tiny RAII bundle so every exit path releases UCX.
struct ProbeUcx {
  ucp_context_h context = nullptr;
  ucp_worker_h worker = nullptr;
  ucp_ep_h ep = nullptr;
  ~ProbeUcx() {
    if (ep) {
      ucp_request_param_t prm{};
      prm.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
      prm.flags = UCP_EP_CLOSE_FLAG_FORCE;
      void* req = ucp_ep_close_nbx(ep, &prm);
      if (req && !UCS_PTR_IS_ERR(req)) {
        for (int i = 0; i < 100000 && ucp_request_check_status(req) == UCS_INPROGRESS; ++i) {
          ucp_worker_progress(worker);
        }
        ucp_request_free(req);
      }
    }
    if (worker) ucp_worker_destroy(worker);
    if (context) ucp_cleanup(context);
  }
};

Status sendBytes(ucp_worker_h worker, ucp_ep_h ep, const std::string& bytes, Deadline deadline) {
  ucp_request_param_t prm{};
  prm.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  prm.flags = UCP_AM_SEND_FLAG_REPLY | UCP_AM_SEND_FLAG_EAGER;
  void* req =
      ucp_am_send_nbx(ep, ucxwire::kAmHandshake, nullptr, 0, bytes.data(), bytes.size(), &prm);
  if (req == nullptr) return okStatus();
  if (UCS_PTR_IS_ERR(req)) {
    return peerLostError("probe send: ", ucs_status_string(UCS_PTR_STATUS(req)));
  }
  while (ucp_request_check_status(req) == UCS_INPROGRESS && !deadline.expired()) {
    ucp_worker_progress(worker);
  }
  ucs_status_t st = ucp_request_check_status(req);
  ucp_request_free(req);  // a still-running request completes and is released by UCX
  if (st == UCS_INPROGRESS) return timeoutError("probe send timed out");
  if (st != UCS_OK) return peerLostError("probe send: ", ucs_status_string(st));
  return okStatus();
}

// Waits for the next handshake message; nullopt-like empty string + status on failure.
Result<proto::HandshakeMessage> nextMessage(ProbeUcx& u, ProbeState& s, const std::string& addr,
                                            Deadline deadline) {
  while (s.inbox.empty()) {
    if (s.epError != UCS_OK) {
      return peerLostError("probe: listener ", addr,
                           " closed the connection: ", ucs_status_string(s.epError));
    }
    if (deadline.expired()) return timeoutError("probe: no answer from ", addr);
    ucp_worker_progress(u.worker);
  }
  std::string bytes = std::move(s.inbox.front());
  s.inbox.erase(s.inbox.begin());
  proto::HandshakeMessage msg;
  if (!msg.ParseFromString(bytes)) {
    return corruptError("probe: listener ", addr, " sent bytes that are not a handshake");
  }
  return msg;
}

}  // namespace

Status probeHandshake(const HandshakeProbe& probe, Deadline deadline) {
  sockaddr_in sa{};
  ISTHMUS_RETURN_IF_ERROR(ucximpl::parseHostPort(probe.address, &sa));
  ProbeUcx u;
  ProbeState state;
  ucp_config_t* config = nullptr;
  if (ucp_config_read(nullptr, nullptr, &config) != UCS_OK) return internalError("ucp_config_read");
  if (!probe.tls.empty() && !std::getenv("UCX_TLS")) {
    ucp_config_modify(config, "TLS", probe.tls.c_str());
  }
  disableMemoryHooks(config);
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES;
  params.features = UCP_FEATURE_AM;
  ucs_status_t st = ucp_init(&params, config, &u.context);
  ucp_config_release(config);
  if (st != UCS_OK) return internalError("probe ucp_init: ", ucs_status_string(st));
  ucp_worker_params_t wp{};
  wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wp.thread_mode = UCS_THREAD_MODE_SINGLE;
  st = ucp_worker_create(u.context, &wp, &u.worker);
  if (st != UCS_OK) return internalError("probe ucp_worker_create: ", ucs_status_string(st));
  ucp_am_handler_param_t hp{};
  hp.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                  UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG;
  hp.id = ucxwire::kAmHandshake;
  hp.flags = UCP_AM_FLAG_WHOLE_MSG;
  hp.cb = &probeAm;
  hp.arg = &state;
  ucp_worker_set_am_recv_handler(u.worker, &hp);

  ucp_ep_params_t ep = ucximpl::dialParams(sa, UCP_ERR_HANDLING_MODE_PEER, &probeEpError, &state);
  st = ucp_ep_create(u.worker, &ep, &u.ep);
  if (st != UCS_OK) {
    return peerLostError("probe: dialing ", probe.address, ": ", ucs_status_string(st));
  }

  ISTHMUS_ASSIGN_OR_RETURN(proto::HandshakeMessage first,
                           nextMessage(u, state, probe.address, deadline));
  if (first.kind_case() != proto::HandshakeMessage::kChallenge) {
    return corruptError("probe: listener ", probe.address, " sent no challenge");
  }
  if (probe.misbehave == "garbage") {
    std::mt19937_64 rng(std::random_device{}());
    std::string junk(256, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    junk[0] = '\xff';  // an invalid protobuf tag byte: never parses as a HandshakeMessage
    ISTHMUS_RETURN_IF_ERROR(sendBytes(u.worker, u.ep, junk, deadline));
  } else if (probe.misbehave != "stall") {
    proto::Hello hello;
    hello.set_protocol_version(probe.protocolVersion ? probe.protocolVersion
                                                     : ucxwire::kProtocolVersion);
    hello.set_job_id(probe.jobId);
    hello.set_rank(probe.rank);
    hello.set_center(probe.center);
    hello.set_lane(probe.lane);
    hello.set_lanes(probe.lanes);
    ISTHMUS_ASSIGN_OR_RETURN(std::string nonce, handshake::freshNonce());
    hello.set_nonce(nonce);
    hello.set_proof(handshake::helloProof(probe.secret, first.challenge(), hello));
    proto::HandshakeMessage msg;
    *msg.mutable_hello() = hello;
    ISTHMUS_RETURN_IF_ERROR(sendBytes(u.worker, u.ep, msg.SerializeAsString(), deadline));
    ISTHMUS_ASSIGN_OR_RETURN(proto::HandshakeMessage answer,
                             nextMessage(u, state, probe.address, deadline));
    if (answer.kind_case() == proto::HandshakeMessage::kRefusal) {
      return unauthenticatedError("listener ", probe.address,
                                  " refused the probe: ", answer.refusal().reason());
    }
    if (answer.kind_case() != proto::HandshakeMessage::kWelcome ||
        !handshake::constantTimeEqual(
            answer.welcome().proof(),
            handshake::welcomeProof(probe.secret, first.challenge(), hello))) {
      return unauthenticatedError("listener ", probe.address, " failed to prove the job secret");
    }
    return okStatus();
  }
  // garbage / stall: the listener must refuse; report its reason.
  ISTHMUS_ASSIGN_OR_RETURN(proto::HandshakeMessage answer,
                           nextMessage(u, state, probe.address, deadline));
  if (answer.kind_case() == proto::HandshakeMessage::kRefusal) {
    return unauthenticatedError("listener ", probe.address,
                                " refused the probe: ", answer.refusal().reason());
  }
  return internalError("listener ", probe.address, " accepted a probe that misbehaved (",
                       probe.misbehave, ")");
}

}  // namespace isthmus
