// The Python boundary for errors: a non-OK Status becomes a Python exception.
//
// Every exception raised from isthmus._C derives from isthmus.Error (itself a RuntimeError) and
// carries the C++ Status message unchanged, prefixed with the code name. Codes that a Python
// caller handles differently get their own subclass, each also deriving from the builtin a
// Python programmer would catch:
//   kTimeout          -> isthmus.TimeoutError         (also builtins.TimeoutError)
//   kPeerLost         -> isthmus.PeerLostError        (also builtins.ConnectionError)
//   kCorrupt          -> isthmus.CorruptError
//   kInvalidArgument  -> isthmus.InvalidArgumentError (also builtins.ValueError)
//   kAborted          -> isthmus.AbortedError
// Anything else raises isthmus.Error itself. The exception's `code` attribute holds the code name.
#pragma once

#include <nanobind/nanobind.h>

#include <exception>
#include <string>

#include "runtime/core/status.h"

namespace isthmus::py {

// Thrown by binding code; translated to the matching Python exception.
class StatusError : public std::exception {
 public:
  explicit StatusError(Status status) : status_(std::move(status)), what_(status_.toString()) {}
  const Status& status() const { return status_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  Status status_;
  std::string what_;
};

// Raises (as StatusError) when `status` is not OK.
inline void throwIfError(const Status& status) {
  if (!status.ok()) throw StatusError(status);
}

// Creates the exception classes in module `m` and installs the translator.
void registerErrors(nanobind::module_& m);

}  // namespace isthmus::py
