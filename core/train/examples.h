#pragma once
// The ready-trained examples shipped in resources/examples/: packed runs (core/train/checkpoint.h)
// made by Pretext's own presets with scripts/make_examples.sh, so that a newcomer or a class
// sees what a trained model has learnt without waiting for one. Each is a run folder plus
// example.json: {"title", "summary", "panel" (the window's panel that shows it best)}.
#include <string>
#include <vector>

namespace pretext {

struct ExampleRun {
  std::string name;                                  // the folder name, e.g. "simclr-fashion"
  std::string path;                                  // resources/examples/NAME
  std::string title;                                 // "SimCLR on Fashion-MNIST"
  std::string summary;                               // one or two sentences: what to look at
  std::string panel;                                 // e.g. "Neighbours"
  std::string method;                                // experiment.json's method
  std::string data;                                  // experiment.json's data source
  int64_t steps = 0;                                 // the steps it trained
  double knnTop1 = -1, linearTop1 = -1;              // its probes (percent; -1 when not measured)
  double randomKnnTop1 = -1, randomLinearTop1 = -1;  // the same architecture untrained
  std::string probeData;                             // where the probes ran
};

// PRETEXT_RESOURCES/examples when that variable is set, else the source tree's resources/examples.
std::string examplesDirectory();
// The examples, by name; a folder that is not a packed run is skipped.
std::vector<ExampleRun> exampleRuns();
// The example named `name`; throws pretext::Error listing the examples when there is none.
ExampleRun findExampleRun(const std::string& name);
// Copies the example into RUNS/examples/NAME (once; a copy already there is kept, with what was
// added to it since, such as evaluations) and returns that folder: the examples' own folder may
// be read-only, and opening a run writes to it.
std::string copyExampleRun(const std::string& name, const std::string& runsFolder);

}  // namespace pretext
