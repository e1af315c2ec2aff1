// Helpers for the WAN emulator tests: run code inside a center, move bytes over TCP, list the
// namespaces `ip netns list` shows, find processes by command line.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "runtime/core/deadline.h"
#include "runtime/core/status.h"

namespace isthmus::wanem::testing {

// FNV-1a over bytes.
uint64_t fnv1a(const std::vector<uint8_t>& bytes);

// Sends `bytes` from center `fromNs` to a server in center `toNs` listening on toAddress; the
// server hashes what it received and sends back the hash and the byte count. Returns the hash
// the server saw. Sockets are created on threads that entered the namespaces.
Result<uint64_t> transferAndHash(const std::string& fromNsPath, const std::string& toNsPath,
                                 const std::string& toAddress, const std::vector<uint8_t>& bytes,
                                 Deadline deadline);

// stdout of a shell command.
std::string commandOutput(const std::string& command);

// `ip netns list` names (first word of each line).
std::vector<std::string> ipNetnsList();
// Those of our naming scheme whose owner pid is in `owners`.
std::vector<std::string> namespacesOwnedBy(const std::set<int>& owners);

// Pids of processes whose command line (NUL-separated args joined by spaces) equals `cmdline`.
std::vector<int> pidsWithCmdline(const std::string& cmdline);

// Polls fn every 50 ms until it returns true or the deadline passes.
bool waitUntil(const std::function<bool()>& fn, Deadline deadline);

}  // namespace isthmus::wanem::testing
