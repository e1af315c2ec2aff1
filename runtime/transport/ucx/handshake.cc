#include "runtime/transport/ucx/handshake.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdint>

namespace isthmus {
namespace handshake {
namespace {

void putField(std::string* out, const std::string& field) {
  uint32_t n = static_cast<uint32_t>(field.size());
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  out->append(field);
}

std::string transcript(const char* label, const proto::Challenge& c, const proto::Hello& h) {
  std::string t;
  putField(&t, label);
  putField(&t, c.nonce());
  putField(&t, std::to_string(c.protocol_version()));
  putField(&t, std::to_string(c.rank()));
  putField(&t, std::to_string(c.center()));
  putField(&t, std::to_string(h.protocol_version()));
  putField(&t, h.job_id());
  putField(&t, std::to_string(h.rank()));
  putField(&t, std::to_string(h.center()));
  putField(&t, std::to_string(h.lane()));
  putField(&t, std::to_string(h.lanes()));
  for (const auto& codec : h.codecs()) putField(&t, codec);
  putField(&t, h.nonce());
  return t;
}

std::string hmacSha256(const std::string& key, const std::string& message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

}  // namespace

Result<std::string> freshNonce() {
  std::string nonce(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), 32) != 1) {
    return internalError("RAND_bytes failed: cannot make a handshake nonce");
  }
  return nonce;
}

std::string helloProof(const std::string& secret, const proto::Challenge& challenge,
                       const proto::Hello& hello) {
  return hmacSha256(secret, transcript("isthmus-hello", challenge, hello));
}

std::string welcomeProof(const std::string& secret, const proto::Challenge& challenge,
                         const proto::Hello& hello) {
  return hmacSha256(secret, transcript("isthmus-welcome", challenge, hello));
}

bool constantTimeEqual(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status checkHello(const Expectation& expect, const proto::Challenge& challenge,
                  const proto::Hello& hello) {
  if (hello.protocol_version() != expect.version) {
    return unauthenticatedError("wrong protocol version ", hello.protocol_version(), " (expected ",
                                expect.version, ")");
  }
  if (hello.job_id() != expect.jobId) {
    return unauthenticatedError("wrong job id '", hello.job_id(), "' (expected '", expect.jobId,
                                "')");
  }
  if (hello.nonce().size() != 32) {
    return unauthenticatedError("malformed hello: nonce of ", hello.nonce().size(),
                                " bytes (expected 32)");
  }
  if (!constantTimeEqual(hello.proof(), helloProof(expect.secret, challenge, hello))) {
    return unauthenticatedError("bad HMAC proof for rank ", hello.rank(),
                                ": the job secret differs");
  }
  if (hello.rank() < 0 || hello.rank() >= expect.groupSize) {
    return unauthenticatedError("rank ", hello.rank(), " outside the group of ", expect.groupSize);
  }
  if (hello.rank() <= expect.listenerRank) {
    return unauthenticatedError("rank ", hello.rank(), " must not dial rank ", expect.listenerRank,
                                " (lower ranks listen, higher ranks dial)");
  }
  if (hello.lanes() < 1 || hello.lanes() > expect.maxLanes || hello.lane() < 0 ||
      hello.lane() >= hello.lanes()) {
    return unauthenticatedError("lane ", hello.lane(), " of ", hello.lanes(), " outside 1..",
                                expect.maxLanes, " lanes");
  }
  return okStatus();
}

}  // namespace handshake
}  // namespace isthmus
