// HashStore: std::map + one mutex + one condition variable. Waiters re-check their keys on every
// notify_all; fine for the tens of threads tests run.
#include "runtime/store/hash_store.h"

#include <condition_variable>
#include <map>
#include <mutex>

#include "runtime/store/store_util.h"

namespace isthmus {
namespace {

class HashStore : public Store {
 public:
  Status set(const std::string& key, const std::string& value) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      data_[key] = value;
    }
    cv_.notify_all();
    return okStatus();
  }

  Result<std::string> get(const std::string& key, Deadline deadline) override {
    std::unique_lock<std::mutex> lock(mu_);
    ISTHMUS_RETURN_IF_ERROR(waitLocked(lock, {key}, deadline, "get"));
    return data_[key];
  }

  Status wait(const std::vector<std::string>& keys, Deadline deadline) override {
    std::unique_lock<std::mutex> lock(mu_);
    return waitLocked(lock, keys, deadline, "wait");
  }

  Result<int64_t> add(const std::string& key, int64_t delta) override {
    int64_t value = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = data_.find(key);
      int64_t current = 0;
      if (it != data_.end() && !parseStoreInt(it->second, &current)) {
        return invalidArgumentError("store add on key '", key, "': value '", it->second,
                                    "' is not an integer");
      }
      value = current + delta;
      data_[key] = std::to_string(value);
    }
    cv_.notify_all();
    return value;
  }

  Result<std::string> compareSet(const std::string& key, const std::string& expected,
                                 const std::string& desired) override {
    std::string result;
    bool changed = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = data_.find(key);
      const std::string current = it == data_.end() ? std::string() : it->second;
      if (current == expected) {
        data_[key] = desired;
        result = desired;
        changed = true;
      } else {
        result = current;
      }
    }
    if (changed) cv_.notify_all();
    return result;
  }

  Result<bool> check(const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    return data_.count(key) > 0;
  }

  Result<bool> deleteKey(const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    return data_.erase(key) > 0;
  }

 private:
  Status waitLocked(std::unique_lock<std::mutex>& lock, const std::vector<std::string>& keys,
                    Deadline deadline, const char* op) {
    const auto start = Deadline::Clock::now();
    auto allPresent = [&] {
      for (const auto& k : keys) {
        if (data_.count(k) == 0) return false;
      }
      return true;
    };
    if (deadline.isInfinite()) {
      cv_.wait(lock, allPresent);
      return okStatus();
    }
    if (cv_.wait_until(lock, deadline.when(), allPresent)) return okStatus();
    std::vector<std::string> missing;
    for (const auto& k : keys) {
      if (data_.count(k) == 0) missing.push_back(k);
    }
    return timeoutError("in-memory store ", op, " waited ", formatSeconds(secondsSince(start)),
                        " for keys ", joinKeys(keys), " (missing: ", joinKeys(missing), ")");
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> data_;
};

}  // namespace

std::shared_ptr<Store> makeHashStore() { return std::make_shared<HashStore>(); }

}  // namespace isthmus
