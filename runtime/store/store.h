// Store: the rendezvous key-value store ranks use to find each other (listener addresses, NCCL
// unique ids, barriers), with the contract torchrun's TCPStore gives PyTorch users.
//
// Keys are strings, values are byte strings. Every call that can block takes a Deadline and
// returns kTimeout naming the keys still missing when it passes; a server that goes away gives
// kPeerLost naming its address; a malformed reply gives kCorrupt. Implementations are
// thread-safe: any thread may call any method concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/deadline.h"
#include "runtime/core/status.h"

namespace isthmus {

class Store {
 public:
  virtual ~Store() = default;

  // Sets key to value, replacing any previous value, and wakes waiters on key.
  virtual Status set(const std::string& key, const std::string& value) = 0;
  // Waits until key exists, then returns its value.
  virtual Result<std::string> get(const std::string& key, Deadline deadline) = 0;
  // Waits until every key exists.
  virtual Status wait(const std::vector<std::string>& keys, Deadline deadline) = 0;
  // Atomically adds delta to the integer stored at key (absent = 0) and returns the new value.
  virtual Result<int64_t> add(const std::string& key, int64_t delta) = 0;
  // Atomically: if key's value equals expected (absent counts as equal to ""), sets it to
  // desired. Returns the value the key holds afterwards (desired on success, the current value
  // otherwise), as torch's compare_set does.
  virtual Result<std::string> compareSet(const std::string& key, const std::string& expected,
                                         const std::string& desired) = 0;
  // True if key exists now (no waiting).
  virtual Result<bool> check(const std::string& key) = 0;
  // Deletes key; returns whether it existed.
  virtual Result<bool> deleteKey(const std::string& key) = 0;
};

// A view of another store where every key is prefixed with "<prefix>/", so independent users
// (communicators, tests) share one server without clashing. Does not own `base`'s lifetime
// beyond holding the shared_ptr.
std::shared_ptr<Store> makePrefixStore(std::shared_ptr<Store> base, const std::string& prefix);

// Barrier through a store: every one of `worldSize` participants calls it with the same name;
// returns when all have arrived or the deadline passes (kTimeout naming how many arrived).
// A name serves one barrier per store: add a sequence number to meet again ("step/12").
Status storeBarrier(Store& store, const std::string& name, int worldSize, Deadline deadline);

}  // namespace isthmus
