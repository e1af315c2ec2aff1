// HashStore: the Store contract for threads of one process.
#include "runtime/store/hash_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace isthmus {
namespace {

TEST(HashStore, SetGetCheckDelete) {
  auto store = makeHashStore();
  ASSERT_TRUE(store->set("a", "1").ok());
  auto v = store->get("a", Deadline::afterSeconds(1));
  ASSERT_TRUE(v.ok()) << v.status().toString();
  EXPECT_EQ(*v, "1");
  EXPECT_TRUE(*store->check("a"));
  EXPECT_FALSE(*store->check("b"));
  EXPECT_TRUE(*store->deleteKey("a"));
  EXPECT_FALSE(*store->deleteKey("a"));
  EXPECT_FALSE(*store->check("a"));
}

TEST(HashStore, BinaryValuesSurvive) {
  auto store = makeHashStore();
  const std::string value("\0\x01\xff", 3);
  ASSERT_TRUE(store->set("bin", value).ok());
  EXPECT_EQ(*store->get("bin", Deadline::afterSeconds(1)), value);
}

TEST(HashStore, AddCountsAndRejectsNonIntegers) {
  auto store = makeHashStore();
  EXPECT_EQ(*store->add("n", 5), 5);
  EXPECT_EQ(*store->add("n", -2), 3);
  EXPECT_EQ(*store->get("n", Deadline::afterSeconds(1)), "3");
  ASSERT_TRUE(store->set("s", "abc").ok());
  auto bad = store->add("s", 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'s'"), std::string::npos);
}

TEST(HashStore, CompareSet) {
  auto store = makeHashStore();
  // Absent counts as "".
  EXPECT_EQ(*store->compareSet("k", "", "first"), "first");
  EXPECT_EQ(*store->compareSet("k", "wrong", "second"), "first");
  EXPECT_EQ(*store->compareSet("k", "first", "second"), "second");
  EXPECT_EQ(*store->get("k", Deadline::afterSeconds(1)), "second");
}

TEST(HashStore, WaitTimesOutNamingMissingKeys) {
  auto store = makeHashStore();
  ASSERT_TRUE(store->set("here", "x").ok());
  auto start = Deadline::Clock::now();
  Status st = store->wait({"here", "absent"}, Deadline::afterSeconds(0.2));
  EXPECT_GE(secondsSince(start), 0.19);
  ASSERT_EQ(st.code(), StatusCode::kTimeout) << st.toString();
  EXPECT_NE(st.message().find("missing: [absent]"), std::string::npos) << st.message();
  auto g = store->get("absent", Deadline::afterSeconds(0.05));
  EXPECT_EQ(g.status().code(), StatusCode::kTimeout);
}

TEST(HashStore, WaiterWokenBySetFromAnotherThread) {
  auto store = makeHashStore();
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(store->set("late", "v").ok());
  });
  auto v = store->get("late", Deadline::afterSeconds(10));
  setter.join();
  ASSERT_TRUE(v.ok()) << v.status().toString();
  EXPECT_EQ(*v, "v");
}

TEST(HashStore, ConcurrentAddsAndBarrier) {
  auto store = makeHashStore();
  constexpr int kThreads = 16;
  constexpr int kAdds = 200;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kAdds; ++i) {
        if (!store->add("counter", 1).ok()) ++failures;
      }
      if (!storeBarrier(*store, "b0", kThreads, Deadline::afterSeconds(10)).ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*store->add("counter", 0), kThreads * kAdds);
}

TEST(HashStore, BarrierTimesOutSayingHowManyArrived) {
  auto store = makeHashStore();
  Status st = storeBarrier(*store, "lonely", 3, Deadline::afterSeconds(0.1));
  ASSERT_EQ(st.code(), StatusCode::kTimeout) << st.toString();
  EXPECT_NE(st.message().find("1 of 3"), std::string::npos) << st.message();
  EXPECT_EQ(storeBarrier(*store, "bad", 0, Deadline::afterSeconds(1)).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace isthmus
