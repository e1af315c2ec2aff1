// A TcpStoreServer in a forked child process, so a test can SIGKILL it mid-operation.
// Fork it before the test process starts threads. The child dies with the test (PDEATHSIG).
#pragma once

#include <cstdint>

#include "tests/harness/child_process.h"

namespace isthmus::testing {

struct ForkedServer {
  ChildProcess process;
  uint16_t port = 0;  // 0 when the server did not start
};

// Starts the server on 127.0.0.1:0 in a child; returns once it listens (or failed: port 0).
ForkedServer forkStoreServer();

}  // namespace isthmus::testing
