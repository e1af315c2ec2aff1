// CommunicatorImpl: the Communicator over a center's group Transport and a world Transport.
//
// Ownership: it owns both transports, an executor thread that runs the collectives one at a time
// in issue order (so sequence numbers match across ranks), a watcher thread that notices lost
// peers and abort notices, and the error-feedback state (per key). A collective that fails fails
// the communicator: the failure is sent to every peer as an abort notice (so ranks that were not
// talking to the dead one learn it too) and both transports are aborted so every wait wakes; later
// collectives fail at once with the same status.
//
// createFromTransports is the seam tests and benchmarks use to run ranks as threads over an
// in-process transport; Communicator::create builds UCX transports and calls it.
#pragma once

#include <memory>

#include "collectives/communicator.h"
#include "runtime/topology.h"
#include "runtime/transport/transport.h"

namespace isthmus::coll {

// intra: the center's group (rank = local rank), null when the center has one rank.
// world: every rank (rank = global rank), null when there is one center.
Result<std::shared_ptr<Communicator>> createFromTransports(int rank, const Topology& topology,
                                                           std::unique_ptr<Transport> intra,
                                                           std::unique_ptr<Transport> world,
                                                           const CommunicatorOptions& options);

}  // namespace isthmus::coll
