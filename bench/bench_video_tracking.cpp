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
//          [--temperature X] [--topk K] [--radius R] [--keep-first] [--flow-window W] [--seed S] [--figure PNG]
//   --clips:       held-out clips (default 100): Fashion-MNIST test items, their own seed stream
//   --frames:      frames per clip (default 8); the run's data.clip_stride and image size apply
//   --references:  earlier frames each frame copies from (default 3, the paper's)
//   --temperature: attention temperature (default: the run's method.params.temperature)
//   --topk:        keep each location's K strongest pointers (default 0 = all)
//   --radius:      point only within R grid cells of the location (default 0 = anywhere)
//   --keep-first:  frame 0 (the given masks) stays among the references
//   --flow-window: Farneback's averaging window in pixels (default 15, OpenCV's example)
//   --figure PNG:  the first 2 clips' masks as each tracker carries them (rows: truth, trained,
//                  random init, flow, copy; columns: frames), over the darkened gray frames
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/data/video.h"
#include "core/eval/video_tracking.h"
#include "core/methods/video_colorization.h"
#include "core/train/run_dir.h"
#include "core/train/trainer.h"
#include "core/util/error.h"

#ifdef PRETEXT_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

using namespace pretext;

namespace {

// A row of a figure: the clip's frames in gray, darkened, with each object's label painted over
// in its own colour (half opaque). frames uint8 [T,3,S,S], labels [T,S,S] -> uint8 [S, T*S, 3].
torch::Tensor overlayRow(const torch::Tensor& frames, const torch::Tensor& labels) {
  static const float palette[][3] = {{0, 0, 0}, {1, 0.2f, 0.2f}, {0.2f, 1, 0.2f}, {0.3f, 0.5f, 1}, {1, 1, 0.2f},
                                     {1, 0.3f, 1}, {0.2f, 1, 1}, {1, 0.6f, 0.2f}, {1, 1, 1}};
  auto gray = frames.to(torch::kFloat).mean(1, true).div(255).expand({-1, 3, -1, -1}) * 0.6;  // [T,3,S,S]
  auto colours = torch::from_blob(const_cast<float*>(&palette[0][0]), {9, 3}).clone();
  auto paint = colours.index_select(0, labels.to(torch::kLong).clamp(0, 8).flatten())
                   .view({labels.size(0), labels.size(1), labels.size(2), 3}).permute({0, 3, 1, 2});
  auto on = labels.gt(0).unsqueeze(1).to(torch::kFloat) * 0.55;
  auto img = gray * (1 - on) + paint * on;                                                    // [T,3,S,S]
  return img.permute({2, 0, 3, 1}).reshape({frames.size(2), -1, 3}).mul(255).round().to(torch::kUInt8);
}

// J of a network's label propagation over the clips; also the grid ceiling when asked. The
// predictions of the first `keep->size()` clips are kept for the figure.
double networkJ(Method& method, const Clips& clips, const TrackOptions& o, Jaccard* ceiling,
                std::vector<torch::Tensor>* keep = nullptr) {
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
    if (keep && c < int64_t(keep->size())) (*keep)[size_t(c)] = pred;
    if (ceiling) ceiling->add(labelMaps(labelDistributions(truth, K, h), S), truth, K);
  }
  return j.mean();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: bench_video_tracking RUN_DIR [--clips N] [--frames T] [--references R] "
                 "[--temperature X] [--topk K] [--radius R] [--keep-first] [--flow-window W] [--seed S] [--figure PNG]\n");
    return 2;
  }
  const std::string dir = argv[1];
  int64_t clips = 100, frames = 8, references = 3, topk = 0, radius = 0, flowWindow = 15;
  uint64_t seed = 2018;
  double temperature = 0;
  bool keepFirst = false;
  std::string figure;
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
    else if (!std::strcmp(argv[i], "--figure")) figure = next();
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
    const size_t shown = figure.empty() ? 0 : size_t(std::min<int64_t>(2, clips));
    std::vector<torch::Tensor> byTrained(shown), byRandom(shown), byFlow(shown);
    const double learned = networkJ(*trained.method, test, o, &ceiling, &byTrained);
    const double random = networkJ(*untrained.method, test, o, nullptr, &byRandom);
    for (int64_t c = 0; c < test.size(); ++c) {
      auto truth = test.masks[c];
      copy.add(copyFirstMasks(truth[0], frames), truth, test.objects);
      auto warped = flowPropagateMasks(test.frames[c], truth[0], int(flowWindow));
      flow.add(warped, truth, test.objects);
      if (size_t(c) < shown) byFlow[size_t(c)] = warped;
    }
    if (!figure.empty()) {
#ifdef PRETEXT_HAVE_OPENCV
      std::vector<torch::Tensor> rows;
      for (size_t c = 0; c < shown; ++c) {
        auto f = test.frames[int64_t(c)], truth = test.masks[int64_t(c)];
        for (const auto& labels : {truth, byTrained[c], byRandom[c], byFlow[c], copyFirstMasks(truth[0], frames)})
          rows.push_back(overlayRow(f, labels));
        rows.push_back(torch::full({4, rows.back().size(1), 3}, 255, torch::kUInt8));  // a gap between clips
      }
      auto img = torch::cat(rows, 0).contiguous();
      cv::Mat rgb(int(img.size(0)), int(img.size(1)), CV_8UC3, img.data_ptr<uint8_t>()), bgr, big;
      cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
      cv::resize(bgr, big, cv::Size(), 2, 2, cv::INTER_NEAREST);
      if (!cv::imwrite(figure, big)) throw Error("--figure " + figure + ": could not write the PNG");
      std::printf("figure: %s (per clip, rows: truth, trained, random init, Farneback flow, copy frame 0)\n",
                  figure.c_str());
#else
      throw Error("--figure needs OpenCV to write the PNG");
#endif
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
