#include "collectives/plan_description.h"

#include <optional>
#include <sstream>
#include <vector>

#include "collectives/algorithms.h"
#include "collectives/hier_layout.h"
#include "kernels/codec.h"
#include "runtime/core/format.h"

namespace isthmus::coll {

std::string describeAllreducePlan(const PlanInputs& in) {
  const Topology& topology = *in.topology;
  const int center = in.center, local = in.local;
  const size_t count = in.count;
  const DType dtype = in.dtype;
  const int C = topology.numCenters();
  std::vector<int> sizes = topology.centerSizes();
  HierLayout L(sizes, center, local, count, in.chunkElems);
  std::ostringstream os;
  AllreduceQuery q{count, dtype, MemoryKind::kHost, C, topology.worldSize(), false};
  auto alg = selectAllreduce(q);
  os << in.who << " allreduce of " << count << " x " << dtypeName(dtype) << " ("
     << humanBytes(static_cast<double>(count) * dtypeSize(dtype)) << ")\n";
  os << "  algorithm: " << (alg.ok() ? *alg : alg.status().toString()) << "\n";
  os << "  topology: " << C << " center(s) of [";
  for (size_t c = 0; c < sizes.size(); ++c) os << (c ? "," : "") << sizes[c];
  os << "] ranks; " << L.numSlots() << " slot(s) per chunk\n";
  os << "  pipeline: " << L.numChunks() << " chunk(s) of up to " << L.chunkElems()
     << " elements, at most " << in.windowChunks << " in flight\n";
  const int k = topology.centerSize(center);
  const std::string tier = in.intraCma ? strCat("cross-memory attach among ", k,
                                                " ranks (each sums its segment in fp32)")
                                       : strCat("ring over ", k, " ranks, fp32 partials");
  os << "  1. intra reduce-scatter: "
     << (k > 1 ? tier : std::string("none (one rank in this center)")) << "; this rank owns slots ["
     << L.firstSlot(center, local) << ", " << L.lastSlot(center, local) << ") of each chunk ("
     << L.residual1Size() << " elements in all)\n";
  if (C > 1) {
    auto codec = kernels::Codec::create(in.interCodec);
    std::string name = codec.ok() ? codec->spec().toString() : codec.status().toString();
    size_t sent = 0;
    if (codec.ok()) {
      for (size_t i = 0; i < L.numChunks(); ++i) {
        for (int j = L.firstSlot(center, local); j < L.lastSlot(center, local); ++j) {
          for (int p = 0; p < C; ++p) {
            size_t n = L.piece(i, j, p).size();
            if (p != center && n) sent += codec->maxEncodedBytes(n, DType::kFloat32);
          }
          size_t mine = L.piece(i, j, center).size();
          if (mine) sent += (C - 1) * codec->maxEncodedBytes(mine, DType::kFloat32);
        }
      }
    }
    os << "  2. inter exchange per slot among the slot's owners in " << C << " centers: codec "
       << name
       << ", encode once (EF residual 1) -> all-to-all -> owner decode-accumulates in fp32 in "
          "center order -> re-encode once (EF residual 2) -> all-gather; every rank decodes the "
          "same bytes\n";
    os << "     this rank sends " << humanBytes(static_cast<double>(sent))
       << " across centers; error feedback: "
       << (in.errorFeedbackKey.empty()
               ? std::string("off (no key)")
               : strCat("key '", in.errorFeedbackKey, "', ", L.residual1Size() + L.residual2Size(),
                        " fp32 residual elements"))
       << "\n";
    os << "     pacing:";
    bool any = false;
    for (int c = 0; c < C; ++c) {
      auto link = c == center ? std::nullopt : topology.link(center, c);
      if (!link || in.pacingFraction <= 0) continue;
      os << (any ? "," : "") << " to center " << c << " at "
         << humanBytes(link->bytesPerSecond() * in.pacingFraction / k) << "/s ("
         << in.pacingFraction << " of " << link->bandwidthGbps << " Gbit/s over " << k
         << " rank(s))";
      any = true;
    }
    os << (any ? "\n" : " off (no declared link, or pacingFraction 0)\n");
  } else {
    os << "  2. inter exchange: none (one center)\n";
  }
  os << "  3. intra all-gather: "
     << (k > 1 ? strCat(in.intraCma ? "cross-memory attach reads among " : "ring over ", k,
                        " ranks in ", dtypeName(dtype))
               : std::string("none"))
     << "\n";
  if (in.intra) os << "  intra transport: " << in.intra->describe() << "\n";
  if (in.world) os << "  world transport: " << in.world->describe() << "\n";
  return os.str();
}

}  // namespace isthmus::coll
