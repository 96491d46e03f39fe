#pragma once
// "What did training change, and where?": one session's encoder compared layer by layer (linear
// CKA, core/eval/cka.h) with another run's encoder, with its own random initialisation, or with
// itself, on the same test images of the session's data.
#include <torch/types.h>

#include <string>
#include <vector>

namespace pretext {

struct Session;

struct EncoderComparison {
  std::string partner;                       // "its random init", "itself", or the other run's folder
  std::vector<std::string> layersA, layersB;  // "stage 1", ..., "features"
  torch::Tensor cka;                         // float64 [layersA, layersB], CPU
  int64_t images = 0;                        // test images both encoders saw
};

// The first `images` test images of the session (at least 2; fewer when the test set is smaller).
// Throws pretext::Error when the session has fewer than 2 test images.
torch::Tensor comparisonImages(const Session& session, int64_t images);

// The session's encoder against itself (the diagonal is 1: a check, and the matrix shows which
// layers resemble each other).
EncoderComparison compareWithItself(Session& session, int64_t images);
// Against the encoder that the session's experiment starts from (its seed's random init, built
// as a fresh run would build it; the global random state is left as it was).
EncoderComparison compareWithRandomInit(Session& session, int64_t images);
// Against the last checkpoint of another run folder. Both must take images of the same shape
// (channels, size); else pretext::Error says which run takes what.
EncoderComparison compareWithRun(Session& session, const std::string& otherRunDir, int64_t images);

}  // namespace pretext
