// Helpers for the transport tests: a group of UcxTransports as threads of this process over a
// HashStore (gloo's base_test.h style), and a deterministic byte pattern to check transfers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "runtime/store/hash_store.h"
#include "runtime/transport/ucx/ucx_transport.h"

namespace isthmus::testing {

inline UcxTransportOptions baseOptions(int rank, int size, std::shared_ptr<Store> store) {
  UcxTransportOptions o;
  o.rank = rank;
  o.size = size;
  o.store = std::move(store);
  o.jobId = "test-job";
  o.secret = "test-secret";
  o.codecs = {"fp32", "bf16"};
  return o;
}

// Creates `size` transports concurrently; slot r holds rank r's result.
inline std::vector<Result<std::unique_ptr<UcxTransport>>> makeGroup(
    int size, const std::function<void(UcxTransportOptions&)>& tweak, double seconds = 20) {
  auto store = makeHashStore();
  std::vector<Result<std::unique_ptr<UcxTransport>>> out;
  for (int r = 0; r < size; ++r) out.emplace_back(internalError("not created"));
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      auto o = baseOptions(r, size, store);
      if (tweak) tweak(o);
      out[r] = UcxTransport::create(o, Deadline::afterSeconds(seconds));
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

inline uint8_t patternByte(int src, int dst, uint64_t tag, size_t i) {
  return static_cast<uint8_t>((i * 131u) ^ (src * 17u) ^ (dst * 29u) ^ (tag * 7u) ^ (i >> 13));
}
inline void fillPattern(std::vector<uint8_t>& v, int src, int dst, uint64_t tag) {
  for (size_t i = 0; i < v.size(); ++i) v[i] = patternByte(src, dst, tag, i);
}
// Index of the first wrong byte, or -1.
inline int64_t checkPattern(const std::vector<uint8_t>& v, int src, int dst, uint64_t tag) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != patternByte(src, dst, tag, i)) return static_cast<int64_t>(i);
  }
  return -1;
}

}  // namespace isthmus::testing
