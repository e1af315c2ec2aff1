// OutputRelay: copies the ranks' stdout/stderr pipes to the launcher's, one whole line at a time,
// each line prefixed ("[c1 r3] "), so lines of different ranks never interleave mid-line.
//
// A partial last line is flushed (with a newline added) when its pipe closes; a line longer than
// kMaxLineBytes is flushed in pieces, each prefixed. Owned and driven by one thread (the
// launcher's main loop): add streams, put pollFds() into poll(), call onReadable for the ready
// ones.
#pragma once

#include <poll.h>

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace isthmus::launcher {

class OutputRelay {
 public:
  static constexpr size_t kMaxLineBytes = 64 * 1024;

  // Takes ownership of sourceFd (non-blocking read end); lines go to destFd.
  void addStream(int sourceFd, std::string prefix, int destFd);
  // One pollfd per open stream (events POLLIN).
  void appendPollFds(std::vector<pollfd>* fds) const;
  // Reads what is there; on EOF flushes the partial line and closes the stream.
  void onReadable(int sourceFd);
  // Reads until EOF or no data, then flushes and closes every stream (teardown).
  void drainAndCloseAll();
  size_t openStreams() const { return streams_.size(); }
  bool owns(int fd) const { return streams_.count(fd) > 0; }

 private:
  struct Stream {
    std::string prefix;
    int destFd = -1;
    std::string pending;  // bytes after the last newline
  };
  void emitLines(Stream& s, bool flushPartial);
  void closeStream(int fd);
  std::map<int, Stream> streams_;
};

// write() until done or an error other than EINTR/EAGAIN (then the rest is dropped: the
// launcher's own output is gone, e.g. a closed terminal).
void writeFully(int fd, const char* data, size_t size);

}  // namespace isthmus::launcher
