#include "runtime/transport/ucx/handshake.h"

#include <gtest/gtest.h>

#include "runtime/transport/ucx/wire.h"

namespace isthmus {
namespace {

struct Fixture {
  handshake::Expectation expect;
  proto::Challenge challenge;
  proto::Hello hello;
  Fixture() {
    expect.version = ucxwire::kProtocolVersion;
    expect.jobId = "job-a";
    expect.secret = "s3cret";
    expect.listenerRank = 0;
    expect.groupSize = 4;
    challenge.set_protocol_version(ucxwire::kProtocolVersion);
    challenge.set_nonce(*handshake::freshNonce());
    challenge.set_job_id("job-a");
    hello.set_protocol_version(ucxwire::kProtocolVersion);
    hello.set_job_id("job-a");
    hello.set_rank(2);
    hello.set_center(1);
    hello.set_lane(0);
    hello.set_lanes(4);
    hello.set_nonce(*handshake::freshNonce());
  }
  Status check(const std::string& secret) {
    hello.set_proof(handshake::helloProof(secret, challenge, hello));
    return handshake::checkHello(expect, challenge, hello);
  }
};

TEST(Handshake, AcceptsTheRightSecret) {
  Fixture f;
  EXPECT_TRUE(f.check("s3cret").ok());
}

TEST(Handshake, RefusesEachWrongField) {
  {
    Fixture f;
    Status st = f.check("wrong");
    EXPECT_EQ(st.code(), StatusCode::kUnauthenticated);
    EXPECT_NE(st.message().find("secret differs"), std::string::npos) << st.message();
  }
  {
    Fixture f;
    f.hello.set_job_id("job-b");
    Status st = f.check("s3cret");
    EXPECT_NE(st.message().find("wrong job id 'job-b'"), std::string::npos) << st.message();
  }
  {
    Fixture f;
    f.hello.set_protocol_version(99);
    Status st = f.check("s3cret");
    EXPECT_NE(st.message().find("wrong protocol version 99"), std::string::npos) << st.message();
  }
  {
    Fixture f;
    f.hello.set_rank(7);
    EXPECT_NE(f.check("s3cret").message().find("outside the group"), std::string::npos);
  }
  {
    Fixture f;
    f.hello.set_lane(4);
    EXPECT_NE(f.check("s3cret").message().find("lane 4 of 4"), std::string::npos);
  }
}

TEST(Handshake, ProofIsBoundToTheChallengeAndIdentity) {
  Fixture f;
  f.hello.set_proof(handshake::helloProof("s3cret", f.challenge, f.hello));
  proto::Challenge other = f.challenge;
  other.set_nonce(*handshake::freshNonce());
  EXPECT_FALSE(handshake::checkHello(f.expect, other, f.hello).ok()) << "replayed proof accepted";
  proto::Hello forged = f.hello;
  forged.set_rank(3);  // claims another rank with the same proof
  EXPECT_FALSE(handshake::checkHello(f.expect, f.challenge, forged).ok());
  EXPECT_NE(handshake::welcomeProof("s3cret", f.challenge, f.hello), f.hello.proof());
}

}  // namespace
}  // namespace isthmus
