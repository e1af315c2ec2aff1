// Transport: asynchronous point-to-point messages among the ranks of one group.
//
// This is the seam the collectives are written against. A Transport connects `size()` ranks
// (numbered 0..size()-1 inside the group, not the global rank) and moves byte messages between
// pairs of them. Implementations: runtime/transport/ucx/ (between centers, and the CPU group
// inside a center). The NCCL group (runtime/transport/nccl/) is a different seam: collectives on
// a CUDA stream, not point-to-point.
//
// Contract:
// - isend/irecv return at once with a Request; the transfer proceeds on the transport's own
//   progress thread. Post as many as you like before waiting on any: they overlap.
// - Matching: a message is identified by (source rank, destination rank, 64-bit tag). The
//   receiver knows the exact size: a send and its receive must agree on `bytes`, or the receive
//   fails with kCorrupt naming the peer and both sizes. A (peer, tag) pair names ONE message at a
//   time in each direction: do not reuse a tag towards a peer until the receiver has completed
//   the receive of the previous message with that tag (collectives use sequence number + step,
//   which never repeat). A send may arrive before its receive is posted: it waits at the receiver.
// - Buffers belong to the caller, who keeps them alive and unmodified (send) / untouched (recv)
//   until the Request completes. If a Request fails (timeout, peer lost, abort), the transport may
//   still touch its buffer until the Transport is destroyed; destroying the Transport waits for
//   nothing remote and guarantees no later access.
// - Deadline given at post time: when it passes, the operation fails with kTimeout naming the
//   peer, tag, bytes and elapsed time. Request::wait(d) only bounds that wait: kTimeout from wait
//   leaves the operation running.
// - Errors: kPeerLost (the peer died or went silent; every pending operation with that peer fails,
//   within the operation's deadline), kCorrupt (CRC or header mismatch), kAborted (abort()),
//   kTimeout. A transport never hangs: every wait has a deadline and abort() wakes all waiters.
// - Thread safety: every method may be called from any thread concurrently. Requests are
//   shared_ptr so the caller and the progress thread can both hold them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/core/deadline.h"
#include "runtime/core/status.h"

namespace isthmus {

// One posted send or receive.
class Request {
 public:
  virtual ~Request() = default;
  // True once the operation has finished, successfully or not. Never blocks.
  virtual bool test() = 0;
  // Blocks until the operation finishes or `deadline` passes. Returns the operation's status
  // when it finished; kTimeout (operation still running) when the wait's deadline passed first.
  virtual Status wait(Deadline deadline) = 0;
  // The final status once test() is true; before that, OK. Never blocks.
  virtual Status status() = 0;
};

// Tag helpers: collectives put their sequence number in the high 40 bits and the step / chunk
// in the low 24, so tags never repeat within a communicator's lifetime.
inline uint64_t makeTag(uint64_t sequence, uint32_t step) {
  return (sequence << 24) | (static_cast<uint64_t>(step) & 0xFFFFFFu);
}

class Transport {
 public:
  virtual ~Transport() = default;

  // This process's rank inside the group and the group size.
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Sends `bytes` bytes from `data` to `peer` under `tag`. `peer` == rank() is allowed (loopback).
  virtual std::shared_ptr<Request> isend(int peer, uint64_t tag, const void* data, size_t bytes,
                                         Deadline deadline) = 0;
  // Receives exactly `bytes` bytes from `peer` under `tag` into `data`.
  virtual std::shared_ptr<Request> irecv(int peer, uint64_t tag, void* data, size_t bytes,
                                         Deadline deadline) = 0;

  // Fails every pending and future operation with `reason` (code kept, usually kAborted or
  // kPeerLost) and wakes every waiter. Idempotent; the first reason wins.
  virtual void abort(Status reason) = 0;
  // Non-OK once the transport has been aborted (the first reason).
  virtual Status health() const = 0;

  // One line for logs and Communicator::describe(): kind, rank/size, lanes, window, addresses.
  virtual std::string describe() const = 0;

  // The caller learned (from the peer itself) that `peer` is leaving on purpose: its connections
  // closing from now on are expected, so they are not logged as errors. Operations still pending
  // with that peer fail with kPeerLost as usual. Any thread; the default does nothing.
  virtual void expectDeparture(int peer) {}

  // Paces the bytes this rank sends to `peer` at `bytesPerSecond` from now on (0 = as fast as the
  // network takes them). For a sender that knows its share of a long link: keeping under it
  // keeps the bottleneck's queue from overflowing, and a loss on a long link costs round trips.
  // Any thread; the default ignores it.
  virtual void setSendRate(int peer, double bytesPerSecond) {}
};

}  // namespace isthmus
