// The hierarchical, compressed, pipelined allreduce (DESIGN.md "The hierarchical allreduce").
//
// A schedule of three sub-tasks per chunk, each stage on its own thread so the stages of
// different chunks overlap (like UCC's cl/hier schedules, with a pipeline across chunks):
//   A  intra reduce-scatter of chunk i (ring, fp32 partials) -> this rank's segment in fp32;
//      then, per slot it owns: encode each of the C pieces once (error feedback 1), post the
//      all-to-all (piece p to center p's owner of the slot).
//   B  as owner of its piece: wait for the C contributions, decode-accumulate them in fp32 in
//      center order (deterministic), encode the sum once more (error feedback 2), post the
//      all-gather of those bytes to the slot's group.
//   C  decode the C reduced pieces (its own included, from the same bytes every rank receives),
//      divide for avg, round to the tensor dtype, intra all-gather of chunk i, release the chunk.
// At most `windowChunks` chunks are in flight, which bounds the scratch memory and keeps the WAN
// busy across its round trip. With one center the inter tier vanishes; with one rank per center
// the intra tier does. Every rank ends with bitwise identical bytes.
//
// run() blocks the calling thread (the communicator's executor) and starts the stage threads.
// On the first failure `onError` is called once (the communicator aborts its transports so every
// stage wakes), and run() returns that failure. Chunk scratch that a failed transfer may still
// touch is handed to `park`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "collectives/communicator.h"
#include "collectives/hier_layout.h"
#include "kernels/codec.h"
#include "runtime/core/buffer.h"
#include "runtime/core/deadline.h"
#include "runtime/core/status.h"
#include "runtime/topology.h"
#include "runtime/transport/transport.h"

namespace isthmus::coll {

struct HierAllreduceArgs {
  const Topology* topology = nullptr;
  Transport* intra = nullptr;  // the center's group; null when the center has one rank
  bool intraCma = false;       // intra tier over cross-memory attach (cma_intra.h), else ring
  Transport* world = nullptr;  // all ranks, used between centers; null with one center
  const HierLayout* layout = nullptr;
  const kernels::Codec* codec = nullptr;  // inter-center codec (needed when numCenters > 1)
  float* residual1 = nullptr;             // error feedback (layout sizes), or null: none
  float* residual2 = nullptr;
  ReduceOp op = ReduceOp::kSum;
  int worldSize = 1;
  size_t windowChunks = 8;
  uint64_t sequence = 0;
  Deadline deadline = Deadline::infinite();
  std::function<void(const Status&)> onError;
  std::function<void(std::shared_ptr<void>)> park;
};

// buffer: host memory, fp32/fp16/bf16, layout->count() elements, reduced in place.
Status runHierAllreduce(const HierAllreduceArgs& args, BufferView buffer, TrafficStats* traffic);

}  // namespace isthmus::coll
