// An in-process Transport for tests: `size` endpoints that exchange messages through shared
// memory under one lock, with the Transport contract's matching (source, destination, tag),
// exact sizes (kCorrupt on a mismatch), post-time deadlines (kTimeout) and abort. Ranks run as
// threads, so collectives can be tested without sockets (like gloo's HashStore-based tests).
#pragma once

#include <memory>
#include <vector>

#include "runtime/transport/transport.h"

namespace isthmus::testing {

// The endpoints of one group; each is owned by its rank's thread. They share one hub, which
// lives as long as any endpoint.
std::vector<std::unique_ptr<Transport>> makeLocalGroup(int size);

}  // namespace isthmus::testing
