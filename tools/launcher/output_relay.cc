#include "tools/launcher/output_relay.h"

#include <unistd.h>

#include <cerrno>

namespace isthmus::launcher {

void writeFully(int fd, const char* data, size_t size) {
  size_t done = 0;
  int spins = 0;
  while (done < size) {
    ssize_t n = write(fd, data + done, size - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && ++spins < 1000) {
      usleep(1000);
      continue;
    }
    return;
  }
}

void OutputRelay::addStream(int sourceFd, std::string prefix, int destFd) {
  Stream s;
  s.prefix = std::move(prefix);
  s.destFd = destFd;
  streams_[sourceFd] = std::move(s);
}

void OutputRelay::appendPollFds(std::vector<pollfd>* fds) const {
  for (const auto& [fd, s] : streams_) fds->push_back({fd, POLLIN, 0});
}

void OutputRelay::emitLines(Stream& s, bool flushPartial) {
  std::string out;
  size_t start = 0;
  while (true) {
    size_t nl = s.pending.find('\n', start);
    if (nl == std::string::npos) break;
    out += s.prefix;
    out.append(s.pending, start, nl + 1 - start);
    start = nl + 1;
  }
  s.pending.erase(0, start);
  while (s.pending.size() >= kMaxLineBytes) {
    out += s.prefix;
    out.append(s.pending, 0, kMaxLineBytes);
    out += '\n';
    s.pending.erase(0, kMaxLineBytes);
  }
  if (flushPartial && !s.pending.empty()) {
    out += s.prefix;
    out += s.pending;
    out += '\n';
    s.pending.clear();
  }
  if (!out.empty()) writeFully(s.destFd, out.data(), out.size());
}

void OutputRelay::onReadable(int sourceFd) {
  auto it = streams_.find(sourceFd);
  if (it == streams_.end()) return;
  char buf[65536];
  for (;;) {
    ssize_t n = read(sourceFd, buf, sizeof(buf));
    if (n > 0) {
      it->second.pending.append(buf, static_cast<size_t>(n));
      emitLines(it->second, false);
      if (static_cast<size_t>(n) < sizeof(buf)) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    closeStream(sourceFd);  // EOF or a read error
    return;
  }
}

void OutputRelay::closeStream(int fd) {
  auto it = streams_.find(fd);
  if (it == streams_.end()) return;
  emitLines(it->second, true);
  close(fd);
  streams_.erase(it);
}

void OutputRelay::drainAndCloseAll() {
  std::vector<int> fds;
  for (const auto& [fd, s] : streams_) fds.push_back(fd);
  for (int fd : fds) {
    onReadable(fd);
    closeStream(fd);
  }
}

}  // namespace isthmus::launcher
