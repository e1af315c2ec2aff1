// makePrefixStore: independent users share one store without clashing.
#include <gtest/gtest.h>

#include "runtime/store/hash_store.h"
#include "runtime/store/store.h"

namespace isthmus {
namespace {

TEST(PrefixStore, KeysAreNamespaced) {
  auto base = makeHashStore();
  auto a = makePrefixStore(base, "a");
  auto b = makePrefixStore(base, "b");
  ASSERT_TRUE(a->set("k", "from-a").ok());
  ASSERT_TRUE(b->set("k", "from-b").ok());
  EXPECT_EQ(*a->get("k", Deadline::afterSeconds(1)), "from-a");
  EXPECT_EQ(*b->get("k", Deadline::afterSeconds(1)), "from-b");
  EXPECT_EQ(*base->get("a/k", Deadline::afterSeconds(1)), "from-a");
  EXPECT_FALSE(*base->check("k"));
}

TEST(PrefixStore, AllOperationsGoThroughThePrefix) {
  auto base = makeHashStore();
  auto p = makePrefixStore(makePrefixStore(base, "outer"), "inner");
  EXPECT_EQ(*p->add("n", 2), 2);
  EXPECT_EQ(*base->get("outer/inner/n", Deadline::afterSeconds(1)), "2");
  EXPECT_EQ(*p->compareSet("c", "", "x"), "x");
  EXPECT_TRUE(*p->check("c"));
  EXPECT_TRUE(*p->deleteKey("c"));
  EXPECT_FALSE(*base->check("outer/inner/c"));
  Status st = p->wait({"missing"}, Deadline::afterSeconds(0.05));
  ASSERT_EQ(st.code(), StatusCode::kTimeout);
  EXPECT_NE(st.message().find("outer/inner/missing"), std::string::npos) << st.message();
}

TEST(PrefixStore, BarrierOnAPrefixStore) {
  auto base = makeHashStore();
  auto p = makePrefixStore(base, "job");
  ASSERT_TRUE(storeBarrier(*p, "solo", 1, Deadline::afterSeconds(1)).ok());
  EXPECT_TRUE(*base->check("job/barrier/solo/done"));
}

}  // namespace
}  // namespace isthmus
