// Topology: which ranks live in which center, and what the links between centers look like.
//
// A Topology is loaded from a topology file (the schema is runtime/proto/topology.proto, written
// in protobuf text format or JSON; docs/topology.md shows it by example) or built from a list of
// center sizes. Every factory validates before it returns: a Topology that exists is consistent
// (at least one center, unique names, rank ranges covering 0..N-1 exactly once, links between
// known centers with sane numbers). Validation errors are kInvalidArgument and name the field
// path and the problem, e.g. `links[2].bandwidth_gbps: must be > 0, got -1`; all problems found
// are reported, separated by "; ".
//
// A Topology is immutable and cheap enough to copy; any thread may call its const methods.
// Accessors taking a rank or center index require it to be in range (a bug otherwise: they abort
// through ISTHMUS_CHECK).
//
// Words: a center's ranks are the contiguous range [firstRank(c), firstRank(c) + centerSize(c));
// a rank's local rank is its index inside its center. Center ranges need not be in center order.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/proto/topology.pb.h"

namespace isthmus {

// One direction of a link between two centers, with defaults applied.
struct LinkSpec {
  double bandwidthGbps = 0;  // > 0, Gbit/s
  double rttMs = 0;          // >= 0, round trip
  int lanes = 0;             // 1..Topology::kMaxLanes parallel flows per rank pair
  double lossPercent = 0;    // [0, 100)
  double jitterMs = 0;       // >= 0
  // Whether the file set `lanes` (on the link or in default_link). When it did not, `lanes` is
  // kDefaultLanes and the transport may choose its own count (runtime/transport/ucx/
  // ucx_transport.h, linkParamsFromRate).
  bool lanesDeclared = false;

  double bytesPerSecond() const { return bandwidthGbps * 1e9 / 8.0; }
  // Bandwidth-delay product in bytes: what must be in flight to fill the link.
  double bdpBytes() const { return bytesPerSecond() * rttMs / 1e3; }
  bool operator==(const LinkSpec& o) const {
    return bandwidthGbps == o.bandwidthGbps && rttMs == o.rttMs && lanes == o.lanes &&
           lossPercent == o.lossPercent && jitterMs == o.jitterMs;
  }
};

class Topology {
 public:
  static constexpr int kMaxLanes = 256;
  static constexpr int kDefaultLanes = 4;    // when neither the link nor default_link sets lanes
  static constexpr int kMaxRanks = 1 << 20;  // a sanity bound on rank numbers
  static constexpr int kMaxNameLength = 64;

  // Loads a file: text format for .textproto/.pbtxt/.txtpb/.prototxt, JSON for .json; any other
  // extension is sniffed (a first non-blank character '{' means JSON). Errors name the path.
  static Result<Topology> fromFile(const std::string& path);
  static Result<Topology> fromTextProto(const std::string& text);
  static Result<Topology> fromJson(const std::string& json);
  static Result<Topology> fromProto(const proto::Topology& proto);
  // `centers` centers named "c0", "c1", ... of `ranksPerCenter` ranks each, ranks contiguous.
  static Result<Topology> uniform(int centers, int ranksPerCenter);
  // Center i named "ci" has ranksPerCenter[i] ranks; ranks contiguous in center order.
  static Result<Topology> fromRanksPerCenter(const std::vector<int>& ranksPerCenter);

  int numCenters() const { return static_cast<int>(centers_.size()); }
  int worldSize() const { return static_cast<int>(centerOfRank_.size()); }
  int centerOf(int rank) const;
  int localRank(int rank) const;
  int centerSize(int center) const;
  int firstRank(int center) const;
  int globalRank(int center, int localRank) const;
  std::vector<int> centerSizes() const;  // in center order
  const std::string& centerName(int center) const;
  // kInvalidArgument naming the known centers when there is no center called `name`.
  Result<int> centerIndex(const std::string& name) const;
  const std::vector<std::string>& centerHosts(int center) const;
  // The center whose host list holds `hostname` (exact match, or equal short names when one of
  // the two has no domain); nullopt when no center lists it.
  std::optional<int> centerOfHost(const std::string& hostname) const;

  // The link from center a to center b: the declared link (either direction unless one_way),
  // else default_link when it sets bandwidth and RTT, else nullopt. Always nullopt for a == b.
  std::optional<LinkSpec> link(int a, int b) const;

  const std::string& jobId() const { return proto_.job_id(); }
  // The validated proto, with derived rank ranges filled in for centers that gave only hosts.
  const proto::Topology& proto() const { return proto_; }
  // Multi-line human-readable summary: centers with their ranks and hosts, then links.
  std::string describe() const;

 private:
  struct CenterInfo {
    std::string name;
    int firstRank = 0;
    int size = 0;
    std::vector<std::string> hosts;
  };
  Topology() = default;
  friend class TopologyBuilder;

  proto::Topology proto_;
  std::vector<CenterInfo> centers_;
  std::vector<int> centerOfRank_;
  // links_[a * numCenters() + b]: the a->b direction, after defaults.
  std::vector<std::optional<LinkSpec>> links_;
  std::vector<bool> declaredLink_;  // same index: declared in links (not only default_link)
};

}  // namespace isthmus
