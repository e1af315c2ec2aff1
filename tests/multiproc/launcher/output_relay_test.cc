// OutputRelay: whole prefixed lines, partial lines flushed at EOF, long lines split.
#include "tools/launcher/output_relay.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace isthmus::launcher {
namespace {

std::string readAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

struct Pipes {
  int src[2];
  int dst[2];
  Pipes() {
    EXPECT_EQ(pipe(src), 0);
    EXPECT_EQ(pipe(dst), 0);
    fcntl(src[0], F_SETFL, O_NONBLOCK);
    fcntl(dst[0], F_SETFL, O_NONBLOCK);
    fcntl(src[1], F_SETPIPE_SZ, 1 << 20);
    fcntl(dst[1], F_SETPIPE_SZ, 1 << 20);
  }
};

TEST(OutputRelay, PrefixesWholeLinesAndFlushesThePartialOneAtEof) {
  Pipes p;
  OutputRelay relay;
  relay.addStream(p.src[0], "[c0 r1] ", p.dst[1]);
  ASSERT_EQ(write(p.src[1], "one\ntw", 6), 6);
  relay.onReadable(p.src[0]);
  EXPECT_EQ(readAll(p.dst[0]), "[c0 r1] one\n");
  ASSERT_EQ(write(p.src[1], "o\nthree", 7), 7);
  close(p.src[1]);
  relay.onReadable(p.src[0]);
  relay.onReadable(p.src[0]);  // EOF
  EXPECT_EQ(relay.openStreams(), 0u);
  EXPECT_EQ(readAll(p.dst[0]), "[c0 r1] two\n[c0 r1] three\n");
  close(p.dst[0]);
  close(p.dst[1]);
}

TEST(OutputRelay, VeryLongLinesComeOutInPrefixedPieces) {
  Pipes p;
  OutputRelay relay;
  relay.addStream(p.src[0], "[p] ", p.dst[1]);
  const std::string longLine(OutputRelay::kMaxLineBytes + 10, 'x');
  ASSERT_EQ(write(p.src[1], longLine.data(), longLine.size()),
            static_cast<ssize_t>(longLine.size()));
  close(p.src[1]);
  relay.drainAndCloseAll();
  const std::string out = readAll(p.dst[0]);
  EXPECT_EQ(out, "[p] " + std::string(OutputRelay::kMaxLineBytes, 'x') + "\n[p] " +
                     std::string(10, 'x') + "\n");
  close(p.dst[0]);
  close(p.dst[1]);
}

}  // namespace
}  // namespace isthmus::launcher
