#include "tests/multiproc/store/forked_server.h"

#include <poll.h>
#include <unistd.h>

#include <cstdio>

#include "runtime/store/tcp_store.h"

namespace isthmus::testing {

ForkedServer forkStoreServer() {
  int fds[2];
  ForkedServer out;
  if (pipe(fds) != 0) return out;
  out.process = ChildProcess::fork([&] {
    close(fds[0]);
    auto server = TcpStoreServer::start("127.0.0.1", 0);
    uint16_t port = server.ok() ? (*server)->port() : 0;
    if (!server.ok()) std::fprintf(stderr, "%s\n", server.status().toString().c_str());
    if (write(fds[1], &port, sizeof(port)) != sizeof(port)) return 2;
    close(fds[1]);
    if (!server.ok()) return 1;
    for (;;) pause();  // serve until killed
  });
  close(fds[1]);
  pollfd p{fds[0], POLLIN, 0};
  if (poll(&p, 1, 10000) == 1) {
    uint16_t port = 0;
    if (read(fds[0], &port, sizeof(port)) == sizeof(port)) out.port = port;
  }
  close(fds[0]);
  return out;
}

}  // namespace isthmus::testing
