// PeerNotices: the control channel every communicator keeps to every peer, for two messages:
// an abort notice ("I failed, because ...") so that ranks not talking to the failed one learn it
// too, and a goodbye ("I am leaving on purpose") so that a peer's connections closing at the end
// of a job is not taken for a failure.
//
// One 256-byte receive per peer stays posted on the transport under a reserved tag; a watcher
// thread polls them every 20 ms and hands what arrives to the owner's callbacks. Shutdown is
// symmetric: say goodbye to every peer (also to those that left first: they wait for ours), wait
// briefly for every peer's goodbye, then linger so that the last goodbye is seen before our
// connections close.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/transport/transport.h"

namespace isthmus::coll {

class PeerNotices {
 public:
  struct Callbacks {
    std::function<void(int peer)> onGoodbye;           // peer numbered in the transport
    std::function<void(const Status& why)> onFailure;  // a peer's abort notice, or a lost peer
    std::function<bool()> failed;                      // has the owner failed already?
  };

  // Posts the receives and starts the watcher. `transport` outlives this object's stop().
  PeerNotices(Transport* transport, uint64_t tag, std::string who, Callbacks callbacks);
  ~PeerNotices() { stop(); }

  // An abort notice carrying `why` to every peer that has not left (waits at most 1 s).
  void sendFailure(const Status& why) { send(kFailure, why); }
  // Goodbye to every peer, then waits up to `graceSeconds` for every peer's goodbye (returning
  // early if the owner fails meanwhile) and lingers 100 ms.
  void leave(double graceSeconds);
  // Stops the watcher and drops the posted receives. Idempotent.
  void stop();

 private:
  enum Kind : char { kGoodbye = 0, kFailure = 1 };
  static constexpr size_t kBytes = 256;

  void send(Kind kind, const Status& s);
  void watch();

  Transport* const transport_;
  const uint64_t tag_;
  const std::string who_;
  const Callbacks callbacks_;
  std::vector<std::vector<char>> bufs_;
  std::vector<std::shared_ptr<Request>> receives_;  // touched by the watcher only, until stop()
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<bool> departed_;
  bool stop_ = false;
  std::thread watcher_;
};

}  // namespace isthmus::coll
