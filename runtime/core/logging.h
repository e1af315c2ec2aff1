// Logging: `ISTHMUS_LOG(kInfo) << "connected to " << peer;`
//
// The level comes from ISTHMUS_LOG_LEVEL (trace, debug, info, warn, error, off; default warn),
// read once. Each line goes to stderr whole (one write), prefixed with the level and the process
// identity set by setLogIdentity ("[rank 3/8 center 1]"). Thread-safe.
#pragma once

#include <sstream>
#include <string>

namespace isthmus {

enum class LogLevel : int { kTrace = 0, kDebug, kInfo, kWarn, kError, kOff };

LogLevel logLevel();
void setLogLevel(LogLevel level);
// Parses "trace".."off" (case-insensitive); returns false on anything else.
bool parseLogLevel(const std::string& text, LogLevel* out);
void setLogIdentity(const std::string& identity);
std::string logIdentity();

class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  std::ostream& stream() { return os_; }

 private:
  LogLevel level_;
  std::ostringstream os_;
};

}  // namespace isthmus

#define ISTHMUS_LOG(level)                                  \
  if (::isthmus::LogLevel::level < ::isthmus::logLevel()) { \
  } else                                                    \
    ::isthmus::LogMessage(::isthmus::LogLevel::level, __FILE__, __LINE__).stream()
