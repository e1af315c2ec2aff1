// Runs one Communicator per rank as threads over in-process transports (local_transport.h).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "collectives/communicator.h"

namespace isthmus::testing {

// Builds the communicators for centers of the given sizes and runs body(comm) on one thread per
// rank; returns once all threads have finished (communicators are destroyed on their threads).
void runRanksAsThreads(const std::vector<int>& centerSizes,
                       const coll::CommunicatorOptions& options,
                       const std::function<void(coll::Communicator&)>& body);

}  // namespace isthmus::testing
