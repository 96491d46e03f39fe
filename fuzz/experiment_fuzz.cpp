// libFuzzer harness for the experiment settings (core/config/experiment.cpp with the method
// parameters of core/methods/registry.cpp, the augmentations of core/augment/presets.cpp and
// the backbone check of core/models/backbone.cpp): what `pretext-cli train FILE --set k=v`
// and the window's File > Open experiment read. The input is an experiment JSON document, then
// (after the first NUL byte, if any) one `--set key.path=value` per line, applied as the CLI
// applies them before validating. Every refusal must be a pretext::Error; and an experiment
// that was accepted must be accepted again after a save and a load (its JSON text), as the
// window and `pretext-cli train --resume` read back what was saved.
//   scripts/fuzz.sh experiment [SECONDS]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/config/experiment.h"
#include "core/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string document = input.substr(0, nul);
  nlohmann::json j;
  pretext::Experiment e;
  try {
    j = pretext::parseExperimentJson(document, "experiment.json");  // as the CLI and loadExperiment
    if (nul != std::string::npos) {
      size_t at = nul + 1;
      while (at <= input.size()) {
        size_t end = input.find('\n', at);
        if (end == std::string::npos) end = input.size();
        if (end > at) pretext::applyOverride(j, input.substr(at, end - at));
        at = end + 1;
      }
    }
    e = pretext::experimentFromJson(j);
  } catch (const pretext::Error&) {
    return 0;
  }
  const std::string saved = pretext::experimentToJson(e).dump(2);
  try {
    pretext::experimentFromJson(nlohmann::json::parse(saved));
  } catch (const std::exception& err) {
    std::fprintf(stderr, "an accepted experiment was refused after a save and a load: %s\n%s\n", err.what(),
                 saved.c_str());
    std::abort();
  }
  return 0;
}
