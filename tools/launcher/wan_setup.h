// The launcher's view of WAN emulation (tools/wanem): one network namespace per center, joined by
// emulated links. Compiled against tools/wanem when the build has it; otherwise start() says
// that --wan is not available in this build.
//
// start() parses the --wan spec, overlays the links the topology gives (its declared links and
// default_link override the spec's defaults; per-pair sections of the spec win over both), and
// creates the namespaces. netnsPath(c) is what a rank of center c setns()es into before exec;
// address(c) is center c's address on the emulated WAN (the store listens on address(0) inside
// center 0). stop() tears everything down; the destructor calls it. One thread owns an instance.
#pragma once

#include <memory>
#include <string>

#include "runtime/core/status.h"

namespace isthmus {
class Topology;
}

namespace isthmus::launcher {

class WanSetup {
 public:
  static Result<std::unique_ptr<WanSetup>> start(int numCenters, const std::string& spec,
                                                 const Topology& topology);
  virtual ~WanSetup() = default;
  virtual std::string netnsPath(int center) const = 0;
  virtual std::string address(int center) const = 0;
  // One line for the launcher's banner: "rate=1gbit,rtt=40ms,..."
  virtual std::string describe() const = 0;
  // A topology (text format) with `topology`'s centers and a link per pair of centers carrying the
  // emulated rate, RTT, jitter and loss, so ranks size their lanes and windows from the link they
  // are really on. The launcher hands it to the ranks when the user gave no --topology.
  virtual std::string emulatedTopologyText(const Topology& topology) const = 0;
  virtual Status stop() = 0;
};

}  // namespace isthmus::launcher
