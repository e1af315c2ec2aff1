// Communicator::create / fromEnv: build the UCX transports (a CPU group per center, a world
// transport with striped lanes between centers) and hand them to createFromTransports.
#include <atomic>

#include "collectives/communicator.h"
#include "collectives/communicator_impl.h"
#include "runtime/identity.h"
#include "runtime/store/store.h"
#include "runtime/store/tcp_store.h"
#include "runtime/topology.h"
#include "runtime/transport/ucx/topology_links.h"
#include "runtime/transport/ucx/ucx_transport.h"

namespace isthmus::coll {

namespace {
// Communicators created by this process, in order: every rank creates its communicators in the
// same order, so the n-th one of every rank shares the store prefix "isthmus/comm<n>".
std::atomic<int> gCommunicators{0};

std::vector<std::string> codecNames() {
  return {"fp32", "fp16", "bf16", "int8", "int4", "topk", "fp8"};
}
}  // namespace

Result<std::shared_ptr<Communicator>> Communicator::create(const Identity& identity,
                                                           const Topology& topology,
                                                           std::shared_ptr<Store> store,
                                                           const CommunicatorOptions& options) {
  if (identity.worldSize != topology.worldSize()) {
    return invalidArgumentError("identity says WORLD_SIZE=", identity.worldSize,
                                " but the topology has ", topology.worldSize(), " ranks");
  }
  if (!store && topology.worldSize() > 1) {
    return invalidArgumentError("a store is needed for ", topology.worldSize(), " ranks");
  }
  const int rank = identity.rank;
  const int center = topology.centerOf(rank);
  const std::string prefix = strCat("isthmus/comm", gCommunicators.fetch_add(1));
  const Deadline deadline = Deadline::afterSeconds(options.timeoutSeconds);
  const std::string jobId = identity.jobId.empty() ? topology.jobId() : identity.jobId;
  const double peerTimeout = std::min(10.0, std::max(2.0, options.timeoutSeconds));

  std::unique_ptr<Transport> intra, world;
  if (topology.centerSize(center) > 1) {
    UcxTransportOptions o;
    o.rank = topology.localRank(rank);
    o.size = topology.centerSize(center);
    o.center = center;
    o.store = makePrefixStore(store, strCat(prefix, "/intra", center));
    o.jobId = jobId;
    o.codecs = codecNames();
    o.peerTimeoutSeconds = peerTimeout;
    auto t = UcxTransport::createCpuGroup(std::move(o), deadline);
    if (!t.ok()) return t.status().withContext(strCat(identity.describe(), " intra-center group"));
    intra = std::move(t).value();
  }
  if (topology.numCenters() > 1) {
    UcxTransportOptions o;
    o.rank = rank;
    o.size = topology.worldSize();
    o.center = center;
    o.store = makePrefixStore(store, strCat(prefix, "/world"));
    o.jobId = jobId;
    o.codecs = codecNames();
    o.tls = "tcp";
    o.peerTimeoutSeconds = peerTimeout;
    TopologyLinkOptions links;
    links.chunkBytes = o.chunkBytes;
    links.lanes = options.lanesPerPeer;
    ISTHMUS_ASSIGN_OR_RETURN(links.congestion, chooseTcpCongestion(""));
    o.tcpCongestion = links.congestion;
    // In the hierarchical allreduce every rank of a center drives its own stream across the link.
    links.sharers = topology.centerSize(center);
    // Only control traffic travels between same-center ranks here: links.sameCenter, one lane.
    // No declared link: a link between centers is long by definition (DESIGN.md), and over a
    // long link UCX's rendezvous costs two round trips per chunk (docs/BENCHMARKS.md,
    // Transport): send eagerly.
    links.noLink.lanes = kLossBasedLanes;
    links.noLink.eager = true;
    std::vector<int> everyRank(topology.worldSize());
    for (int r = 0; r < topology.worldSize(); ++r) everyRank[r] = r;
    o.linkFor = linkParamsFromTopology(topology, everyRank, rank, links);
    auto t = UcxTransport::create(std::move(o), deadline);
    if (!t.ok())
      return t.status().withContext(strCat(identity.describe(), " inter-center transport"));
    world = std::move(t).value();
  }
  return createFromTransports(rank, topology, std::move(intra), std::move(world), options);
}

Result<std::shared_ptr<Communicator>> Communicator::fromEnv(const CommunicatorOptions& options) {
  ISTHMUS_ASSIGN_OR_RETURN(Topology topology, topologyFromEnv());
  ISTHMUS_ASSIGN_OR_RETURN(Identity identity, identityFromEnv(&topology));
  std::shared_ptr<Store> store;
  if (topology.worldSize() > 1) {
    ISTHMUS_ASSIGN_OR_RETURN(store,
                             connectStoreFromEnv(Deadline::afterSeconds(options.timeoutSeconds)));
  }
  return create(identity, topology, std::move(store), options);
}

}  // namespace isthmus::coll
