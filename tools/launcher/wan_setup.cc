#include "tools/launcher/wan_setup.h"

#include "runtime/topology.h"

#ifdef ISTHMUS_LAUNCHER_HAVE_WANEM
#include "tools/wanem/wan_emulation.h"
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
  Status stop() override { return em_->stop(); }

 private:
  std::unique_ptr<wanem::WanEmulation> em_;
};

}  // namespace

Result<std::unique_ptr<WanSetup>> WanSetup::start(int numCenters, const std::string& spec,
                                                  const Topology& topology) {
  auto parsed = wanem::parseWanSpec(spec);
  if (!parsed.ok()) return parsed.status().withContext("--wan");
  wanem::WanSpec wan = *parsed;
  // Links the topology declares override the spec's defaults for their pair.
  std::vector<wanem::PairLink> links;
  for (int a = 0; a < topology.numCenters(); ++a) {
    for (int b = a + 1; b < topology.numCenters(); ++b) {
      auto link = topology.link(a, b);
      if (!link) continue;
      wanem::PairLink p;
      p.a = a;
      p.b = b;
      p.bandwidthGbps = link->bandwidthGbps;
      p.rttMs = link->rttMs;
      p.lossPercent = link->lossPercent;
      p.jitterMs = link->jitterMs;
      links.push_back(p);
    }
  }
  if (!links.empty()) wan = wanem::wanSpecFromLinks(wan, links);
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
