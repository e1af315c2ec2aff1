// Status and Result<T>: how every Isthmus function below the Python boundary reports failure.
//
// A Status is a code plus a human-readable message. The code tells the caller what to do next
// (retry another algorithm, give up on a peer, fix the input); the message tells a person what
// happened, naming rank, center, operation, bytes, peer and elapsed time where they are known.
// Result<T> holds either a value or a non-OK Status. Both are cheap to move and thread-compatible
// (not synchronised: one thread owns an instance at a time).
#pragma once

#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace isthmus {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,  // the caller passed something wrong: fix the call
  kNotSupported,     // this algorithm/transport cannot do it: try the next one
  kTimeout,          // a deadline passed
  kPeerLost,         // a remote process or service died or went silent
  kAborted,          // the operation was cancelled (abort(), shutdown)
  kUnauthenticated,  // a peer failed the handshake (secret, job id, version)
  kCorrupt,          // bytes that do not check out (CRC, header, malformed message)
  kCudaError,        // a CUDA or NCCL call failed
  kInternal,         // a bug or an OS failure with no better code
};

const char* statusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status okStatus() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "kTimeout: wait for key 'x' timed out after 1.0 s"
  std::string toString() const;

  // Returns a copy whose message is `context + ": " + message()`; OK stays OK.
  Status withContext(const std::string& context) const;

  bool operator==(const Status& o) const { return code_ == o.code_ && message_ == o.message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status okStatus() { return Status(); }

// Concatenates its arguments with operator<<: strCat("rank ", 3, " lost") == "rank 3 lost".
template <typename... Args>
std::string strCat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

#define ISTHMUS_DEFINE_STATUS_FACTORY(fn, code)                  \
  template <typename... Args>                                    \
  Status fn(const Args&... args) {                               \
    return Status(StatusCode::code, ::isthmus::strCat(args...)); \
  }
ISTHMUS_DEFINE_STATUS_FACTORY(invalidArgumentError, kInvalidArgument)
ISTHMUS_DEFINE_STATUS_FACTORY(notSupportedError, kNotSupported)
ISTHMUS_DEFINE_STATUS_FACTORY(timeoutError, kTimeout)
ISTHMUS_DEFINE_STATUS_FACTORY(peerLostError, kPeerLost)
ISTHMUS_DEFINE_STATUS_FACTORY(abortedError, kAborted)
ISTHMUS_DEFINE_STATUS_FACTORY(unauthenticatedError, kUnauthenticated)
ISTHMUS_DEFINE_STATUS_FACTORY(corruptError, kCorrupt)
ISTHMUS_DEFINE_STATUS_FACTORY(cudaError, kCudaError)
ISTHMUS_DEFINE_STATUS_FACTORY(internalError, kInternal)
#undef ISTHMUS_DEFINE_STATUS_FACTORY

// Either a T or a non-OK Status. Constructing from an OK Status is a bug (becomes kInternal).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status)                          // NOLINT: implicit by design
      : status_(status.ok() ? internalError("Result constructed from an OK status")
                            : std::move(status)) {}

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // Precondition: ok(). Calling these on an error aborts with the status message.
  T& value() & {
    checkOk();
    return *value_;
  }
  const T& value() const& {
    checkOk();
    return *value_;
  }
  T&& value() && {
    checkOk();
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void checkOk() const;
  std::optional<T> value_;
  Status status_;
};

[[noreturn]] void checkFailed(const char* file, int line, const char* cond, const std::string& msg);

template <typename T>
void Result<T>::checkOk() const {
  if (!value_.has_value()) checkFailed(__FILE__, __LINE__, "Result::ok()", status_.toString());
}

}  // namespace isthmus

#define ISTHMUS_CONCAT_INNER(a, b) a##b
#define ISTHMUS_CONCAT(a, b) ISTHMUS_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is not OK.
#define ISTHMUS_RETURN_IF_ERROR(expr)          \
  do {                                         \
    ::isthmus::Status _isthmus_st = (expr);    \
    if (!_isthmus_st.ok()) return _isthmus_st; \
  } while (0)

// `ISTHMUS_ASSIGN_OR_RETURN(auto x, makeX());` declares x from a Result or returns its Status.
#define ISTHMUS_ASSIGN_OR_RETURN(lhs, expr) \
  ISTHMUS_ASSIGN_OR_RETURN_IMPL(ISTHMUS_CONCAT(_isthmus_res_, __LINE__), lhs, expr)
#define ISTHMUS_ASSIGN_OR_RETURN_IMPL(res, lhs, expr) \
  auto res = (expr);                                  \
  if (!res.ok()) return res.status();                 \
  lhs = std::move(res).value()

// Invariant check: a failure is a bug in Isthmus, so it aborts with the message.
#define ISTHMUS_CHECK(cond, msg)                                           \
  do {                                                                     \
    if (!(cond)) ::isthmus::checkFailed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)
