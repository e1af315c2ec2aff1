// Store helpers: the prefix view, the barrier, and the small formatting helpers of store_util.h.
#include "runtime/store/store.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "runtime/store/store_util.h"

namespace isthmus {

std::string joinKeys(const std::vector<std::string>& keys) {
  constexpr size_t kMaxShown = 8;
  std::string out = "[";
  for (size_t i = 0; i < keys.size() && i < kMaxShown; ++i) {
    if (i > 0) out += ", ";
    out += keys[i];
  }
  if (keys.size() > kMaxShown) out += strCat(", ... (", keys.size(), " in all)");
  return out + "]";
}

std::string formatSeconds(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f s", seconds);
  return buf;
}

bool parseStoreInt(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

namespace {

class PrefixStore : public Store {
 public:
  PrefixStore(std::shared_ptr<Store> base, std::string prefix)
      : base_(std::move(base)), prefix_(std::move(prefix) + "/") {}

  Status set(const std::string& key, const std::string& value) override {
    return base_->set(k(key), value);
  }
  Result<std::string> get(const std::string& key, Deadline deadline) override {
    return base_->get(k(key), deadline);
  }
  Status wait(const std::vector<std::string>& keys, Deadline deadline) override {
    std::vector<std::string> full;
    full.reserve(keys.size());
    for (const auto& key : keys) full.push_back(k(key));
    return base_->wait(full, deadline);
  }
  Result<int64_t> add(const std::string& key, int64_t delta) override {
    return base_->add(k(key), delta);
  }
  Result<std::string> compareSet(const std::string& key, const std::string& expected,
                                 const std::string& desired) override {
    return base_->compareSet(k(key), expected, desired);
  }
  Result<bool> check(const std::string& key) override { return base_->check(k(key)); }
  Result<bool> deleteKey(const std::string& key) override { return base_->deleteKey(k(key)); }

 private:
  std::string k(const std::string& key) const { return prefix_ + key; }
  std::shared_ptr<Store> base_;
  std::string prefix_;
};

}  // namespace

std::shared_ptr<Store> makePrefixStore(std::shared_ptr<Store> base, const std::string& prefix) {
  return std::make_shared<PrefixStore>(std::move(base), prefix);
}

// Each participant adds 1 to "<name>/count"; the one that brings it to worldSize sets
// "<name>/done", and everyone waits for that key. A barrier name must be used once per store
// (callers add a sequence number when they repeat a barrier).
Status storeBarrier(Store& store, const std::string& name, int worldSize, Deadline deadline) {
  if (worldSize <= 0) {
    return invalidArgumentError("store barrier '", name, "': worldSize must be positive, got ",
                                worldSize);
  }
  const auto start = Deadline::Clock::now();
  const std::string countKey = "barrier/" + name + "/count";
  const std::string doneKey = "barrier/" + name + "/done";
  auto arrived = store.add(countKey, 1);
  if (!arrived.ok()) return arrived.status().withContext(strCat("store barrier '", name, "'"));
  if (*arrived > worldSize) {
    return invalidArgumentError("store barrier '", name, "': ", *arrived,
                                " participants arrived but worldSize is ", worldSize,
                                " (barrier name reused?)");
  }
  if (*arrived == worldSize) {
    Status st = store.set(doneKey, "1");
    if (!st.ok()) return st.withContext(strCat("store barrier '", name, "'"));
    return okStatus();
  }
  Status st = store.wait({doneKey}, deadline);
  if (st.ok()) return st;
  if (st.code() == StatusCode::kTimeout) {
    // Ask how many made it, with a short bound of its own: the message is what matters here.
    int64_t count = -1;
    auto now = store.add(countKey, 0);
    if (now.ok()) count = *now;
    return timeoutError(
        "store barrier '", name, "': ", count < 0 ? std::string("?") : std::to_string(count),
        " of ", worldSize, " participants arrived after ", formatSeconds(secondsSince(start)));
  }
  return st.withContext(strCat("store barrier '", name, "'"));
}

}  // namespace isthmus
