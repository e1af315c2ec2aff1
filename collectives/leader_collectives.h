// Broadcast and all-gather through the centers' leaders (local rank 0): inside a center over the
// group transport, between centers leader to leader over the world transport. Each byte crosses
// the WAN once per receiving center. Blocking; called from the communicator's executor.
#pragma once

#include "runtime/core/buffer.h"
#include "runtime/core/deadline.h"
#include "runtime/core/status.h"
#include "runtime/topology.h"
#include "runtime/transport/transport.h"

namespace isthmus::coll {

struct LeaderCall {
  const Topology* topology = nullptr;
  int rank = 0;
  Transport* intra = nullptr;
  Transport* world = nullptr;
  uint64_t sequence = 0;
  Deadline deadline = Deadline::infinite();
  uint64_t* interBytesSent = nullptr;
  uint64_t* intraBytesSent = nullptr;
};

// Every rank ends with root's bytes in `buffer` (host memory).
Status leaderBroadcast(const LeaderCall& call, BufferView buffer, int root);

// output (worldSize * input.count elements, host) gets slice r from rank r.
Status leaderAllGather(const LeaderCall& call, ConstBufferView input, BufferView output);

}  // namespace isthmus::coll
