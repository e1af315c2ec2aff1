// Internals of UcxTransport (see ucx_transport.h for the contract). Not a public header.
//
// Threads: the progress thread owns the UCX worker and every field marked [P]; callers touch only
// the command queue and the op registry, under mu_. An OpState is completed at most once, by
// whichever thread gets there first (progress thread, abort(), a waiter's own timeout does NOT
// complete it), and completion wakes its waiters.
#pragma once

#include <ucp/api/ucp.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "runtime/proto/handshake.pb.h"
#include "runtime/transport/ucx/ucx_transport.h"
#include "runtime/transport/ucx/wire.h"

namespace isthmus {
namespace ucximpl {

using Clock = Deadline::Clock;

class OpState : public Request {
 public:
  bool test() override { return done_.load(std::memory_order_acquire); }
  Status wait(Deadline deadline) override;
  Status status() override;
  // First call wins; returns whether this call completed the op.
  bool complete(Status status);

  // Set at post time, immutable afterwards.
  bool isSend = false;
  int peer = 0;
  uint64_t tag = 0;
  uint8_t* data = nullptr;  // const for sends
  size_t bytes = 0;
  Deadline deadline = Deadline::infinite();
  Clock::time_point posted;

  // [P] progress.
  uint64_t sequence = 0;
  uint32_t chunkCount = 0;
  uint32_t nextChunk = 0;   // send: next chunk to post
  uint32_t chunksDone = 0;  // chunks fully sent / received and verified
  bool bound = false;       // recv: entered in the peer's recv table

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> done_{false};
  Status status_;
};
using OpPtr = std::shared_ptr<OpState>;

struct Lane {
  ucp_ep_h ep = nullptr;
  bool up = false;
  size_t inflightBytes = 0;
};

// A chunk that arrived before its receive was posted.
struct HeldChunk {
  ucxwire::ChunkHeader header;
  void* desc = nullptr;  // UCX data (rndv descriptor, persistent eager data), or nullptr
  bool rndv = false;
  bool persistent = false;
  std::vector<uint8_t> copy;  // eager data UCX would not let us keep
};

class UcxTransportImpl;

// User data of a chunk send; freed by its completion.
struct SendChunk {
  UcxTransportImpl* impl = nullptr;
  ucxwire::ChunkHeader header;  // must live until UCX completes the send
  std::shared_ptr<OpState> op;
  int peer = 0;
  int lane = 0;
  size_t bytes = 0;
};

// User data of a rendezvous chunk receive.
struct RecvChunk {
  UcxTransportImpl* impl = nullptr;
  ucxwire::ChunkHeader header;
  std::shared_ptr<OpState> op;
  int peer = 0;
};

// A handshake or ping in flight.
struct ControlMessage {
  UcxTransportImpl* impl = nullptr;
  std::string header;
  std::string payload;
};

struct Peer {
  int rank = 0;
  int center = -1;
  std::string address;
  int lanesWanted = 0;  // dialer side: ours; listener side: from the hello (0 = unknown yet)
  size_t window = 0;
  bool eager = false;  // chunks use UCX's eager protocol
  size_t chunk = 0;    // chunk size towards this peer
  std::vector<Lane> lanes;
  bool lost = false;
  Status lostStatus;
  uint64_t nextSendSequence = 0;
  std::deque<OpPtr> sendQueue;                                // sends with chunks still to post
  std::unordered_map<uint64_t, OpPtr> sends;                  // in-flight sends by tag
  std::unordered_map<uint64_t, OpPtr> recvs;                  // posted receives by tag
  std::unordered_map<uint64_t, std::vector<HeldChunk>> held;  // unexpected chunks by tag
  std::unordered_set<uint64_t> discard;  // tags of failed receives: drop late chunks
  Clock::time_point lastHeard{};
  Clock::time_point lastSent{};
  // Pacing (setSendRate): a token bucket in bytes, refilled at `rate` up to `burst`.
  double rate = 0;
  double tokens = 0;
  double burst = 0;
  Clock::time_point tokensAt{};

  std::string name() const;  // "rank 1 (center 0, 127.0.0.1:4242)"
  int lanesUp() const;
};

// Where an endpoint belongs; keyed by ucp_ep_h.
struct EpInfo {
  enum Role { kDialing, kAccepting, kData } role = kDialing;
  int peer = -1;
  int lane = 0;
  std::string remote;  // "ip:port" of the other side
  Clock::time_point started;
  bool challenged = false;     // dialer: got the challenge and sent the hello
  proto::Challenge challenge;  // what the listener sent (both roles keep it)
  proto::Hello hello;          // what the dialer sent (dialer keeps it)
  bool closing = false;
};

class UcxTransportImpl : public UcxTransport {
 public:
  explicit UcxTransportImpl(UcxTransportOptions options);
  ~UcxTransportImpl() override;

  Status start(Deadline deadline);  // worker, listener, progress thread, connections

  int rank() const override { return opt_.rank; }
  int size() const override { return opt_.size; }
  std::shared_ptr<Request> isend(int peer, uint64_t tag, const void* data, size_t bytes,
                                 Deadline deadline) override;
  std::shared_ptr<Request> irecv(int peer, uint64_t tag, void* data, size_t bytes,
                                 Deadline deadline) override;
  void abort(Status reason) override;
  Status health() const override;
  std::string describe() const override;
  void expectDeparture(int peer) override;
  void setSendRate(int peer, double bytesPerSecond) override;
  bool isDeparting(int peer) const;
  std::vector<std::string> refusals() const override;
  std::string listenAddress() const override { return listenAddress_; }

  // UCX callbacks (static trampolines call these on the progress thread).
  void onConnRequest(ucp_conn_request_h request);
  void onEpError(ucp_ep_h ep, ucs_status_t status);
  ucs_status_t onHandshakeAm(const void* data, size_t length, const ucp_am_recv_param_t* param);
  ucs_status_t onDataAm(const void* header, size_t headerLength, void* data, size_t length,
                        const ucp_am_recv_param_t* param);
  ucs_status_t onPingAm(const ucp_am_recv_param_t* param);
  void onSendChunkDone(SendChunk* chunk, ucs_status_t status);
  void onRecvChunkDone(RecvChunk* chunk, ucs_status_t status);

 private:
  friend struct Callbacks;
  struct Command {
    enum Kind { kPost, kAbort, kDial } kind;
    OpPtr op;
    int peer = -1;
    std::string address;
  };
  struct Deferred {
    ucp_ep_h ep;
    std::string bytes;
    bool tooBig;
  };

  std::string who() const;  // "[rank 0/2 center 0]"
  std::string describeLocked() const;
  void wake();
  void submit(const OpPtr& op);
  void teardown();
  void progressLoop();
  void drainCommands();
  bool deferredEmpty() const;
  void handleDeferred();
  bool flushHandshakes(ucp_ep_h ep);  // handles ep's deferred handshakes now
  void accept(ucp_conn_request_h request);
  void dial(int peer, const std::string& address);
  void failConnect(Status why);
  void handleHandshake(const Deferred& m);
  void handleEpError(ucp_ep_h ep, ucs_status_t status);
  void checkHandshakeStalls(Clock::time_point now);
  void checkTimers(Clock::time_point now);
  void post(const OpPtr& op);
  void postSelf(const OpPtr& op);
  void pumpSends(Peer& peer);
  bool takeTokens(Peer& peer, size_t bytes);  // pacing: may `bytes` go now?
  void applySendRates(const std::vector<double>& rates);
  void deliver(Peer& peer, const OpPtr& op, HeldChunk& chunk, bool inCallback);
  void finishRecvChunk(Peer& peer, const OpPtr& op, const ucxwire::ChunkHeader& h);
  void failOp(const OpPtr& op, Status status);
  void finalizeOp(const OpPtr& op);  // drop from peer tables after completion
  void markPeerLost(Peer& peer, Status why);
  // Forgets a peer's pending operations (completed by the caller) and held chunks.
  void dropQueues(Peer& peer);
  void abortAll(const Status& why);
  void releaseHeld(HeldChunk& chunk);
  Status sendControl(ucp_ep_h ep, unsigned amId, const void* header, size_t headerLength,
                     const std::string& payload, bool eager);
  void sendHandshake(ucp_ep_h ep, const proto::HandshakeMessage& msg);
  void refuse(ucp_ep_h ep, EpInfo& info, const std::string& reason);
  void closeEp(ucp_ep_h ep, bool force);
  void laneUp(int peer, int lane, ucp_ep_h ep);
  void updateConnected();  // recomputes connected_ and missing_
  void recordRefusal(const std::string& line);
  Peer* peerOfEp(ucp_ep_h ep, int* lane);

  UcxTransportOptions opt_;
  std::string secret_;
  std::string listenAddress_;
  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  ucp_listener_h listener_ = nullptr;
  int efd_ = -1;
  int wakeFd_ = -1;
  int epfd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  // Shared with callers, under mu_.
  mutable std::mutex mu_;
  std::condition_variable connectedCv_;
  std::vector<Command> commands_;
  std::vector<std::weak_ptr<OpState>> registry_;  // every op not yet finished
  Status health_;
  std::vector<std::string> refusals_;
  std::vector<bool> departing_;    // peers that said they are leaving (expectDeparture)
  std::vector<double> sendRates_;  // setSendRate, picked up by the progress thread
  bool sendRatesChanged_ = false;
  Status connectFailure_;  // a dial refused or failed: creation fails with it
  bool connected_ = false;
  std::string missing_ = "no connection yet";
  std::string linkSummary_;
  std::string congestionSummary_;  // " tcp_cc=bbr(8 sockets)" when set toward other centers

  // [P]
  std::vector<Peer> peers_;
  std::unordered_map<ucp_ep_h, EpInfo> eps_;
  std::unordered_map<ucp_ep_h, std::pair<int, int>> epLane_;  // authenticated: (peer, lane)
  std::vector<ucp_conn_request_h> connRequests_;
  std::vector<Deferred> handshakes_;
  std::vector<std::pair<ucp_ep_h, ucs_status_t>> epErrors_;
  std::unordered_map<uint64_t, OpPtr> selfSends_, selfRecvs_;
  std::vector<void*> closing_;
  int64_t chunksReceived_ = 0;
  int64_t flipChunk_ = -1;
  size_t outstandingUcx_ = 0;  // UCX requests whose callbacks have not run yet
  Clock::time_point lastTimerCheck_{};
};

}  // namespace ucximpl
}  // namespace isthmus
