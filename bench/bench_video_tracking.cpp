// Tracking without labels (Vondrick et al. 2018): a trained video-colorization run carries frame
// 0's ground-truth masks through held-out moving-fashion clips by its attention (each frame
// copies its labels from the previous frames' predictions), scored by J (mean intersection over
// union over objects and frames 1..T-1), next to the baselines run on the same clips:
//   copy frame 0      every frame gets frame 0's masks
//   random init       the same network untrained (the run's seed), propagating the same way
//   Farneback flow    the masks warped frame by frame along OpenCV's dense optical flow
//   grid limit        the true masks averaged to the embedding's grid and upsampled back: the
//                     best any propagation on that grid can score (not a baseline, a ceiling)
// BENCHMARKS.md reports it.
// Usage: bench_video_tracking RUN_DIR [--clips N] [--frames T] [--references R]
//          [--temperature X] [--topk K] [--radius R] [--keep-first] [--flow-window W] [--seed S]
//   --clips:       held-out clips (default 100): Fashion-MNIST test items, their own seed stream
//   --frames:      frames per clip (default 8); the run's data.clip_stride and image size apply
//   --references:  earlier frames each frame copies from (default 3, the paper's)
//   --temperature: attention temperature (default: the run's method.params.temperature)
//   --topk:        keep each location's K strongest pointers (default 0 = all)
//   --radius:      point only within R grid cells of the location (default 0 = anywhere)
//   --keep-first:  frame 0 (the given masks) stays among the references
//   --flow-window: Farneback's averaging window in pixels (default 15, OpenCV's example)
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/data/video.h"
#include "core/eval/video_tracking.h"
#include "core/methods/video_colorization.h"
#include "core/train/run_dir.h"
#include "core/train/trainer.h"
#include "core/util/error.h"

using namespace pretext;

namespace {

// J of a network's label propagation over the clips; also the grid ceiling when asked.
double networkJ(Method& method, const Clips& clips, const TrackOptions& o, Jaccard* ceiling) {
  torch::NoGradGuard ng;
  method.eval();
  Jaccard j;
  const int64_t S = clips.frames.size(3), K = clips.objects;
  for (int64_t c = 0; c < clips.size(); ++c) {
    auto frames = clips.frames[c].to(torch::kFloat) / 255;
    auto emb = videoEmbeddings(method, frames);
    if (!emb.defined()) throw Error("the run's method is not video-colorization");
    const int64_t h = emb.size(2);
    auto truth = clips.masks[c];
    auto dist = propagateLabels(emb, labelDistributions(truth.slice(0, 0, 1), K, h)[0], o);
    auto pred = labelMaps(dist, S);
    pred[0].copy_(truth[0]);
    j.add(pred, truth, K);
    if (ceiling) ceiling->add(labelMaps(labelDistributions(truth, K, h), S), truth, K);
  }
  return j.mean();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: bench_video_tracking RUN_DIR [--clips N] [--frames T] [--references R] "
                 "[--temperature X] [--topk K] [--radius R] [--keep-first] [--flow-window W] [--seed S]\n");
    return 2;
  }
  const std::string dir = argv[1];
  int64_t clips = 100, frames = 8, references = 3, topk = 0, radius = 0, flowWindow = 15;
  uint64_t seed = 2018;
  double temperature = 0;
  bool keepFirst = false;
  for (int i = 2; i < argc; ++i) {
    auto next = [&] { return i + 1 < argc ? argv[++i] : "0"; };
    if (!std::strcmp(argv[i], "--clips")) clips = std::atoll(next());
    else if (!std::strcmp(argv[i], "--frames")) frames = std::atoll(next());
    else if (!std::strcmp(argv[i], "--references")) references = std::atoll(next());
    else if (!std::strcmp(argv[i], "--temperature")) temperature = std::atof(next());
    else if (!std::strcmp(argv[i], "--topk")) topk = std::atoll(next());
    else if (!std::strcmp(argv[i], "--radius")) radius = std::atoll(next());
    else if (!std::strcmp(argv[i], "--flow-window")) flowWindow = std::atoll(next());
    else if (!std::strcmp(argv[i], "--seed")) seed = std::strtoull(next(), nullptr, 10);
    else if (!std::strcmp(argv[i], "--keep-first")) keepFirst = true;
    else {
      std::fprintf(stderr, "bench_video_tracking: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  try {
    auto t0 = std::chrono::steady_clock::now();
    Session trained = loadRunSession(dir);
    const Experiment& e = trained.experiment;
    if (temperature <= 0) temperature = e.methodParams.value("temperature", 1.0);
    torch::manual_seed(e.seed);
    Session untrained = makeSession(e);
    const Clips test = movingFashion(MovingFashionOptions()
                                         .clips(clips).frames(frames).stride(e.clipStride)
                                         .size(e.imageSize).testItems(true).seed(seed));
    const auto o = TrackOptions().references(references).temperature(temperature).topK(topk).radius(radius).keepFirst(keepFirst);
    Jaccard ceiling, copy, flow;
    const double learned = networkJ(*trained.method, test, o, &ceiling);
    const double random = networkJ(*untrained.method, test, o, nullptr);
    for (int64_t c = 0; c < test.size(); ++c) {
      auto truth = test.masks[c];
      copy.add(copyFirstMasks(truth[0], frames), truth, test.objects);
      flow.add(flowPropagateMasks(test.frames[c], truth[0], int(flowWindow)), truth, test.objects);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("tracking on %lld held-out moving-fashion clips of %lld frames (%lldx%lld, stride %lld, %lld objects), "
                "%lld (object, frame) pairs; references %lld, T %.3g, top-k %lld, radius %lld%s; %.1f s\n",
                (long long)clips, (long long)frames, (long long)e.imageSize, (long long)e.imageSize,
                (long long)e.clipStride, (long long)test.objects, (long long)copy.count, (long long)references,
                temperature, (long long)topk, (long long)radius, keepFirst ? ", frame 0 kept" : "", secs);
    std::printf("| tracker | J (mean IoU) |\n|---|---|\n");
    std::printf("| video colorization (trained, %s) | %.3f |\n", dir.c_str(), learned);
    std::printf("| same network, random init | %.3f |\n", random);
    std::printf("| copy frame 0's masks | %.3f |\n", copy.mean());
    std::printf("| Farneback optical flow (window %lld) | %.3f |\n", (long long)flowWindow, flow.mean());
    std::printf("| (grid limit: true masks at the embedding's resolution) | %.3f |\n", ceiling.mean());
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "bench_video_tracking: %s\n", ex.what());
    return 1;
  }
  return 0;
}
