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
  // Communicators are made on their rank's thread: creation is collective (it probes the
  // center's intra tier), so ranks must start together.
  std::vector<std::unique_ptr<Transport>> intraOf(N), worldOf(N);
  for (int r = 0; r < N; ++r) {
    const int c = topo->centerOf(r), l = topo->localRank(r);
    if (centerSizes[c] > 1) intraOf[r] = std::move(intra[c][l]);
    if (C > 1) worldOf[r] = std::move(world[r]);
  }
  std::vector<std::thread> threads;
  for (int r = 0; r < N; ++r) {
    threads.emplace_back([&, r] {
      auto comm = coll::createFromTransports(r, *topo, std::move(intraOf[r]), std::move(worldOf[r]),
                                             options);
      ASSERT_TRUE(comm.ok()) << comm.status().toString();
      body(**comm);
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace isthmus::testing
