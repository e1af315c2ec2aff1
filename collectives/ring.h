// Ring reduce-scatter and all-gather among the ranks of one group Transport (a center's CPU
// group), over element ranges of a host tensor. One call moves one pipeline chunk.
//
// Reduce-scatter: group rank r ends with the fp32 sum over the group of segment r (summed in ring
// order, which is the same for every element of a segment and every run: deterministic). The
// partial sums travel as fp32 whatever the tensor dtype, so fp16/bf16 are rounded only once, at
// the end of the whole allreduce. All-gather: moves segments in the tensor's own dtype, so every
// rank ends with identical bytes. Zero-length segments send nothing.
//
// Blocking; called from one thread of a collective. On error the scratch buffers may still be
// referenced by the transport: the caller keeps `RingScratch` alive until the transport is gone
// (the communicator parks it).
#pragma once

#include <memory>
#include <vector>

#include "collectives/hier_layout.h"
#include "runtime/core/buffer.h"
#include "runtime/core/deadline.h"
#include "runtime/core/status.h"
#include "runtime/transport/transport.h"

namespace isthmus::coll {

struct RingCall {
  Transport* transport = nullptr;  // the group; rank() is this rank's position on the ring
  uint64_t sequence = 0;
  uint32_t chunk = 0;
  Deadline deadline = Deadline::infinite();
  uint64_t* bytesSent = nullptr;  // optional traffic counter (not thread-safe: one per caller)
};

struct RingScratch {
  std::vector<float> buf[2];
  std::vector<float> own;
};

// data: the whole tensor (fp32/fp16/bf16, host). segments[g]: the element range group rank g
// owns. out: segments[rank].size() fp32 elements; may alias data's segment when data is fp32.
Status ringReduceScatter(const RingCall& call, ConstBufferView data,
                         const std::vector<Range>& segments, float* out, RingScratch* scratch);

// data: the whole tensor; segment g is read from group rank g, in place.
Status ringAllGather(const RingCall& call, BufferView data, const std::vector<Range>& segments);

// Waits for every request (all of them, even after a failure, up to `deadline`); returns the
// first failure.
Status waitAll(std::vector<std::shared_ptr<Request>>& requests, Deadline deadline);

}  // namespace isthmus::coll
