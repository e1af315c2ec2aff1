// parseWanSpec / validateWanSpec / wanSpecFromLinks: units, per-pair sections, error messages.
#include <gtest/gtest.h>

#include "tools/wanem/wan_emulation.h"

namespace isthmus::wanem {
namespace {

TEST(WanSpecTest, ParsesUnitsAndDefaults) {
  auto spec = parseWanSpec("rate=1gbit,rtt=40ms,loss=0,jitter=0ms");
  ASSERT_TRUE(spec.ok()) << spec.status().toString();
  EXPECT_DOUBLE_EQ(spec->defaults.rateBitsPerSec, 1e9);
  EXPECT_DOUBLE_EQ(spec->defaults.rttMs, 40);
  EXPECT_DOUBLE_EQ(spec->defaults.lossRate, 0);
  EXPECT_EQ(spec->tcp.congestionControl, "cubic");
  EXPECT_EQ(spec->tcp.maxBufferBytes, 0);

  spec = parseWanSpec("rate=250kbit,rtt=1.5s,jitter=500us,loss=1%,queue=10ms");
  ASSERT_TRUE(spec.ok()) << spec.status().toString();
  EXPECT_DOUBLE_EQ(spec->defaults.rateBitsPerSec, 250e3);
  EXPECT_DOUBLE_EQ(spec->defaults.rttMs, 1500);
  EXPECT_DOUBLE_EQ(spec->defaults.jitterMs, 0.5);
  EXPECT_DOUBLE_EQ(spec->defaults.lossRate, 0.01);
  EXPECT_DOUBLE_EQ(spec->defaults.effectiveQueueMs(), 10);

  spec = parseWanSpec("RATE=5Gbit, loss=0.02, cc=bbr, tcpbuf=128m, late=2ms");
  ASSERT_TRUE(spec.ok()) << spec.status().toString();
  EXPECT_DOUBLE_EQ(spec->defaults.rateBitsPerSec, 5e9);
  EXPECT_DOUBLE_EQ(spec->defaults.lossRate, 0.02);
  EXPECT_EQ(spec->tcp.congestionControl, "bbr");
  EXPECT_EQ(spec->tcp.maxBufferBytes, 128 << 20);
  EXPECT_DOUBLE_EQ(spec->lateToleranceMs, 2);
  EXPECT_TRUE(spec->tcp.slowStartAfterIdle);  // the kernel's default unless asked

  spec = parseWanSpec("rate=1gbit,slowstart_after_idle=0");
  ASSERT_TRUE(spec.ok()) << spec.status().toString();
  EXPECT_FALSE(spec->tcp.slowStartAfterIdle);
  EXPECT_NE(spec->toString().find("slowstart_after_idle=0"), std::string::npos);
  EXPECT_FALSE(parseWanSpec("slowstart_after_idle=2").ok());
  EXPECT_FALSE(parseWanSpec("rate=1gbit;0-1:slowstart_after_idle=0").ok());

  spec = parseWanSpec("");
  ASSERT_TRUE(spec.ok());
  EXPECT_DOUBLE_EQ(spec->defaults.rateBitsPerSec, 1e9);
  EXPECT_DOUBLE_EQ(spec->defaults.effectiveQueueMs(), 20);  // auto: max(5 ms, rtt / 2)
}

TEST(WanSpecTest, PerPairSectionsInheritDefaults) {
  auto spec = parseWanSpec("rate=2gbit;0-1:rtt=80ms;2-1:loss=0.5%");
  ASSERT_TRUE(spec.ok()) << spec.status().toString();
  ASSERT_EQ(spec->perPair.size(), 2u);
  const LinkParams& l01 = spec->link(1, 0);
  EXPECT_DOUBLE_EQ(l01.rttMs, 80);
  const LinkParams& l12 = spec->link(1, 2);
  EXPECT_DOUBLE_EQ(l12.lossRate, 0.005);
  EXPECT_DOUBLE_EQ(spec->link(0, 2).rttMs, spec->defaults.rttMs);
}

TEST(WanSpecTest, FirstSectionIsDefaultsAndPairsInheritIt) {
  auto spec = parseWanSpec("rate=2gbit,rtt=10ms;0-1:rtt=80ms");
  ASSERT_TRUE(spec.ok()) << spec.status().toString();
  EXPECT_DOUBLE_EQ(spec->link(0, 1).rttMs, 80);
  EXPECT_DOUBLE_EQ(spec->link(0, 1).rateBitsPerSec, 2e9);
  EXPECT_DOUBLE_EQ(spec->link(0, 2).rttMs, 10);
  // toString round-trips.
  auto again = parseWanSpec(spec->toString());
  ASSERT_TRUE(again.ok()) << again.status().toString();
  EXPECT_EQ(again->toString(), spec->toString());
}

void expectError(const std::string& text, const std::string& mentions1,
                 const std::string& mentions2) {
  auto spec = parseWanSpec(text);
  ASSERT_FALSE(spec.ok()) << text;
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find(mentions1), std::string::npos) << spec.status().message();
  EXPECT_NE(spec.status().message().find(mentions2), std::string::npos) << spec.status().message();
}

TEST(WanSpecTest, ErrorsNameKeyAndValue) {
  expectError("rate=1gbt", "'rate'", "'1gbt'");
  expectError("rate=1000", "'rate'", "missing unit");
  expectError("rate=10mbps", "'rate'", "ambiguous");
  expectError("rtt=40", "'rtt'", "'40'");
  expectError("rtt=-5ms", "'rtt'", "negative");
  expectError("loss=2", "'loss'", "between 0 and 1");
  expectError("loss=abc", "'loss'", "'abc'");
  expectError("rtx=4ms", "unknown key 'rtx'", "known:");
  expectError("rate", "'rate'", "key=value");
  expectError("tcpbuf=1k", "'tcpbuf'", "between");
  expectError("rate=1gbit;0-0:rtt=1ms", "0-0", "two different centers");
  expectError("rate=1gbit;0-1:cc=bbr", "'cc'", "first section");
  expectError("rate=1gbit;0-1:rtt=1ms;1-0:rtt=2ms", "pair 0-1", "twice");
}

TEST(WanSpecTest, ValidateChecksPairsAgainstCenters) {
  auto spec = parseWanSpec("rate=1gbit;0-3:rtt=10ms");
  ASSERT_TRUE(spec.ok());
  EXPECT_TRUE(validateWanSpec(*spec, 4).ok());
  Status st = validateWanSpec(*spec, 2);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("0-3"), std::string::npos) << st.message();
  EXPECT_FALSE(validateWanSpec(*spec, 0).ok());
}

TEST(WanSpecTest, FromLinks) {
  WanSpec base;
  base.defaults.rttMs = 30;
  WanSpec spec = wanSpecFromLinks(base, {{1, 0, 10.0, 80.0, 1.0, 2.0}, {0, 2, 0.0, -1.0, 0, 0}});
  EXPECT_DOUBLE_EQ(spec.link(0, 1).rateBitsPerSec, 10e9);
  EXPECT_DOUBLE_EQ(spec.link(0, 1).rttMs, 80);
  EXPECT_DOUBLE_EQ(spec.link(0, 1).lossRate, 0.01);
  EXPECT_DOUBLE_EQ(spec.link(0, 1).jitterMs, 2);
  EXPECT_DOUBLE_EQ(spec.link(0, 2).rateBitsPerSec, base.defaults.rateBitsPerSec);
  EXPECT_DOUBLE_EQ(spec.link(0, 2).rttMs, 30);
}

}  // namespace
}  // namespace isthmus::wanem
