#include "runtime/core/status.h"

#include <gtest/gtest.h>

namespace isthmus {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return invalidArgumentError("odd value ", x);
  return x / 2;
}

Status quarter(int x, int* out) {
  ISTHMUS_ASSIGN_OR_RETURN(int h, half(x));
  ISTHMUS_ASSIGN_OR_RETURN(int q, half(h));
  *out = q;
  return okStatus();
}

TEST(Status, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.toString(), "kOk");
}

TEST(Status, FactoriesCarryCodeAndMessage) {
  Status s = peerLostError("peer rank ", 6, " lost after ", 30.0, " s");
  EXPECT_EQ(s.code(), StatusCode::kPeerLost);
  EXPECT_EQ(s.message(), "peer rank 6 lost after 30 s");
  EXPECT_EQ(s.toString(), "kPeerLost: peer rank 6 lost after 30 s");
  EXPECT_EQ(s.withContext("allreduce seq=3").message(),
            "allreduce seq=3: peer rank 6 lost after 30 s");
}

TEST(Result, ValueAndErrorPropagate) {
  int out = -1;
  EXPECT_TRUE(quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  out = -1;
  Status s = quarter(6, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "odd value 3");
  EXPECT_EQ(out, -1) << "output parameters are set only on success";
}

TEST(Result, OkStatusIsABug) {
  Result<int> r{okStatus()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

TEST(Result, ValueOnErrorAborts) {
  Result<int> r{timeoutError("late")};
  EXPECT_DEATH((void)r.value(), "kTimeout: late");
}

}  // namespace
}  // namespace isthmus
