// The handshake's cryptography and checks, free of UCX so they can be unit-tested.
//
// Proofs are HMAC-SHA256 over a length-prefixed transcript that binds both nonces, the job id,
// both ranks, the dialer's center and its lane, so a proof is valid for exactly one connection
// and one claimed identity. Comparison is constant-time. Thread-safe (OpenSSL 3 is).
#pragma once

#include <string>

#include "runtime/core/status.h"
#include "runtime/proto/handshake.pb.h"

namespace isthmus {
namespace handshake {

// 32 fresh random bytes (OpenSSL RAND_bytes); kInternal if the generator fails.
Result<std::string> freshNonce();

// The dialer's proof for `hello` (its proof field ignored) answering `challenge`.
std::string helloProof(const std::string& secret, const proto::Challenge& challenge,
                       const proto::Hello& hello);
// The listener's proof, over the same transcript plus the dialer's nonce.
std::string welcomeProof(const std::string& secret, const proto::Challenge& challenge,
                         const proto::Hello& hello);

bool constantTimeEqual(const std::string& a, const std::string& b);

// What the listener expects of a hello.
struct Expectation {
  uint32_t version = 0;
  std::string jobId;
  std::string secret;
  int listenerRank = 0;
  int groupSize = 0;
  int maxLanes = 64;
};
// OK, or kUnauthenticated with the reason: "wrong protocol version 7 (expected 1)", "wrong job id
// 'b' (expected 'a')", "bad proof: the secret differs", "rank 9 outside the group of 4", ...
Status checkHello(const Expectation& expect, const proto::Challenge& challenge,
                  const proto::Hello& hello);

}  // namespace handshake
}  // namespace isthmus
