// isthmus-run: starts a multi-center job on this machine (see launcher_options.h and job.h).
#include <cstdio>
#include <string>
#include <vector>

#include "tools/launcher/job.h"
#include "tools/launcher/launcher_options.h"

int main(int argc, char** argv) {
  // Before any thread exists (the store's), so every thread inherits the blocked set.
  isthmus::launcher::blockLauncherSignals();
  std::vector<std::string> args(argv + 1, argv + argc);
  auto options = isthmus::launcher::parseLauncherArgs(args);
  if (!options.ok()) {
    std::fprintf(stderr, "isthmus-run: %s\n\n%s", options.status().message().c_str(),
                 isthmus::launcher::launcherUsage().c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(isthmus::launcher::launcherUsage().c_str(), stdout);
    return 0;
  }
  return isthmus::launcher::runJob(*options);
}
