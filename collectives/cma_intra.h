// The intra-center tier over cross-memory attach (process_vm_readv): when every rank of a center
// runs on one host, a rank reads its peers' tensor segments straight out of their address spaces
// (one kernel copy, no transport buffers, no sockets), the way UCX's cma transport and NCCL's
// intra-node paths do. The group Transport only carries tiny control messages: buffer addresses
// at the start of a collective, a "segment final" notice per chunk, and a closing handshake.
//
// Safety argument (who may touch whose buffer when):
// - reduce-scatter: rank l reads segment l of every peer's input. A peer writes only its own
//   segment (in-place sum) until it receives l's "final" notice for that chunk, which l sends
//   after its reads; so the bytes l reads are the peer's untouched input.
// - all-gather: rank l reads segment m of peer m's buffer after m's "final" notice for the chunk.
// - a rank completes the collective (and gives its buffer back to the caller) only after every
//   local peer said it is done reading (closing handshake).
// Availability is probed when the communicator starts (same host, ptrace permission; every rank
// of the center must succeed, else all use the ring). ISTHMUS_INTRA=ring|cma|auto overrides.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "collectives/hier_layout.h"
#include "runtime/core/buffer.h"
#include "runtime/core/deadline.h"
#include "runtime/core/status.h"
#include "runtime/transport/transport.h"

namespace isthmus::coll {

// Probes the center's group (collective over `intra`): true when every rank can read every other
// rank's memory. Logs why not otherwise. Errors only for transport failures.
Result<bool> probeCma(Transport* intra, Deadline deadline);

class CmaIntra {
 public:
  // firstRank: the global rank of local rank 0 (for messages that name ranks).
  CmaIntra(Transport* intra, int firstRank, uint64_t sequence, Deadline deadline)
      : t_(intra), firstRank_(firstRank), seq_(sequence), deadline_(deadline) {}

  // Swaps (pid, buffer address) with every local peer. Call first, from one thread.
  Status exchangeAddresses(const void* buffer);
  // out[segment] = fp32 sum over the center's ranks of data[segment] (out may alias data's
  // segment when data is fp32). Ranks are summed in a fixed order for each segment.
  Status reduceScatter(ConstBufferView data, Range segment, float* out);
  // Tells the peers chunk `chunk`'s segment is final, then copies every peer's segment in.
  Status allGather(BufferView data, uint32_t chunk, const std::vector<Range>& segments);
  // The closing handshake: returns once every peer is done reading this rank's buffer.
  Status finish();

 private:
  Status readFrom(int peer, uint64_t remoteOffsetBytes, void* dst, size_t bytes);

  Transport* t_;
  int firstRank_;
  uint64_t seq_;
  Deadline deadline_;
  struct PeerAddr {
    uint64_t pid = 0;
    uint64_t base = 0;
  };
  std::vector<PeerAddr> peers_;
  std::vector<uint8_t> tmp_;
};

}  // namespace isthmus::coll
