// The TUN side of a center: create "wan0" inside the calling thread's network namespace with GSO
// passthrough (IFF_VNET_HDR + TUNSETOFFLOAD TSO4), give it an address, set the namespace's TCP
// sysctls, and read its drop counter over rtnetlink.
//
// All functions act on the network namespace of the calling thread (call them through
// runInNetns). Descriptors are close-on-exec; the TUN descriptor is non-blocking.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/core/status.h"

namespace isthmus::wanem {

struct TunSetup {
  std::string ifname = "wan0";
  std::string address;  // "10.77.0.1"
  int prefixLen = 24;
  int mtu = 1500;
  int txQueueLen = 4096;
};

// Creates the TUN device and brings it (and lo) up. Returns the TUN descriptor.
Result<int> createTun(const TunSetup& setup);

// Writes value into /proc/sys/<key with dots as slashes> of the calling thread's namespace.
Status writeSysctl(const std::string& key, const std::string& value);
Result<std::string> readSysctl(const std::string& key);

// A NETLINK_ROUTE socket bound to the namespace it was opened in, to read one interface's
// counters later from any thread (one thread at a time).
class LinkCounters {
 public:
  LinkCounters() = default;
  ~LinkCounters();
  LinkCounters(const LinkCounters&) = delete;
  LinkCounters& operator=(const LinkCounters&) = delete;
  // Opens the socket in the calling thread's namespace and looks up ifname.
  Status open(const std::string& ifname);
  // The interface's tx_dropped (packets the kernel dropped because the relay did not read them).
  Result<uint64_t> txDropped();

 private:
  int fd_ = -1;
  int ifindex_ = 0;
  uint32_t seq_ = 0;
};

}  // namespace isthmus::wanem
