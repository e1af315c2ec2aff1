#include "tools/launcher/wan_setup.h"

#include "runtime/topology.h"

#ifdef ISTHMUS_LAUNCHER_HAVE_WANEM
#include "tools/wanem/wan_emulation.h"
#include "tools/wanem/wan_topology.h"
#endif

namespace isthmus::launcher {

#ifdef ISTHMUS_LAUNCHER_HAVE_WANEM
namespace {

class WanemSetup : public WanSetup {
 public:
  explicit WanemSetup(std::unique_ptr<wanem::WanEmulation> em) : em_(std::move(em)) {}
  ~WanemSetup() override {
    Status st = stop();
    (void)st;
  }
  std::string netnsPath(int center) const override { return em_->netnsPath(center); }
  std::string address(int center) const override { return em_->address(center); }
  std::string describe() const override { return em_->spec().toString(); }
  std::string emulatedTopologyText(const Topology& topology) const override {
    std::string text = "# Written by isthmus-run for an emulated WAN: " + describe() + "\n";
    for (int c = 0; c < topology.numCenters(); ++c) {
      text += strCat("centers { name: \"", topology.centerName(c),
                     "\" ranks { first: ", topology.firstRank(c),
                     " count: ", topology.centerSize(c), " } }\n");
    }
    for (int a = 0; a < topology.numCenters(); ++a) {
      for (int b = a + 1; b < topology.numCenters(); ++b) {
        const wanem::LinkParams& l = em_->spec().link(a, b);
        text += strCat("links { a: \"", topology.centerName(a), "\" b: \"", topology.centerName(b),
                       "\" bandwidth_gbps: ", l.rateBitsPerSec / 1e9, " rtt_ms: ", l.rttMs,
                       " jitter_ms: ", l.jitterMs, " loss_percent: ", l.lossRate * 100.0);
        // Lanes stay what the user's topology said, else the transport chooses them.
        auto declared = topology.link(a, b);
        if (declared && declared->lanesDeclared) text += strCat(" lanes: ", declared->lanes);
        text += " }\n";
      }
    }
    return text;
  }
  Status stop() override { return em_->stop(); }

 private:
  std::unique_ptr<wanem::WanEmulation> em_;
};

}  // namespace

Result<std::unique_ptr<WanSetup>> WanSetup::start(int numCenters, const std::string& spec,
                                                  const Topology& topology) {
  auto parsed = wanem::parseWanSpec(spec);
  if (!parsed.ok()) return parsed.status().withContext("--wan");
  // The topology's links override the spec's defaults for their pair; per-pair sections
  // written in --wan itself ("0-1:rate=...") win over both.
  wanem::WanSpec wan = wanem::wanSpecFromTopology(*parsed, topology);
  for (const auto& [pair, link] : parsed->perPair) wan.perPair[pair] = link;
  ISTHMUS_RETURN_IF_ERROR(wanem::validateWanSpec(wan, numCenters).withContext("--wan"));
  ISTHMUS_ASSIGN_OR_RETURN(auto em, wanem::WanEmulation::start(numCenters, wan));
  return std::unique_ptr<WanSetup>(new WanemSetup(std::move(em)));
}

#else

Result<std::unique_ptr<WanSetup>> WanSetup::start(int numCenters, const std::string& spec,
                                                  const Topology& topology) {
  return notSupportedError(
      "--wan is not available in this build: isthmus-run was built without tools/wanem");
}

#endif

}  // namespace isthmus::launcher
