#pragma once
// pretext-cli's commands that compare runs: `compare` (linear CKA between two encoders' layers)
// and `runs` (the results table across a folder of runs).
#include <cstdint>
#include <string>

namespace pretext {

// pretext-cli compare RUN --with OTHER | --random-init | --itself [--images N] [--json]
struct CompareArgs {
  std::string run, with;
  bool randomInit = false, itself = false, asJson = false;
  int64_t images = 1000;
};

// pretext-cli runs [FOLDER] [--sort KEY] [--csv FILE]
struct RunsArgs {
  std::string folder = "runs", sort, csv;
};

int cmdCompare(const CompareArgs& a);
int cmdRuns(const RunsArgs& a);

}  // namespace pretext
