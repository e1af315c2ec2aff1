// WorkImpl: the Work a Communicator hands out. Completed exactly once by the communicator's
// executor; any thread may wait on it. abort() fails the whole communicator (ranks can no longer
// agree on what was reduced), through the callback the communicator gives.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>

#include "collectives/communicator.h"

namespace isthmus::coll {

class WorkImpl : public Work {
 public:
  WorkImpl(uint64_t sequence, std::function<void(Status)> abortCommunicator)
      : sequence_(sequence), abortCommunicator_(std::move(abortCommunicator)) {}

  bool isCompleted() override;
  Status wait(Deadline deadline) override;
  Status status() override;
  void abort(Status reason) override;
  TrafficStats traffic() override;
  uint64_t sequenceNumber() const override { return sequence_; }

  // Called once by the communicator.
  void complete(Status status, TrafficStats traffic);

 private:
  const uint64_t sequence_;
  std::function<void(Status)> abortCommunicator_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool completed_ = false;
  Status status_;
  TrafficStats traffic_;
};

}  // namespace isthmus::coll
