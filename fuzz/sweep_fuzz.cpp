// libFuzzer harness for sweep files (core/train/sweep.cpp, loadSweep): what `pretext-cli sweep
// FILE --set k=v` and the window's Sweep tab read. The input is a sweep JSON document, then
// (after the first NUL byte, if any) one `--set key.path=value` per line. Every refusal must be
// a pretext::Error naming the file; a plan that was accepted must be written and read back to
// the same points (what a sweep folder's plan.json is).
//   scripts/fuzz.sh sweep [SECONDS]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/train/sweep.h"
#include "core/util/error.h"
#include "fuzz/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  std::vector<std::string> sets;
  if (nul != std::string::npos)
    for (size_t at = nul + 1; at <= input.size();) {
      size_t end = input.find('\n', at);
      if (end == std::string::npos) end = input.size();
      if (end > at) sets.push_back(input.substr(at, end - at));
      at = end + 1;
    }
  const std::string path = fuzzfiles::scratchFolder() + "/sweep.json";
  const std::string document = input.substr(0, nul);
  fuzzfiles::writeFile(path, document.data(), document.size());
  pretext::SweepPlan plan;
  try {
    plan = pretext::loadSweep(path, sets);
  } catch (const pretext::Error& e) {
    if (std::string(e.what()).find("sweep.json") == std::string::npos) {
      std::fprintf(stderr, "a refusal that does not name the file: %s\n", e.what());
      std::abort();
    }
    return 0;
  }
  const std::string saved = pretext::sweepPlanToJson(plan).dump(2);
  fuzzfiles::writeFile(path, saved.data(), saved.size());
  try {
    const pretext::SweepPlan again = pretext::loadSweep(path);
    if (again.points.size() != plan.points.size()) {
      std::fprintf(stderr, "a plan read back has %zu points, not %zu\n%s\n", again.points.size(),
                   plan.points.size(), saved.c_str());
      std::abort();
    }
  } catch (const std::exception& err) {
    std::fprintf(stderr, "an accepted sweep was refused after a save and a load: %s\n%s\n", err.what(),
                 saved.c_str());
    std::abort();
  }
  return 0;
}
