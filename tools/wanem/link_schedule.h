// LinkSchedule: the timing of one direction of an emulated link, as pure arithmetic.
//
// Each packet (or GSO super-packet, counted by its wire bytes) is serialised behind the previous
// one at the link rate: start = max(now, lastFinish), finish = start + bytes / rate. If it would
// wait longer than the queue limit before its first bit goes out, the emulated queue is full and
// it is tail-dropped. Otherwise it arrives at due = finish + delay + jitter, where jitter is
// uniform in [-jitter, +jitter], the result is clamped to >= finish, and due never goes below
// the previous packet's due (order is kept, as on a real link). Loss is drawn separately, per
// wire packet, before the queue (a lost packet uses no capacity).
//
// One thread owns a LinkSchedule (the relay thread that reads the source center). No clock is
// read here: callers pass now, so tests can drive it.
#pragma once

#include <algorithm>
#include <cstdint>

namespace isthmus::wanem {

// splitmix64: small, fast, good enough for loss and jitter draws.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

 private:
  uint64_t state_;
};

class LinkSchedule {
 public:
  struct Decision {
    bool dropQueue = false;  // the emulated queue is full: tail drop
    int64_t dueNs = 0;       // when to write the packet into the destination (if not dropped)
    double waitNs = 0;       // time it waits behind earlier packets before transmission
  };

  LinkSchedule(double rateBitsPerSec, double oneWayDelayMs, double jitterMs, double queueMs,
               double lossRate, uint64_t seed)
      : nsPerByte_(8e9 / rateBitsPerSec),
        delayNs_(oneWayDelayMs * 1e6),
        jitterNs_(jitterMs * 1e6),
        queueNs_(queueMs * 1e6),
        lossRate_(lossRate),
        rng_(seed) {}

  Decision admit(int64_t nowNs, uint64_t wireBytes) {
    Decision d;
    double now = static_cast<double>(nowNs);
    double start = std::max(now, lastFinish_);
    d.waitNs = start - now;
    if (d.waitNs > queueNs_) {
      d.dropQueue = true;
      return d;
    }
    double finish = start + static_cast<double>(wireBytes) * nsPerByte_;
    lastFinish_ = finish;
    double due = finish + delayNs_;
    if (jitterNs_ > 0) due = std::max(finish, due + (2 * rng_.uniform() - 1) * jitterNs_);
    due = std::max(due, lastDue_);
    lastDue_ = due;
    d.dueNs = static_cast<int64_t>(due);
    return d;
  }

  // One independent loss draw (true: drop this wire packet).
  bool lose() { return lossRate_ > 0 && (lossRate_ >= 1 || rng_.uniform() < lossRate_); }

  // Bytes a relay buffer must hold for this direction: everything admitted but not yet due,
  // i.e. rate x (queue + delay + jitter), in wire bytes.
  double bytesInFlightBound() const { return (queueNs_ + delayNs_ + jitterNs_) / nsPerByte_; }

 private:
  double nsPerByte_;
  double delayNs_;
  double jitterNs_;
  double queueNs_;
  double lossRate_;
  double lastFinish_ = 0;
  double lastDue_ = 0;
  Rng rng_;
};

}  // namespace isthmus::wanem
