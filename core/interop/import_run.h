#pragma once
// Weights from PyTorch into Pretext: `pretext-cli import`, the window's File > Open weights...,
// and model.init_from (a method that starts training from them).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pretext {

class Method;
struct Experiment;

struct ImportOptions {
  std::string file;            // a state_dict that torch.save wrote
  std::string arch;            // resnet18 | resnet34 | convnet | vit; "" = the sidecar's, or the keys'
  std::string stem;            // resnets: small | imagenet; "" = read off conv1's kernel
  std::string data;            // "" = the sidecar's, else fashion-mnist (1 channel) or photos (3)
  int64_t imageSize = 0;       // folder:/photos: sources; 0 = the sidecar's, else 32
  int64_t heads = 0;           // vit: 0 = the sidecar's, else 4 (the weights do not say)
  std::string outDir = "runs";
  std::string name;            // the run's name; "" = "imported-" + the file's name
};

struct ImportSummary {
  std::string runDir;
  std::string arch;
  int64_t tensors = 0;
  std::string backboneSettings;    // "--set backbone.name=... --set backbone.width=..." to train from it
  std::vector<std::string> notes;  // prefix stripped, entries skipped, fc.* ignored, ...
};

// Reads the file (and its sidecar FILE.json when Pretext exported it), builds the encoder it
// fits, loads it strictly and writes a run folder (method "pretrained", step 0, finished) that
// every panel, `pretext-cli eval` and fine-tuning open. Throws pretext::Error saying what does
// not fit; nothing is written then.
ImportSummary importWeights(const ImportOptions& options,
                            const std::function<void(const std::string&)>& log = {});

// model.init_from: loads the encoder weights of `file` into `method`'s encoder (the architecture
// of `experiment`'s backbone), strictly. Returns what was noted (prefix, ignored keys).
std::vector<std::string> initEncoderFrom(Method& method, const Experiment& experiment,
                                         const std::string& file);

}  // namespace pretext
