#include "collectives/work.h"

#include <chrono>

namespace isthmus::coll {

bool WorkImpl::isCompleted() {
  std::lock_guard<std::mutex> l(mu_);
  return completed_;
}

Status WorkImpl::wait(Deadline deadline) {
  std::unique_lock<std::mutex> l(mu_);
  while (!completed_) {
    if (deadline.expired()) {
      return timeoutError("wait for collective seq=", sequence_, " timed out (still running)");
    }
    // Bounded slices: Deadline::infinite() must not overflow wait_until.
    auto slice = std::min<std::chrono::nanoseconds>(deadline.remaining(), std::chrono::seconds(1));
    cv_.wait_for(l, slice);
  }
  return status_;
}

Status WorkImpl::status() {
  std::lock_guard<std::mutex> l(mu_);
  return completed_ ? status_ : okStatus();
}

void WorkImpl::abort(Status reason) {
  if (reason.ok()) reason = abortedError("collective seq=", sequence_, " aborted by the caller");
  if (abortCommunicator_) abortCommunicator_(reason);
}

TrafficStats WorkImpl::traffic() {
  std::lock_guard<std::mutex> l(mu_);
  return traffic_;
}

void WorkImpl::complete(Status status, TrafficStats traffic) {
  std::lock_guard<std::mutex> l(mu_);
  if (completed_) return;
  completed_ = true;
  status_ = std::move(status);
  traffic_ = traffic;
  cv_.notify_all();
}

}  // namespace isthmus::coll
