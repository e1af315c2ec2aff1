#include "runtime/topology.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace isthmus {
namespace {

constexpr size_t kMaxReportedErrors = 20;

std::string joinErrors(const std::vector<std::string>& errors) {
  std::string out;
  for (size_t i = 0; i < errors.size() && i < kMaxReportedErrors; ++i) {
    if (i > 0) out += "; ";
    out += errors[i];
  }
  if (errors.size() > kMaxReportedErrors) {
    out += strCat("; and ", errors.size() - kMaxReportedErrors, " more");
  }
  return out;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class TextErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    // protobuf counts lines and columns from 0; editors count from 1.
    std::string text = message;
    if (endsWith(text, "got: ")) text += "end of file";
    errors.push_back(strCat("line ", line + 1, ", column ", column + 1, ": ", text));
  }
  std::vector<std::string> errors;
};

Status parseText(const std::string& text, proto::Topology* out) {
  google::protobuf::TextFormat::Parser parser;
  TextErrors errors;
  parser.RecordErrorsTo(&errors);
  if (parser.ParseFromString(text, out)) return okStatus();
  if (errors.errors.empty()) return invalidArgumentError("text format parse error");
  return invalidArgumentError("text format parse error at ", joinErrors(errors.errors));
}

Status parseJson(const std::string& json, proto::Topology* out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(json, out, options);
  if (status.ok()) return okStatus();
  return invalidArgumentError("JSON parse error: ", std::string(status.message()));
}

bool looksLikeJson(const std::string& text) {
  for (char ch : text) {
    if (std::isspace(static_cast<unsigned char>(ch))) continue;
    return ch == '{';
  }
  return false;
}

std::string formatNumber(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// Checks the properties Link and LinkDefaults share (same field names in both messages).
template <typename M>
void checkLinkProperties(const std::string& path, const M& m, std::vector<std::string>* errors) {
  auto bad = [&](const char* field, const std::string& problem) {
    errors->push_back(strCat(path, ".", field, ": ", problem));
  };
  if (m.has_bandwidth_gbps()) {
    double v = m.bandwidth_gbps();
    if (!std::isfinite(v) || v <= 0) bad("bandwidth_gbps", "must be > 0, got " + formatNumber(v));
  }
  if (m.has_rtt_ms()) {
    double v = m.rtt_ms();
    if (!std::isfinite(v) || v < 0) bad("rtt_ms", "must be >= 0, got " + formatNumber(v));
  }
  if (m.has_lanes() && (m.lanes() == 0 || m.lanes() > static_cast<uint32_t>(Topology::kMaxLanes))) {
    bad("lanes", strCat("must be in 1..", Topology::kMaxLanes, " (the limit), got ", m.lanes()));
  }
  if (m.has_loss_percent()) {
    double v = m.loss_percent();
    if (!(v >= 0 && v < 100)) bad("loss_percent", "must be in [0, 100), got " + formatNumber(v));
  }
  if (m.has_jitter_ms()) {
    double v = m.jitter_ms();
    if (!std::isfinite(v) || v < 0) bad("jitter_ms", "must be >= 0, got " + formatNumber(v));
  }
}

// Problem with a center name, or "" when it is fine.
std::string nameProblem(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name.size() > static_cast<size_t>(Topology::kMaxNameLength)) {
    return strCat("is ", name.size(), " characters long; the limit is ", Topology::kMaxNameLength);
  }
  bool allDigits = true;
  for (char ch : name) {
    bool ok = std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
    if (!ok) {
      return strCat(quoted(name), " has the character '", ch,
                    "'; use letters, digits, '-', '_' and '.'");
    }
    if (!std::isdigit(static_cast<unsigned char>(ch))) allDigits = false;
  }
  if (allDigits) {
    return strCat(quoted(name), " is all digits, which ISTHMUS_CENTER would read as an index");
  }
  return "";
}

std::string shortName(const std::string& host) { return host.substr(0, host.find('.')); }

}  // namespace

// Validates a proto::Topology and builds the Topology, collecting every problem it finds.
class TopologyBuilder {
 public:
  static Result<Topology> build(const proto::Topology& in) {
    TopologyBuilder b(in);
    b.checkCenters();
    if (b.errors_.empty()) b.checkRankCoverage();
    b.checkLinks();
    if (!b.errors_.empty()) return invalidArgumentError(joinErrors(b.errors_));
    b.fillLinks();
    return std::move(b.topo_);
  }

 private:
  explicit TopologyBuilder(const proto::Topology& in) { topo_.proto_ = in; }

  const proto::Topology& in() const { return topo_.proto_; }
  void error(const std::string& path, const std::string& problem) {
    errors_.push_back(path + ": " + problem);
  }

  void checkCenters() {
    if (in().centers_size() == 0) {
      error("centers", "no centers; a topology needs at least one");
      return;
    }
    std::map<std::string, int> hostOwner;
    int64_t previousEnd = 0;
    for (int i = 0; i < in().centers_size(); ++i) {
      const proto::Center& c = in().centers(i);
      const std::string p = strCat("centers[", i, "]");
      std::string problem = nameProblem(c.name());
      if (!problem.empty()) {
        error(p + ".name", problem);
      } else if (names_.count(c.name())) {
        int j = names_[c.name()];
        error(p + ".name", strCat("duplicate name ", quoted(c.name()), " (also centers[", j, "])"));
      } else {
        names_[c.name()] = i;
      }
      for (int h = 0; h < c.hosts_size(); ++h) {
        const std::string& host = c.hosts(h);
        const std::string hp = strCat(p, ".hosts[", h, "]");
        if (host.empty()) {
          error(hp, "is empty");
        } else if (hostOwner.count(host)) {
          int j = hostOwner[host];
          error(hp, strCat("host ", quoted(host), " is already in center ",
                           quoted(in().centers(j).name()), " (centers[", j, "])"));
        } else {
          hostOwner[host] = i;
        }
      }
      Topology::CenterInfo info;
      info.name = c.name();
      info.hosts.assign(c.hosts().begin(), c.hosts().end());
      if (c.ranks_per_host() > static_cast<uint32_t>(Topology::kMaxRanks)) {
        error(p + ".ranks_per_host",
              strCat("must be <= ", Topology::kMaxRanks, ", got ", c.ranks_per_host()));
        continue;
      }
      int64_t first = 0;
      int64_t count = 0;
      if (c.has_ranks()) {
        first = c.ranks().first();
        count = c.ranks().count();
        if (count == 0) {
          error(p + ".ranks.count",
                c.hosts().empty()
                    ? strCat("must be > 0, got 0: center ", quoted(c.name()), " would be empty")
                    : "must be > 0, got 0 (omit ranks to derive them from hosts)");
          continue;
        }
        if (first + count > Topology::kMaxRanks) {
          error(p + ".ranks", strCat("ranks ", first, "..", first + count - 1,
                                     " exceed the limit of ", Topology::kMaxRanks, " ranks"));
          continue;
        }
        if (c.ranks_per_host() > 0 && !c.hosts().empty() &&
            count != static_cast<int64_t>(c.hosts_size()) * c.ranks_per_host()) {
          error(p + ".ranks_per_host",
                strCat(c.hosts_size(), " hosts x ", c.ranks_per_host(), " ranks per host = ",
                       c.hosts_size() * static_cast<int64_t>(c.ranks_per_host()),
                       " ranks, but ranks.count is ", count));
        }
      } else if (c.hosts().empty()) {
        error(p, strCat("center ", quoted(c.name()),
                        " has neither ranks nor hosts; give ranks { first count } or hosts"));
        continue;
      } else {
        first = previousEnd;
        count = static_cast<int64_t>(c.hosts_size()) * std::max<uint32_t>(1, c.ranks_per_host());
        if (first + count > Topology::kMaxRanks) {
          error(p + ".hosts", strCat("ranks derived from hosts (", first, "..", first + count - 1,
                                     ") exceed the limit of ", Topology::kMaxRanks, " ranks"));
          continue;
        }
        proto::RankRange* r = topo_.proto_.mutable_centers(i)->mutable_ranks();
        r->set_first(static_cast<uint32_t>(first));
        r->set_count(static_cast<uint32_t>(count));
      }
      previousEnd = first + count;
      info.firstRank = static_cast<int>(first);
      info.size = static_cast<int>(count);
      topo_.centers_.push_back(std::move(info));
    }
  }

  // Every rank in 0..N-1 (N = the sum of the counts) must be in exactly one center.
  void checkRankCoverage() {
    int64_t total = 0;
    int end = 0;
    for (const auto& c : topo_.centers_) {
      total += c.size;
      end = std::max(end, c.firstRank + c.size);
    }
    std::vector<int> owner(static_cast<size_t>(end), -1);
    bool overlap = false;
    for (int i = 0; i < static_cast<int>(topo_.centers_.size()); ++i) {
      const auto& c = topo_.centers_[i];
      for (int r = c.firstRank; r < c.firstRank + c.size; ++r) {
        if (owner[r] >= 0) {
          error(strCat("centers[", i, "].ranks"),
                strCat("rank ", r, " is already in center ", quoted(topo_.centers_[owner[r]].name),
                       " (centers[", owner[r], "])"));
          overlap = true;
          break;
        }
        owner[r] = i;
      }
    }
    if (overlap) return;
    for (int r = 0; r < end; ++r) {
      if (owner[r] < 0) {
        error("centers", strCat("rank ", r, " is in no center; the ranks must cover 0..", total - 1,
                                " (the counts sum to ", total, ") without gaps"));
        return;
      }
    }
    topo_.centerOfRank_ = std::move(owner);
  }

  void checkLinks() {
    const proto::LinkDefaults& d = in().default_link();
    checkLinkProperties("default_link", d, &errors_);
    const int n = in().centers_size();
    std::vector<int> declaredBy(static_cast<size_t>(n) * n, -1);
    for (int i = 0; i < in().links_size(); ++i) {
      const proto::Link& l = in().links(i);
      const std::string p = strCat("links[", i, "]");
      int a = endpoint(p + ".a", l.a());
      int b = endpoint(p + ".b", l.b());
      checkLinkProperties(p, l, &errors_);
      if (!l.has_bandwidth_gbps() && !d.has_bandwidth_gbps()) {
        error(p + ".bandwidth_gbps", "missing, and default_link sets none");
      }
      if (!l.has_rtt_ms() && !d.has_rtt_ms())
        error(p + ".rtt_ms", "missing, and default_link sets none");
      if (a < 0 || b < 0) continue;
      if (a == b) {
        error(p,
              strCat("a and b are both ", quoted(l.a()), "; a link joins two different centers"));
        continue;
      }
      const char* arrow = l.one_way() ? " -> " : " <-> ";
      for (auto [x, y] : {std::pair<int, int>{a, b}, std::pair<int, int>{b, a}}) {
        int& slot = declaredBy[static_cast<size_t>(x) * n + y];
        if (slot >= 0) {
          error(p, strCat("duplicate link ", quoted(l.a()), arrow, quoted(l.b()), ": links[", slot,
                          "] already declares ", quoted(in().centers(x).name()), " -> ",
                          quoted(in().centers(y).name())));
          break;
        }
        slot = i;
        if (l.one_way()) break;
      }
    }
    declaredBy_ = std::move(declaredBy);
  }

  // Index of the center a link endpoint names, or -1 after recording the problem.
  int endpoint(const std::string& path, const std::string& name) {
    if (name.empty()) {
      error(path, "is empty; name a center");
      return -1;
    }
    auto it = names_.find(name);
    if (it != names_.end()) return it->second;
    std::string known;
    for (const auto& c : in().centers()) known += (known.empty() ? "" : ", ") + quoted(c.name());
    error(path, strCat("unknown center ", quoted(name), " (centers: ", known, ")"));
    return -1;
  }

  void fillLinks() {
    const int n = static_cast<int>(topo_.centers_.size());
    const proto::LinkDefaults& d = in().default_link();
    LinkSpec fallback;
    fallback.bandwidthGbps = d.bandwidth_gbps();
    fallback.rttMs = d.rtt_ms();
    fallback.lanes = d.has_lanes() ? static_cast<int>(d.lanes()) : Topology::kDefaultLanes;
    fallback.lanesDeclared = d.has_lanes();
    fallback.lossPercent = d.loss_percent();
    fallback.jitterMs = d.jitter_ms();
    const bool defaultIsLink = d.has_bandwidth_gbps() && d.has_rtt_ms();
    topo_.links_.assign(static_cast<size_t>(n) * n, std::nullopt);
    topo_.declaredLink_.assign(static_cast<size_t>(n) * n, false);
    for (int a = 0; a < n; ++a) {
      for (int b = 0; b < n; ++b) {
        if (a == b) continue;
        size_t idx = static_cast<size_t>(a) * n + b;
        int i = declaredBy_[idx];
        if (i < 0) {
          if (defaultIsLink) topo_.links_[idx] = fallback;
          continue;
        }
        const proto::Link& l = in().links(i);
        LinkSpec s = fallback;
        if (l.has_bandwidth_gbps()) s.bandwidthGbps = l.bandwidth_gbps();
        if (l.has_rtt_ms()) s.rttMs = l.rtt_ms();
        if (l.has_lanes()) {
          s.lanes = static_cast<int>(l.lanes());
          s.lanesDeclared = true;
        }
        if (l.has_loss_percent()) s.lossPercent = l.loss_percent();
        if (l.has_jitter_ms()) s.jitterMs = l.jitter_ms();
        topo_.links_[idx] = s;
        topo_.declaredLink_[idx] = true;
      }
    }
  }

  Topology topo_;
  std::vector<std::string> errors_;
  std::map<std::string, int> names_;
  std::vector<int> declaredBy_;
};

Result<Topology> Topology::fromProto(const proto::Topology& proto) {
  auto result = TopologyBuilder::build(proto);
  if (!result.ok()) return result.status().withContext("invalid topology");
  return result;
}

Result<Topology> Topology::fromTextProto(const std::string& text) {
  proto::Topology proto;
  ISTHMUS_RETURN_IF_ERROR(parseText(text, &proto).withContext("invalid topology"));
  return fromProto(proto);
}

Result<Topology> Topology::fromJson(const std::string& json) {
  proto::Topology proto;
  ISTHMUS_RETURN_IF_ERROR(parseJson(json, &proto).withContext("invalid topology"));
  return fromProto(proto);
}

Result<Topology> Topology::fromFile(const std::string& path) {
  const std::string context = strCat("topology file ", quoted(path));
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return invalidArgumentError(context, ": is a directory, not a topology file");
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return invalidArgumentError(context, ": cannot open: ", std::strerror(errno));
  }
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return invalidArgumentError(context, ": read failed: ", std::strerror(errno));
  const std::string text = contents.str();
  bool json;
  if (endsWith(path, ".json")) {
    json = true;
  } else if (endsWith(path, ".textproto") || endsWith(path, ".pbtxt") || endsWith(path, ".txtpb") ||
             endsWith(path, ".prototxt")) {
    json = false;
  } else {
    json = looksLikeJson(text);
  }
  proto::Topology proto;
  ISTHMUS_RETURN_IF_ERROR(
      (json ? parseJson(text, &proto) : parseText(text, &proto)).withContext(context));
  auto result = TopologyBuilder::build(proto);
  if (!result.ok()) return result.status().withContext(context);
  return result;
}

Result<Topology> Topology::fromRanksPerCenter(const std::vector<int>& ranksPerCenter) {
  if (ranksPerCenter.empty()) {
    return invalidArgumentError(
        "invalid topology: centers: no centers; a topology needs at least one");
  }
  proto::Topology proto;
  int64_t first = 0;
  for (size_t i = 0; i < ranksPerCenter.size(); ++i) {
    const int k = ranksPerCenter[i];
    if (k <= 0) {
      return invalidArgumentError("invalid topology: center ", i, " (c", i,
                                  "): ranks per center must be > 0, got ", k);
    }
    if (first + k > kMaxRanks) {
      return invalidArgumentError("invalid topology: more than ", kMaxRanks, " ranks");
    }
    proto::Center* c = proto.add_centers();
    c->set_name(strCat("c", i));
    c->mutable_ranks()->set_first(static_cast<uint32_t>(first));
    c->mutable_ranks()->set_count(static_cast<uint32_t>(k));
    first += k;
  }
  return fromProto(proto);
}

Result<Topology> Topology::uniform(int centers, int ranksPerCenter) {
  if (centers <= 0) {
    return invalidArgumentError("invalid topology: number of centers must be > 0, got ", centers);
  }
  if (ranksPerCenter <= 0) {
    return invalidArgumentError("invalid topology: ranks per center must be > 0, got ",
                                ranksPerCenter);
  }
  if (static_cast<int64_t>(centers) * ranksPerCenter > kMaxRanks) {
    return invalidArgumentError("invalid topology: ", centers, " x ", ranksPerCenter,
                                " ranks exceed the limit of ", kMaxRanks);
  }
  return fromRanksPerCenter(std::vector<int>(static_cast<size_t>(centers), ranksPerCenter));
}

int Topology::centerOf(int rank) const {
  ISTHMUS_CHECK(rank >= 0 && rank < worldSize(),
                strCat("rank ", rank, " out of 0..", worldSize() - 1));
  return centerOfRank_[rank];
}

int Topology::localRank(int rank) const { return rank - centers_[centerOf(rank)].firstRank; }

int Topology::centerSize(int center) const {
  ISTHMUS_CHECK(center >= 0 && center < numCenters(), strCat("center ", center, " out of range"));
  return centers_[center].size;
}

int Topology::firstRank(int center) const {
  ISTHMUS_CHECK(center >= 0 && center < numCenters(), strCat("center ", center, " out of range"));
  return centers_[center].firstRank;
}

int Topology::globalRank(int center, int localRank) const {
  ISTHMUS_CHECK(localRank >= 0 && localRank < centerSize(center),
                strCat("local rank ", localRank, " out of range for center ", center));
  return centers_[center].firstRank + localRank;
}

std::vector<int> Topology::centerSizes() const {
  std::vector<int> sizes;
  for (const auto& c : centers_) sizes.push_back(c.size);
  return sizes;
}

const std::string& Topology::centerName(int center) const {
  ISTHMUS_CHECK(center >= 0 && center < numCenters(), strCat("center ", center, " out of range"));
  return centers_[center].name;
}

Result<int> Topology::centerIndex(const std::string& name) const {
  std::string known;
  for (int c = 0; c < numCenters(); ++c) {
    if (centers_[c].name == name) return c;
    known += (known.empty() ? "" : ", ") + quoted(centers_[c].name);
  }
  return invalidArgumentError("unknown center ", quoted(name), " (centers: ", known, ")");
}

const std::vector<std::string>& Topology::centerHosts(int center) const {
  ISTHMUS_CHECK(center >= 0 && center < numCenters(), strCat("center ", center, " out of range"));
  return centers_[center].hosts;
}

std::optional<int> Topology::centerOfHost(const std::string& hostname) const {
  if (hostname.empty()) return std::nullopt;
  for (int c = 0; c < numCenters(); ++c) {
    for (const auto& h : centers_[c].hosts) {
      if (h == hostname) return c;
    }
  }
  // "node1" matches "node1.site.org" and the other way round, never two different domains.
  for (int c = 0; c < numCenters(); ++c) {
    for (const auto& h : centers_[c].hosts) {
      bool oneShort = h.find('.') == std::string::npos || hostname.find('.') == std::string::npos;
      if (oneShort && shortName(h) == shortName(hostname)) return c;
    }
  }
  return std::nullopt;
}

std::optional<LinkSpec> Topology::link(int a, int b) const {
  ISTHMUS_CHECK(a >= 0 && a < numCenters() && b >= 0 && b < numCenters(),
                strCat("link(", a, ", ", b, ") out of range"));
  return links_[static_cast<size_t>(a) * numCenters() + b];
}

namespace {
std::string describeLink(const LinkSpec& s) {
  return strCat(formatNumber(s.bandwidthGbps), " Gbit/s, rtt ", formatNumber(s.rttMs), " ms, ",
                s.lanes, s.lanes == 1 ? " lane" : " lanes", ", loss ", formatNumber(s.lossPercent),
                "%, jitter ", formatNumber(s.jitterMs), " ms");
}
}  // namespace

std::string Topology::describe() const {
  std::ostringstream os;
  os << "topology";
  if (!jobId().empty()) os << " of job " << quoted(jobId());
  os << ": " << numCenters() << (numCenters() == 1 ? " center, " : " centers, ") << worldSize()
     << (worldSize() == 1 ? " rank" : " ranks");
  if (!proto_.description().empty()) os << " (" << proto_.description() << ")";
  os << "\n";
  for (int c = 0; c < numCenters(); ++c) {
    const CenterInfo& info = centers_[c];
    os << "  center " << c << " " << quoted(info.name) << ": ";
    if (info.size == 1) {
      os << "rank " << info.firstRank;
    } else {
      os << "ranks " << info.firstRank << ".." << info.firstRank + info.size - 1 << " ("
         << info.size << ")";
    }
    if (!info.hosts.empty()) {
      os << ", hosts";
      for (const auto& h : info.hosts) os << " " << h;
    }
    os << "\n";
  }
  const int n = numCenters();
  for (int a = 0; a < n; ++a) {
    for (int b = a + 1; b < n; ++b) {
      const auto& ab = links_[static_cast<size_t>(a) * n + b];
      const auto& ba = links_[static_cast<size_t>(b) * n + a];
      auto tag = [&](int x, int y) {
        return declaredLink_[static_cast<size_t>(x) * n + y] ? "" : " (default)";
      };
      const std::string na = quoted(centers_[a].name);
      const std::string nb = quoted(centers_[b].name);
      if (ab && ba && *ab == *ba) {
        os << "  link " << na << " <-> " << nb << ": " << describeLink(*ab) << tag(a, b) << "\n";
        continue;
      }
      if (ab)
        os << "  link " << na << " -> " << nb << ": " << describeLink(*ab) << tag(a, b) << "\n";
      if (ba)
        os << "  link " << nb << " -> " << na << ": " << describeLink(*ba) << tag(b, a) << "\n";
      if (!ab && !ba) os << "  link " << na << " <-> " << nb << ": not declared\n";
    }
  }
  std::string out = os.str();
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace isthmus
