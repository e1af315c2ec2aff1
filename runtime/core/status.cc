#include "runtime/core/status.h"

#include <cstdio>

namespace isthmus {

const char* statusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "kOk";
    case StatusCode::kInvalidArgument: return "kInvalidArgument";
    case StatusCode::kNotSupported: return "kNotSupported";
    case StatusCode::kTimeout: return "kTimeout";
    case StatusCode::kPeerLost: return "kPeerLost";
    case StatusCode::kAborted: return "kAborted";
    case StatusCode::kUnauthenticated: return "kUnauthenticated";
    case StatusCode::kCorrupt: return "kCorrupt";
    case StatusCode::kCudaError: return "kCudaError";
    case StatusCode::kInternal: return "kInternal";
  }
  return "kUnknown";
}

std::string Status::toString() const {
  if (ok()) return "kOk";
  return std::string(statusCodeName(code_)) + ": " + message_;
}

Status Status::withContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

void checkFailed(const char* file, int line, const char* cond, const std::string& msg) {
  std::fprintf(stderr, "isthmus: check failed at %s:%d: %s: %s\n", file, line, cond, msg.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace isthmus
