#include "tests/unit/collectives/comm_threads.h"

#include <gtest/gtest.h>

#include <thread>

#include "collectives/communicator_impl.h"
#include "runtime/topology.h"
#include "tests/unit/collectives/local_transport.h"

namespace isthmus::testing {

void runRanksAsThreads(const std::vector<int>& centerSizes,
                       const coll::CommunicatorOptions& options,
                       const std::function<void(coll::Communicator&)>& body) {
  auto topo = Topology::fromRanksPerCenter(centerSizes);
  ASSERT_TRUE(topo.ok()) << topo.status().toString();
  const int N = topo->worldSize(), C = topo->numCenters();
  std::vector<std::unique_ptr<Transport>> world;
  if (C > 1) world = makeLocalGroup(N);
  std::vector<std::vector<std::unique_ptr<Transport>>> intra(C);
  for (int c = 0; c < C; ++c) {
    if (centerSizes[c] > 1) intra[c] = makeLocalGroup(centerSizes[c]);
  }
  std::vector<std::shared_ptr<coll::Communicator>> comms(N);
  for (int r = 0; r < N; ++r) {
    const int c = topo->centerOf(r), l = topo->localRank(r);
    auto comm =
        coll::createFromTransports(r, *topo, centerSizes[c] > 1 ? std::move(intra[c][l]) : nullptr,
                                   C > 1 ? std::move(world[r]) : nullptr, options);
    ASSERT_TRUE(comm.ok()) << comm.status().toString();
    comms[r] = *comm;
  }
  std::vector<std::thread> threads;
  for (int r = 0; r < N; ++r) {
    threads.emplace_back([&, r] {
      body(*comms[r]);
      comms[r].reset();
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace isthmus::testing
