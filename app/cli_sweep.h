#pragma once
// pretext-cli sweep: a grid or a random search, one run after another (core/train/sweep.h).
#include <string>
#include <vector>

namespace pretext {

// Prints the plan, runs it (Ctrl+C stops cleanly: 130; the same command continues) and prints
// the table ranked by the plan's probe. --dry-run prints the points only.
int cmdSweep(const std::string& file, const std::vector<std::string>& sets, const std::string& out,
             bool dryRun, bool quiet);

}  // namespace pretext
