#pragma once
// `pretext-cli export`: a run's encoder for PyTorch (a state_dict with a JSON sidecar) and its
// features for TensorBoard's Embedding Projector.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "core/data/dataset.h"

namespace pretext {

struct Session;

struct ExportedEncoder {
  std::string weightsPath, sidecarPath;
  std::string arch;
  int64_t tensors = 0;
  int64_t parameters = 0;  // numbers in the parameters (buffers not counted)
  uint64_t bytes = 0;
  nlohmann::json sidecar;
};

// Writes the encoder of `session` (loaded from `runDir`) as a state_dict at `weightsPath` and its
// sidecar beside it (the same name with .json): architecture and settings, input size, channels
// and normalisation, method, data, step, the run's evaluation results, and how to load it in
// Python. Both files are written atomically. Throws pretext::Error naming the file.
ExportedEncoder exportEncoder(Session& session, const std::string& runDir,
                              const std::string& weightsPath);

// The sidecar's name for a weights file: encoder.pt -> encoder.json.
std::string sidecarPathFor(const std::string& weightsPath);

struct ProjectorExport {
  int64_t points = 0, dim = 0;
  bool sprite = false;  // sprite.png written (needs OpenCV)
};

// Writes what TensorBoard's Embedding Projector opens into `dir` (created): tensors.tsv (the
// features of the first `limit` images of `data`, one row each), metadata.tsv (index, label and
// class name; index alone without labels), sprite.png (the images in a square grid) and
// projector_config.pbtxt naming them. `name` labels the embedding in the projector.
ProjectorExport exportProjector(Session& session, const Dataset& data, const std::string& dir,
                                int64_t limit, const std::string& name);

}  // namespace pretext
