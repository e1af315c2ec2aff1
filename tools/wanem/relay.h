// Relay: the threads that carry packets between the centers' TUN devices.
//
// Per center c, one reader thread reads c's wan0, classifies each packet by destination address,
// draws loss per wire segment, runs the direction's LinkSchedule (rate, queue, delay, jitter) and
// stores the packet with its due time in the direction's PacketRing. Per direction (s, d), one
// writer thread sleeps until the ring's head is due and writes it into d's wan0. A monitor
// thread logs a warning every report interval in which the relay fell behind (late packets,
// relay-buffer overruns, TUN drops). Each ring is sized 2 x rate x (queue + delay + jitter) +
// 8 MiB, so it holds everything the emulated link may have in flight.
//
// Threads: start/stop/stats from any thread; stop() joins, so call it from a thread that is not
// one of the relay's.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "tools/wanem/wan_emulation.h"

namespace isthmus::wanem {

struct RelayOptions {
  int numCenters = 0;
  std::vector<int> tunFds;  // per center; borrowed, the caller closes them after stop()
  WanSpec spec;
  uint32_t baseAddr = 0;  // host byte order; center c has baseAddr + c + 1
  // Returns every center's TUN tx_dropped counter (called from the monitor thread).
  std::function<std::vector<uint64_t>()> tunDrops;
  double reportIntervalSec = 1.0;
  uint64_t seed = 1;
};

class Relay {
 public:
  static Result<std::unique_ptr<Relay>> start(RelayOptions options);
  ~Relay();
  void stop();
  WanStats stats() const;

  class State;

 private:
  explicit Relay(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace isthmus::wanem
