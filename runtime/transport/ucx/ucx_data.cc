// The data path: chunking and striping sends over lanes, matching and verifying received chunks,
// deadlines, keep-alive and lost peers. Runs on the progress thread only.
#include <algorithm>
#include <cstring>

#include "runtime/core/logging.h"
#include "runtime/transport/crc32c.h"
#include "runtime/transport/ucx/callbacks.h"
#include "runtime/transport/ucx/ucx_impl.h"

namespace isthmus {
namespace ucximpl {

using ucxwire::ChunkHeader;

namespace {
std::string opName(const OpState& op) {
  return strCat(op.isSend ? "isend" : "irecv", " tag=", op.tag, " ", op.bytes, " bytes");
}
}  // namespace

void UcxTransportImpl::post(const OpPtr& op) {
  if (op->test()) return;  // aborted before it reached us
  if (op->peer == opt_.rank) {
    postSelf(op);
    return;
  }
  Peer& p = peers_[op->peer];
  if (p.lost) {
    op->complete(p.lostStatus);
    return;
  }
  if (op->isSend) {
    if (p.sends.count(op->tag)) {
      op->complete(invalidArgumentError(who(), " isend tag=", op->tag, " to ", p.name(),
                                        ": a send with this tag is still in flight"));
      return;
    }
    op->sequence = p.nextSendSequence++;
    size_t chunks = (op->bytes + p.chunk - 1) / p.chunk;
    op->chunkCount = static_cast<uint32_t>(std::max<size_t>(1, chunks));
    p.sends[op->tag] = op;
    p.sendQueue.push_back(op);
    pumpSends(p);
    return;
  }
  if (p.recvs.count(op->tag)) {
    op->complete(invalidArgumentError(who(), " irecv tag=", op->tag, " from ", p.name(),
                                      ": a receive with this tag is already posted"));
    return;
  }
  p.discard.erase(op->tag);
  p.recvs[op->tag] = op;
  auto held = p.held.find(op->tag);
  if (held != p.held.end()) {
    std::vector<HeldChunk> chunks = std::move(held->second);
    p.held.erase(held);
    for (auto& c : chunks) {
      if (op->test()) {
        releaseHeld(c);
      } else {
        deliver(p, op, c, /*inCallback=*/false);
      }
    }
  }
}

void UcxTransportImpl::postSelf(const OpPtr& op) {
  auto& mine = op->isSend ? selfSends_ : selfRecvs_;
  auto& other = op->isSend ? selfRecvs_ : selfSends_;
  if (mine.count(op->tag)) {
    op->complete(invalidArgumentError(who(), " ", opName(*op), " to itself: tag already posted"));
    return;
  }
  auto it = other.find(op->tag);
  if (it == other.end()) {
    mine[op->tag] = op;
    return;
  }
  OpPtr send = op->isSend ? op : it->second;
  OpPtr recv = op->isSend ? it->second : op;
  other.erase(it);
  if (send->bytes != recv->bytes) {
    Status bad = corruptError(who(), " message to itself tag=", op->tag, ": sent ", send->bytes,
                              " bytes, receive posted for ", recv->bytes);
    send->complete(bad);
    recv->complete(bad);
    return;
  }
  if (send->bytes) std::memcpy(recv->data, send->data, send->bytes);
  send->complete(okStatus());
  recv->complete(okStatus());
}

void UcxTransportImpl::pumpSends(Peer& p) {
  if (p.lost || p.lanes.empty()) return;
  while (!p.sendQueue.empty()) {
    OpPtr op = p.sendQueue.front();
    if (op->test()) {
      p.sendQueue.pop_front();
      continue;
    }
    while (op->nextChunk < op->chunkCount) {
      size_t offset = static_cast<size_t>(op->nextChunk) * p.chunk;
      size_t len = std::min(p.chunk, op->bytes - offset);
      int best = -1;
      for (int l = 0; l < static_cast<int>(p.lanes.size()); ++l) {
        const Lane& lane = p.lanes[l];
        if (!lane.up) continue;
        if (lane.inflightBytes != 0 && lane.inflightBytes + len > p.window) continue;
        if (best < 0 || lane.inflightBytes < p.lanes[best].inflightBytes) best = l;
      }
      if (best < 0) return;             // every lane's window is full: wait for completions
      if (!takeTokens(p, len)) return;  // paced: the progress loop comes back within 5 ms
      auto* c = new SendChunk;
      c->impl = this;
      c->op = op;
      c->peer = p.rank;
      c->lane = best;
      c->bytes = len;
      ChunkHeader& h = c->header;
      h.tag = op->tag;
      h.sequence = op->sequence;
      h.messageBytes = op->bytes;
      h.offset = offset;
      h.chunkIndex = op->nextChunk;
      h.chunkCount = op->chunkCount;
      h.chunkBytes = static_cast<uint32_t>(len);
      h.crc = crc32c(op->data + offset, len);
      ++op->nextChunk;
      p.lanes[best].inflightBytes += len;
      p.lastSent = Clock::now();

      ucp_request_param_t prm{};
      prm.op_attr_mask =
          UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS;
      prm.flags = UCP_AM_SEND_FLAG_REPLY | (p.eager ? UCP_AM_SEND_FLAG_EAGER : 0);
      prm.cb.send = &Callbacks::sendChunkDone;
      prm.user_data = c;
      void* req = ucp_am_send_nbx(p.lanes[best].ep, ucxwire::kAmData, &c->header,
                                  sizeof(ChunkHeader), op->data + offset, len, &prm);
      if (req == nullptr) {
        onSendChunkDone(c, UCS_OK);
      } else if (UCS_PTR_IS_ERR(req)) {
        onSendChunkDone(c, UCS_PTR_STATUS(req));
      } else {
        ++outstandingUcx_;
      }
      if (p.lost) return;
    }
    p.sendQueue.pop_front();
  }
}

bool UcxTransportImpl::takeTokens(Peer& p, size_t bytes) {
  if (p.rate <= 0) return true;
  const auto now = Clock::now();
  p.tokens = std::min(p.burst,
                      p.tokens + p.rate * std::chrono::duration<double>(now - p.tokensAt).count());
  p.tokensAt = now;
  if (p.tokens <= 0) return false;
  p.tokens -= static_cast<double>(bytes);  // may go negative: the next chunk waits for it
  return true;
}

void UcxTransportImpl::onSendChunkDone(SendChunk* c, ucs_status_t status) {
  Peer& p = peers_[c->peer];
  if (c->lane < static_cast<int>(p.lanes.size())) {
    size_t& inflight = p.lanes[c->lane].inflightBytes;
    inflight -= std::min(inflight, c->bytes);
  }
  OpPtr op = std::move(c->op);
  uint32_t index = c->header.chunkIndex;
  int lane = c->lane;
  delete c;
  if (op->test()) return;
  if (status != UCS_OK) {
    Status why = p.lost
                     ? p.lostStatus
                     : peerLostError(who(), " ", opName(*op), " to ", p.name(), ": chunk ", index,
                                     " on lane ", lane, " failed: ", ucs_status_string(status));
    failOp(op, why);
    return;
  }
  if (++op->chunksDone == op->chunkCount) {
    op->complete(okStatus());
    finalizeOp(op);
  }
}

ucs_status_t UcxTransportImpl::onDataAm(const void* header, size_t headerLength, void* data,
                                        size_t length, const ucp_am_recv_param_t* param) {
  ucp_ep_h ep = (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) ? param->reply_ep : nullptr;
  int lane = 0;
  Peer* p = ep ? peerOfEp(ep, &lane) : nullptr;
  if (!p && ep && flushHandshakes(ep)) p = peerOfEp(ep, &lane);
  if (!p) {
    auto it = ep ? eps_.find(ep) : eps_.end();
    ISTHMUS_LOG(kWarn) << who() << " dropped a data message from an unauthenticated endpoint "
                       << (it != eps_.end() ? it->second.remote : std::string("(unknown)"));
    if (it != eps_.end()) refuse(ep, it->second, "data before a completed handshake");
    return UCS_OK;
  }
  p->lastHeard = Clock::now();
  ChunkHeader h;
  bool sane = headerLength == sizeof(ChunkHeader);
  if (sane) std::memcpy(&h, header, sizeof(h));
  sane = sane && h.magic == ucxwire::kMagic &&
         h.kind == static_cast<uint16_t>(ucxwire::ChunkKind::kData) && h.chunkBytes == length &&
         h.chunkIndex < h.chunkCount && h.offset <= h.messageBytes &&
         h.chunkBytes <= h.messageBytes - h.offset;
  if (!sane) {
    Status bad = corruptError(who(), " malformed chunk header (", headerLength, " bytes, payload ",
                              length, ") from ", p->name(), " on lane ", lane);
    ISTHMUS_LOG(kError) << bad.message();
    if (headerLength == sizeof(ChunkHeader)) {
      auto r = p->recvs.find(h.tag);
      if (r != p->recvs.end()) failOp(r->second, bad);
    }
    return UCS_OK;
  }
  if (p->discard.count(h.tag)) return UCS_OK;
  HeldChunk c;
  c.header = h;
  c.desc = data;
  c.rndv = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
  c.persistent = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_DATA) != 0;
  auto r = p->recvs.find(h.tag);
  if (r != p->recvs.end()) {
    OpPtr op = r->second;
    deliver(*p, op, c, /*inCallback=*/true);
    return UCS_OK;
  }
  // Unexpected: keep it until the receive is posted.
  ucs_status_t keep = UCS_INPROGRESS;
  if (!c.rndv && !c.persistent) {
    c.copy.assign(static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + length);
    c.desc = nullptr;
    keep = UCS_OK;
  }
  p->held[h.tag].push_back(std::move(c));
  return keep;
}

void UcxTransportImpl::deliver(Peer& p, const OpPtr& op, HeldChunk& c, bool inCallback) {
  const ChunkHeader& h = c.header;
  if (h.messageBytes != op->bytes || (op->chunkCount != 0 && op->chunkCount != h.chunkCount)) {
    if (!inCallback) releaseHeld(c);
    failOp(op, corruptError(who(), " ", opName(*op), " from ", p.name(), ": the sender sent ",
                            h.messageBytes, " bytes in ", h.chunkCount, " chunks under this tag"));
    return;
  }
  op->chunkCount = h.chunkCount;
  uint8_t* dest = op->data + h.offset;
  if (c.rndv) {
    auto* rc = new RecvChunk;
    rc->impl = this;
    rc->op = op;
    rc->peer = p.rank;
    rc->header = h;
    ucp_request_param_t prm{};
    prm.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    prm.cb.recv_am = &Callbacks::recvChunkDone;
    prm.user_data = rc;
    void* req = ucp_am_recv_data_nbx(worker_, c.desc, dest, h.chunkBytes, &prm);
    c.desc = nullptr;
    if (req == nullptr) {
      onRecvChunkDone(rc, UCS_OK);
    } else if (UCS_PTR_IS_ERR(req)) {
      onRecvChunkDone(rc, UCS_PTR_STATUS(req));
    } else {
      ++outstandingUcx_;
    }
    return;
  }
  const void* src = c.desc ? c.desc : c.copy.data();
  if (h.chunkBytes) std::memcpy(dest, src, h.chunkBytes);
  if (!inCallback) releaseHeld(c);
  finishRecvChunk(p, op, h);
}

void UcxTransportImpl::onRecvChunkDone(RecvChunk* rc, ucs_status_t status) {
  OpPtr op = std::move(rc->op);
  ChunkHeader h = rc->header;
  Peer& p = peers_[rc->peer];
  delete rc;
  if (op->test()) return;
  if (status != UCS_OK) {
    failOp(op, p.lost ? p.lostStatus
                      : peerLostError(who(), " ", opName(*op), " from ", p.name(), ": chunk ",
                                      h.chunkIndex, " failed: ", ucs_status_string(status)));
    return;
  }
  finishRecvChunk(p, op, h);
}

void UcxTransportImpl::finishRecvChunk(Peer& p, const OpPtr& op, const ChunkHeader& h) {
  if (op->test()) return;
  uint8_t* dest = op->data + h.offset;
  if (flipChunk_ >= 0 && chunksReceived_ == flipChunk_ && h.chunkBytes > 0) {
    dest[h.chunkBytes / 2] ^= 0x20;  // test hook: the wire flipped a bit
    ISTHMUS_LOG(kWarn) << who() << " test hook flipped a byte of chunk " << h.chunkIndex << " from "
                       << p.name();
  }
  ++chunksReceived_;
  uint32_t crc = crc32c(dest, h.chunkBytes);
  if (crc != h.crc) {
    failOp(op, corruptError(who(), " ", opName(*op), " from ", p.name(), ": chunk ", h.chunkIndex,
                            "/", h.chunkCount, " (", h.chunkBytes, " bytes at offset ", h.offset,
                            ", message ", h.sequence, ") failed CRC32C: header 0x", std::hex, h.crc,
                            ", payload 0x", crc));
    return;
  }
  if (++op->chunksDone == op->chunkCount) {
    op->complete(okStatus());
    finalizeOp(op);
  }
}

void UcxTransportImpl::failOp(const OpPtr& op, Status status) {
  op->complete(std::move(status));
  finalizeOp(op);
}

void UcxTransportImpl::finalizeOp(const OpPtr& op) {
  if (op->peer == opt_.rank) {
    auto& table = op->isSend ? selfSends_ : selfRecvs_;
    auto it = table.find(op->tag);
    if (it != table.end() && it->second == op) table.erase(it);
    return;
  }
  Peer& p = peers_[op->peer];
  auto& table = op->isSend ? p.sends : p.recvs;
  auto it = table.find(op->tag);
  if (it != table.end() && it->second == op) table.erase(it);
  if (!op->isSend && !op->status().ok()) p.discard.insert(op->tag);
}

void UcxTransportImpl::releaseHeld(HeldChunk& c) {
  if (c.desc && (c.rndv || c.persistent)) ucp_am_data_release(worker_, c.desc);
  c.desc = nullptr;
  c.copy.clear();
}

void UcxTransportImpl::dropQueues(Peer& p) {
  p.sends.clear();
  p.recvs.clear();
  p.sendQueue.clear();
  for (auto& [tag, chunks] : p.held) {
    for (auto& c : chunks) releaseHeld(c);
  }
  p.held.clear();
}

void UcxTransportImpl::markPeerLost(Peer& p, Status why) {
  if (p.lost) return;
  p.lost = true;
  p.lostStatus = why;
  if (isDeparting(p.rank)) {
    ISTHMUS_LOG(kDebug) << why.message() << " (it announced its departure)";
  } else {
    ISTHMUS_LOG(kError) << why.message();
  }
  std::vector<OpPtr> ops;
  for (auto& [tag, op] : p.sends) ops.push_back(op);
  for (auto& [tag, op] : p.recvs) ops.push_back(op);
  for (auto& op : ops) {
    op->complete(Status(why.code(), strCat(why.message(), " (pending ", opName(*op), ", ",
                                           secondsSince(op->posted), " s after it was posted)")));
  }
  dropQueues(p);
  for (auto& lane : p.lanes) {
    if (lane.ep) closeEp(lane.ep, /*force=*/true);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!connected_ && connectFailure_.ok()) connectFailure_ = why;
    connectedCv_.notify_all();
  }
}

ucs_status_t UcxTransportImpl::onPingAm(const ucp_am_recv_param_t* param) {
  ucp_ep_h ep = (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) ? param->reply_ep : nullptr;
  Peer* p = ep ? peerOfEp(ep, nullptr) : nullptr;
  if (!p && ep && flushHandshakes(ep)) p = peerOfEp(ep, nullptr);
  if (p) p->lastHeard = Clock::now();
  return UCS_OK;
}

Status UcxTransportImpl::sendControl(ucp_ep_h ep, unsigned amId, const void* header,
                                     size_t headerLength, const std::string& payload, bool eager) {
  auto* msg = new ControlMessage;
  msg->impl = this;
  msg->payload = payload;
  if (header) msg->header.assign(static_cast<const char*>(header), headerLength);
  ucp_request_param_t prm{};
  prm.op_attr_mask =
      UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS;
  prm.flags = UCP_AM_SEND_FLAG_REPLY | (eager ? UCP_AM_SEND_FLAG_EAGER : 0);
  prm.cb.send = &Callbacks::controlDone;
  prm.user_data = msg;
  void* req = ucp_am_send_nbx(ep, amId, msg->header.empty() ? nullptr : msg->header.data(),
                              msg->header.size(), msg->payload.data(), msg->payload.size(), &prm);
  if (req == nullptr) {
    delete msg;
    return okStatus();
  }
  if (UCS_PTR_IS_ERR(req)) {
    delete msg;
    return peerLostError("ucp_am_send_nbx: ", ucs_status_string(UCS_PTR_STATUS(req)));
  }
  ++outstandingUcx_;
  return okStatus();
}

void UcxTransportImpl::checkTimers(Clock::time_point now) {
  // Deadlines of pending operations.
  std::vector<OpPtr> expired;
  auto scan = [&](const std::unordered_map<uint64_t, OpPtr>& table) {
    for (const auto& [tag, op] : table) {
      if (op->deadline.expired()) expired.push_back(op);
    }
  };
  for (auto& p : peers_) {
    scan(p.sends);
    scan(p.recvs);
  }
  scan(selfSends_);
  scan(selfRecvs_);
  for (auto& op : expired) {
    std::string peer = op->peer == opt_.rank ? std::string("itself") : peers_[op->peer].name();
    failOp(op, timeoutError(who(), " ", opName(*op), op->isSend ? " to " : " from ", peer,
                            " timed out after ", secondsSince(op->posted), " s (", op->chunksDone,
                            "/", op->chunkCount, " chunks done)"));
  }

  checkHandshakeStalls(now);

  // Keep-alive: ping idle peers, give up on silent ones.
  bool live = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    live = connected_;
  }
  if (!live) updateConnected();
  if (live) {
    auto keepalive = std::chrono::duration<double>(opt_.keepaliveSeconds);
    auto timeout = std::chrono::duration<double>(opt_.peerTimeoutSeconds);
    for (auto& p : peers_) {
      if (p.rank == opt_.rank || p.lost || p.lanes.empty() || !p.lanes[0].up) continue;
      if (now - p.lastHeard > timeout) {
        markPeerLost(p, peerLostError(who(), " peer ", p.name(), " lost: silent for ",
                                      std::chrono::duration<double>(now - p.lastHeard).count(),
                                      " s (keep-alive timeout ", opt_.peerTimeoutSeconds, " s)"));
        continue;
      }
      if (now - p.lastSent > keepalive) {
        ChunkHeader h;
        h.kind = static_cast<uint16_t>(ucxwire::ChunkKind::kPing);
        Status st = sendControl(p.lanes[0].ep, ucxwire::kAmPing, &h, sizeof(h), std::string(),
                                /*eager=*/true);
        if (!st.ok()) {
          ISTHMUS_LOG(kDebug) << who() << " ping to " << p.name() << ": " << st.message();
        }
        p.lastSent = now;
      }
    }
  }

  // Forget finished operations in the abort registry.
  std::lock_guard<std::mutex> lock(mu_);
  registry_.erase(std::remove_if(registry_.begin(), registry_.end(),
                                 [](const std::weak_ptr<OpState>& w) {
                                   auto op = w.lock();
                                   return !op || op->test();
                                 }),
                  registry_.end());
}

// ---- trampolines ----------------------------------------------------------------------------

Status Callbacks::install(UcxTransportImpl* impl) {
  struct Handler {
    unsigned id;
    ucp_am_recv_callback_t cb;
    uint32_t flags;
  };
  const Handler handlers[] = {
      {ucxwire::kAmHandshake, &Callbacks::amHandshake, UCP_AM_FLAG_WHOLE_MSG},
      {ucxwire::kAmData, &Callbacks::amData, UCP_AM_FLAG_WHOLE_MSG | UCP_AM_FLAG_PERSISTENT_DATA},
      {ucxwire::kAmPing, &Callbacks::amPing, UCP_AM_FLAG_WHOLE_MSG},
  };
  for (const auto& h : handlers) {
    ucp_am_handler_param_t prm{};
    prm.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                     UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG;
    prm.id = h.id;
    prm.flags = h.flags;
    prm.cb = h.cb;
    prm.arg = impl;
    ucs_status_t st = ucp_worker_set_am_recv_handler(impl->worker_, &prm);
    if (st != UCS_OK) {
      return internalError("ucp_worker_set_am_recv_handler(", h.id, "): ", ucs_status_string(st));
    }
  }
  return okStatus();
}

void Callbacks::connRequest(ucp_conn_request_h request, void* arg) {
  static_cast<UcxTransportImpl*>(arg)->onConnRequest(request);
}

void Callbacks::epError(void* arg, ucp_ep_h ep, ucs_status_t status) {
  static_cast<UcxTransportImpl*>(arg)->onEpError(ep, status);
}

ucs_status_t Callbacks::amHandshake(void* arg, const void* header, size_t headerLength, void* data,
                                    size_t length, const ucp_am_recv_param_t* param) {
  return static_cast<UcxTransportImpl*>(arg)->onHandshakeAm(data, length, param);
}

ucs_status_t Callbacks::amData(void* arg, const void* header, size_t headerLength, void* data,
                               size_t length, const ucp_am_recv_param_t* param) {
  return static_cast<UcxTransportImpl*>(arg)->onDataAm(header, headerLength, data, length, param);
}

ucs_status_t Callbacks::amPing(void* arg, const void* header, size_t headerLength, void* data,
                               size_t length, const ucp_am_recv_param_t* param) {
  return static_cast<UcxTransportImpl*>(arg)->onPingAm(param);
}

void Callbacks::sendChunkDone(void* request, ucs_status_t status, void* userData) {
  auto* c = static_cast<SendChunk*>(userData);
  UcxTransportImpl* impl = c->impl;
  --impl->outstandingUcx_;
  impl->onSendChunkDone(c, status);
  ucp_request_free(request);
}

void Callbacks::recvChunkDone(void* request, ucs_status_t status, size_t length, void* userData) {
  auto* c = static_cast<RecvChunk*>(userData);
  UcxTransportImpl* impl = c->impl;
  --impl->outstandingUcx_;
  impl->onRecvChunkDone(c, status);
  ucp_request_free(request);
}

void Callbacks::controlDone(void* request, ucs_status_t status, void* userData) {
  auto* m = static_cast<ControlMessage*>(userData);
  --m->impl->outstandingUcx_;
  delete m;
  ucp_request_free(request);
}

}  // namespace ucximpl
}  // namespace isthmus
