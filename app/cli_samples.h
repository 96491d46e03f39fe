#pragma once
// pretext-cli sample-quality: how good a generative run's samples are (the Fréchet distance in a
// supervised classifier's feature space, and the classes the classifier finds among them).
#include <cstdint>
#include <string>

namespace pretext {

// pretext-cli sample-quality RUN --classifier DIR [--samples N] [--coverage M] [--seed S] [--json]
// pretext-cli sample-quality --real --classifier DIR ...   (the floor: real training images)
struct SampleQualityArgs {
  std::string run, classifier;
  int64_t samples = 10000;  // images compared with the classifier's test set by the distance
  int64_t coverage = 1000;  // the first M of them, sorted into classes
  uint64_t seed = 0;
  bool real = false, asJson = false;
  std::string grid;  // also write the first 64 images as an 8x8 grid, binary PGM (gray) / PPM
};

int cmdSampleQuality(const SampleQualityArgs& a);

}  // namespace pretext
