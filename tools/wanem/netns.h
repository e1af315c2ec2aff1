// Named network namespaces (the same layout as `ip netns`: a bind mount of the namespace at
// /run/netns/NAME) and the naming scheme that lets a later process find stale ones.
//
// Name: "isthmus-wan-<pid>-<starttime>-<instance>-c<center>", where pid and starttime (clock
// ticks since boot, /proc/<pid>/stat field 22) identify the owner process even if its pid is
// reused. A namespace is stale when no process with that pid and start time exists.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "runtime/core/status.h"

namespace isthmus::wanem {

inline constexpr const char* kNetnsRunDir = "/run/netns";

struct OwnerId {
  int pid = 0;
  uint64_t startTime = 0;
};

// This process's identity; start time 0 if /proc cannot be read.
OwnerId selfOwner();
// Start time of pid, or 0 when there is no such process.
uint64_t processStartTime(int pid);

std::string makeNetnsName(const OwnerId& owner, int instance, int center);
// False when name is not of our scheme.
bool parseNetnsName(const std::string& name, OwnerId* owner);

// Creates /run/netns/NAME holding a fresh network namespace. Fails if it exists.
Status createNetns(const std::string& name);
// Unmounts and removes /run/netns/NAME; OK if it does not exist.
Status deleteNetns(const std::string& name);
// Runs fn on a short-lived thread that has entered the namespace at path, and returns its
// Status. File descriptors fn opens keep referring to that namespace.
Status runInNetns(const std::string& path, const std::function<Status()>& fn);

}  // namespace isthmus::wanem
