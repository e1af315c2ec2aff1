// Namespace names: our scheme round-trips, foreign names are refused, owner liveness is checked.
#include <gtest/gtest.h>
#include <unistd.h>

#include "tools/wanem/netns.h"
#include "tools/wanem/wan_emulation.h"

namespace isthmus::wanem {
namespace {

TEST(NetnsNameTest, RoundTrip) {
  OwnerId me = selfOwner();
  EXPECT_EQ(me.pid, getpid());
  EXPECT_GT(me.startTime, 0u);
  std::string name = makeNetnsName(me, 3, 1);
  EXPECT_EQ(name.rfind(kNetnsPrefix, 0), 0u);
  OwnerId parsed;
  ASSERT_TRUE(parseNetnsName(name, &parsed));
  EXPECT_EQ(parsed.pid, me.pid);
  EXPECT_EQ(parsed.startTime, me.startTime);
}

TEST(NetnsNameTest, ForeignNamesAreNotOurs) {
  OwnerId o;
  for (const char* n : {"isthmus-wan-", "isthmus-wan-12-34", "isthmus-wan-12-34-0-c1x",
                        "isthmus-wan-x-34-0-c1", "other-12-34-0-c1", "isthmus-wan-012-34-0-c1"}) {
    EXPECT_FALSE(parseNetnsName(n, &o)) << n;
  }
  EXPECT_TRUE(parseNetnsName("isthmus-wan-12-34-0-c1", &o));
  EXPECT_EQ(o.pid, 12);
  EXPECT_EQ(o.startTime, 34u);
}

TEST(NetnsNameTest, StartTimeIdentifiesTheProcess) {
  EXPECT_EQ(processStartTime(getpid()), selfOwner().startTime);
  EXPECT_EQ(processStartTime(1 << 30), 0u);  // no such pid
}

}  // namespace
}  // namespace isthmus::wanem
