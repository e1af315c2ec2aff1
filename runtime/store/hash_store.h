// HashStore: an in-memory Store for threads of one process.
//
// Tests of the layers above the store (transports, collectives) run their ranks as threads over
// one HashStore, the way gloo's tests use gloo::rendezvous::HashStore. Semantics match the TCP
// store exactly (same Store contract: blocking calls honour the Deadline and return kTimeout
// naming the missing keys and the elapsed time). Waiters sleep on a condition variable and are
// woken by set/add/compareSet; nothing polls. Thread-safe; the object must outlive every call.
#pragma once

#include <memory>

#include "runtime/store/store.h"

namespace isthmus {

std::shared_ptr<Store> makeHashStore();

}  // namespace isthmus
