// Deadline: a point on the monotonic clock by which a blocking operation must finish.
// Every blocking call in Isthmus takes one; Deadline::infinite() exists for tests and tools only.
#pragma once

#include <chrono>
#include <cstdint>

namespace isthmus {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  static Deadline infinite() { return Deadline(Clock::time_point::max()); }
  static Deadline after(std::chrono::nanoseconds d) { return Deadline(Clock::now() + d); }
  static Deadline afterSeconds(double s) {
    return after(std::chrono::nanoseconds(static_cast<int64_t>(s * 1e9)));
  }
  static Deadline at(Clock::time_point t) { return Deadline(t); }

  bool isInfinite() const { return when_ == Clock::time_point::max(); }
  bool expired() const { return !isInfinite() && Clock::now() >= when_; }
  // Time left, clamped at zero; a very large value for infinite deadlines.
  std::chrono::nanoseconds remaining() const {
    if (isInfinite()) return std::chrono::hours(24 * 365);
    auto left = when_ - Clock::now();
    return left.count() > 0 ? std::chrono::duration_cast<std::chrono::nanoseconds>(left)
                            : std::chrono::nanoseconds(0);
  }
  // Remaining time in milliseconds for poll()-style APIs: -1 when infinite, >= 0 otherwise.
  int remainingMsForPoll() const {
    if (isInfinite()) return -1;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(remaining()).count();
    return ms > 1000000000 ? 1000000000 : static_cast<int>(ms);
  }
  Clock::time_point when() const { return when_; }
  // The earlier of two deadlines.
  static Deadline earliest(Deadline a, Deadline b) { return a.when_ < b.when_ ? a : b; }

 private:
  explicit Deadline(Clock::time_point when) : when_(when) {}
  Clock::time_point when_;
};

// Seconds since `start` on the monotonic clock, for messages ("lost after 30.0 s").
inline double secondsSince(Deadline::Clock::time_point start) {
  return std::chrono::duration<double>(Deadline::Clock::now() - start).count();
}

}  // namespace isthmus
