#include "runtime/core/logging.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace isthmus {
namespace {

LogLevel levelFromEnv() {
  const char* env = std::getenv("ISTHMUS_LOG_LEVEL");
  LogLevel level = LogLevel::kWarn;
  if (env != nullptr && *env != '\0' && !parseLogLevel(env, &level)) {
    std::fprintf(stderr,
                 "isthmus: ignoring ISTHMUS_LOG_LEVEL='%s' (expected trace, debug, info, warn, "
                 "error or off)\n",
                 env);
    level = LogLevel::kWarn;
  }
  return level;
}

std::atomic<int>& levelStorage() {
  static std::atomic<int> level{static_cast<int>(levelFromEnv())};
  return level;
}

std::mutex& identityMutex() {
  static std::mutex mu;
  return mu;
}

std::string& identityStorage() {
  static std::string identity;
  return identity;
}

const char* levelTag(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "T";
    case LogLevel::kDebug: return "D";
    case LogLevel::kInfo: return "I";
    case LogLevel::kWarn: return "W";
    case LogLevel::kError: return "E";
    case LogLevel::kOff: return "-";
  }
  return "?";
}

}  // namespace

LogLevel logLevel() {
  return static_cast<LogLevel>(levelStorage().load(std::memory_order_relaxed));
}

void setLogLevel(LogLevel level) { levelStorage().store(static_cast<int>(level)); }

bool parseLogLevel(const std::string& text, LogLevel* out) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  static const struct {
    const char* name;
    LogLevel level;
  } kNames[] = {
      {"trace", LogLevel::kTrace}, {"debug", LogLevel::kDebug},  {"info", LogLevel::kInfo},
      {"warn", LogLevel::kWarn},   {"warning", LogLevel::kWarn}, {"error", LogLevel::kError},
      {"off", LogLevel::kOff},     {"none", LogLevel::kOff},
  };
  for (const auto& n : kNames) {
    if (t == n.name) {
      *out = n.level;
      return true;
    }
  }
  return false;
}

void setLogIdentity(const std::string& identity) {
  std::lock_guard<std::mutex> lock(identityMutex());
  identityStorage() = identity;
}

std::string logIdentity() {
  std::lock_guard<std::mutex> lock(identityMutex());
  return identityStorage();
}

LogMessage::LogMessage(LogLevel level, const char* file, int line) : level_(level) {
  const char* base = std::strrchr(file, '/');
  auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
  char ts[32];
  std::snprintf(ts, sizeof(ts), "%.3f", std::fmod(now.count(), 100000.0));
  os_ << "isthmus " << levelTag(level_) << " " << ts << " ";
  std::string id;
  {
    std::lock_guard<std::mutex> lock(identityMutex());
    id = identityStorage();
  }
  if (!id.empty()) os_ << id << " ";
  os_ << (base ? base + 1 : file) << ":" << line << "] ";
}

LogMessage::~LogMessage() {
  os_ << '\n';
  std::string s = os_.str();
  // One write so lines from several threads do not interleave.
  ssize_t rc = ::write(STDERR_FILENO, s.data(), s.size());
  (void)rc;
}

}  // namespace isthmus
