// Job: one run of isthmus-run. Hosts the rendezvous store, optionally the WAN emulation, starts
// every rank, relays their output, and supervises them until all have exited.
//
// Policy (torchrun's, made strict):
// - a rank that exits non-zero or by a signal fails the job: the others get SIGTERM on their
//   process groups, SIGKILL after killGraceSeconds, and the launcher exits with that rank's
//   status (128 + signal for a signal) after a message naming rank, center, local rank and status;
// - --timeout: the same teardown, exit 124, the message lists the ranks still running;
// - SIGINT / SIGTERM / SIGHUP to the launcher are forwarded to every rank's group (a second one
//   kills at once); exit 128 + signal;
// - every rank exits 0: exit 0.
// The store outlives every rank; the WAN namespaces are removed on every path out.
//
// Signals: the caller must block SIGCHLD, SIGINT, SIGTERM and SIGHUP in every thread before
// runJob (blockLauncherSignals() does it; call it first thing in main), because runJob reads them
// from a signalfd. runJob runs on the calling thread, which must be the main thread (PDEATHSIG).
#pragma once

#include "tools/launcher/launcher_options.h"

namespace isthmus::launcher {

// Blocks the signals runJob consumes and ignores SIGPIPE. Call before starting any thread.
void blockLauncherSignals();

// Runs the job; returns the launcher's exit code. Messages go to stderr as "isthmus-run: ...".
int runJob(const LauncherOptions& options);

}  // namespace isthmus::launcher
