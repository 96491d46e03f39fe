// Video clips: video files through OpenCV's VideoCapture, and the synthetic moving-fashion clips
// rendered with grid_sample over photo crops (see video.h).
#include "core/data/video.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include "core/data/data_io.h"
#include "core/util/error.h"
#include "core/util/seed.h"

#ifdef PRETEXT_HAVE_OPENCV
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#endif

namespace pretext {

namespace F = torch::nn::functional;

// ------------------------------------------------------------------ the Dataset form

Dataset clipsAsDataset(const Clips& clips) {
  Dataset d;
  d.name = clips.name;
  d.frames = clips.length();
  d.images = clips.frames.flatten(1, 2).contiguous();
  return d;
}

torch::Tensor unpackClips(const torch::Tensor& images, int64_t frames) {
  if (images.dim() != 4 || frames < 1 || images.size(1) % frames != 0)
    throw Error("clips: expected images [N,T*C,H,W] with T = " + std::to_string(frames) + ", got " +
                std::to_string(images.dim()) + " dimensions and " +
                (images.dim() > 1 ? std::to_string(images.size(1)) : std::string("?")) + " channels");
  return images.view({images.size(0), frames, images.size(1) / frames, images.size(2), images.size(3)});
}

Clips clipsOfFrames(const torch::Tensor& frames, int64_t T, int64_t stride, const std::string& name) {
  if (T < 1 || stride < 1)
    throw Error(name + ": clips need at least 1 frame and a stride of at least 1 (got " +
                std::to_string(T) + " frames, stride " + std::to_string(stride) + ")");
  const int64_t span = (T - 1) * stride + 1, n = frames.size(0) - span + 1;
  if (n < 1)
    throw Error(name + ": " + std::to_string(frames.size(0)) + " frames are too few for one clip of " +
                std::to_string(T) + " frames " + std::to_string(stride) + " apart (" +
                std::to_string(span) + " frames)");
  auto index = torch::arange(n).unsqueeze(1) + torch::arange(T).unsqueeze(0) * stride;  // [n,T]
  Clips c;
  c.name = name;
  c.frames = frames.index_select(0, index.flatten()).view({n, T, frames.size(1), frames.size(2), frames.size(3)});
  return c;
}

// ------------------------------------------------------------------ video files

#ifndef PRETEXT_HAVE_OPENCV

torch::Tensor readVideoFrames(const std::string& path, int64_t, int64_t) {
  throw Error("video:" + path + ": this build of Pretext was built without OpenCV, so it cannot "
              "decode video files; rebuild with OpenCV (libopencv-dev)");
}

#else

torch::Tensor readVideoFrames(const std::string& path, int64_t size, int64_t maxFrames) {
  const std::string what = "video:" + path;
  if (path.empty()) throw Error("video: no file given (expected video:FILE)");
  if (data_detail::isDirectory(path)) throw Error(what + ": " + path + " is a directory, not a video file");
  if (!data_detail::isFile(path)) throw Error(what + ": missing file " + path);
  if (size < 8 || size > 1024) throw Error(what + ": frame size " + std::to_string(size) + " is outside [8, 1024]");
  cv::VideoCapture cap(path);
  if (!cap.isOpened())
    throw Error(what + ": OpenCV cannot open " + path +
                " as a video (not a video file, or a format this OpenCV's decoders lack; MP4, AVI and "
                "WebM decode where OpenCV was built with FFmpeg)");
  const double listed = cap.get(cv::CAP_PROP_FRAME_COUNT);
  std::vector<torch::Tensor> out;
  cv::Mat frame, rgb, small;
  while ((maxFrames <= 0 || int64_t(out.size()) < maxFrames) && cap.read(frame)) {
    if (frame.empty()) break;
    if (frame.channels() == 1)
      cv::cvtColor(frame, rgb, cv::COLOR_GRAY2RGB);
    else if (frame.channels() == 4)
      cv::cvtColor(frame, rgb, cv::COLOR_BGRA2RGB);
    else
      cv::cvtColor(frame, rgb, cv::COLOR_BGR2RGB);
    const int shorter = std::min(rgb.cols, rgb.rows);
    const int side = int(size);
    const double s = double(side) / shorter;
    cv::resize(rgb, small, cv::Size(std::max(side, int(std::lround(rgb.cols * s))),
                                    std::max(side, int(std::lround(rgb.rows * s)))),
               0, 0, s < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    cv::Mat crop = small(cv::Rect((small.cols - side) / 2, (small.rows - side) / 2, side, side)).clone();
    out.push_back(torch::from_blob(crop.data, {side, side, 3}, torch::kUInt8).permute({2, 0, 1}).clone());
  }
  const int64_t decoded = int64_t(out.size());
  if (decoded == 0)
    throw Error(what + ": no frame could be decoded" +
                (listed > 0 ? " (its header lists " + std::to_string(int64_t(listed)) + ")" : std::string()) +
                ": an empty or damaged video");
  // Containers estimate their frame count from the duration (WebM), so allow a little slack.
  const bool stoppedEarly = maxFrames > 0 && decoded >= maxFrames;
  const int64_t expected = int64_t(listed);
  if (!stoppedEarly && expected > 0 && decoded < expected - std::max<int64_t>(2, expected / 50))
    throw Error(what + ": truncated: its header lists " + std::to_string(expected) +
                " frames but only " + std::to_string(decoded) + " could be decoded");
  return torch::stack(out);
}

#endif

ClipSplits loadVideoClips(const std::string& path, const DataOptions& o) {
  const std::string what = "video:" + path;
  auto frames = readVideoFrames(path, o.imageSize(), o.maxVideoFrames());
  const int64_t span = (o.clipFrames() - 1) * o.clipStride() + 1, total = frames.size(0);
  if (total < span)
    throw Error(what + ": " + std::to_string(total) + " frames are too few for one clip of " +
                std::to_string(o.clipFrames()) + " frames " + std::to_string(o.clipStride()) +
                " apart (data.clip_frames, data.clip_stride)");
  int64_t cut = std::max(span, (total * 9) / 10);
  ClipSplits s;
  s.train = clipsOfFrames(frames.narrow(0, 0, cut), o.clipFrames(), o.clipStride(), what + "/train");
  if (total - cut >= span) {
    s.test = clipsOfFrames(frames.narrow(0, cut, total - cut), o.clipFrames(), o.clipStride(), what + "/test");
  } else {
    s.test = s.train;
    s.test.frames = s.train.frames.narrow(0, s.train.size() - 1, 1);
    s.test.name = what + "/test";
  }
  return s;
}

// ------------------------------------------------------------------ moving-fashion

namespace {

// x bounced between 0 and 1: a triangle wave of period 2.
double bounceUnit(double x) {
  double m = std::fmod(std::fabs(x), 2.0);
  return m <= 1 ? m : 2 - m;
}

// A saturated colour of hue h in [0,1) (HSV with s, v given), as RGB in [0,1].
std::array<float, 3> saturatedColour(double h, double s, double v) {
  const double c = v * s, hp = h * 6, x = c * (1 - std::fabs(std::fmod(hp, 2.0) - 1)), m = v - c;
  double r = 0, g = 0, b = 0;
  if (hp < 1) r = c, g = x;
  else if (hp < 2) r = x, g = c;
  else if (hp < 3) g = c, b = x;
  else if (hp < 4) g = x, b = c;
  else if (hp < 5) r = x, b = c;
  else r = c, b = x;
  return {float(r + m), float(g + m), float(b + m)};
}

}  // namespace

Clips movingFashion(const MovingFashionOptions& o) {
  const std::string what = "moving-fashion";
  if (o.clips() < 1 || o.frames() < 1 || o.stride() < 1 || o.objects() < 1 || o.objects() > 8)
    throw Error(what + ": expected at least 1 clip, 1 frame, a stride of at least 1 and 1 to 8 objects, got " +
                std::to_string(o.clips()) + ", " + std::to_string(o.frames()) + ", " +
                std::to_string(o.stride()) + ", " + std::to_string(o.objects()));
  if (o.size() < 16 || o.size() > 512)
    throw Error(what + ": frame size " + std::to_string(o.size()) + " is outside [16, 512] (data.image_size)");
  if (!(o.itemScale() > 0.05 && o.itemScale() <= 1))
    throw Error(what + ": item scale " + std::to_string(o.itemScale()) + " is outside (0.05, 1]");
  const int64_t N = o.clips(), T = o.frames(), K = o.objects(), S = o.size();
  // The items and the backgrounds.
  DataSplits items = loadData(o.itemsDir().empty() ? "fashion-mnist" : "fashion-mnist:" + o.itemsDir());
  const Dataset& pool = o.testItems() ? items.test : items.train;
  DataSplits photos =
      loadData("photos:" + (o.photosDir().empty() ? defaultPhotosDir() : o.photosDir()),
               DataOptions().imageSize(S).photoCrops(N).photoTestCrops(0).seed(mixSeed(o.seed(), o.testItems() ? 0x62677473ULL : 0x6267ULL)));

  std::mt19937_64 rng(mixSeed(o.seed(), o.testItems() ? 0x74657374ULL : 0x7472616eULL));
  std::uniform_real_distribution<double> U(0, 1);
  const double side = o.itemScale() * S;  // item side in pixels
  // Per clip, per object: the item, colour, start, velocity, angle and turn rate.
  auto itemIdx = torch::empty({N, K}, torch::kInt64);
  auto colour = torch::empty({N, K, 3});
  auto theta = torch::empty({N, T, K, 2, 3});
  auto* ii = itemIdx.data_ptr<int64_t>();
  auto* cc = colour.data_ptr<float>();
  auto* th = theta.data_ptr<float>();
  const double lo = side * 0.3, range = S - 2 * lo;  // centres stay where most of an item shows
  const double pi = 3.14159265358979323846;
  for (int64_t n = 0; n < N; ++n) {
    const double hue0 = U(rng);
    for (int64_t k = 0; k < K; ++k) {
      ii[n * K + k] = std::uniform_int_distribution<int64_t>(0, pool.size() - 1)(rng);
      // Hues spread around the wheel so the items of one clip differ in colour.
      auto c = saturatedColour(std::fmod(hue0 + double(k) / K + 0.1 * U(rng), 1.0), 0.65 + 0.35 * U(rng), 0.75 + 0.25 * U(rng));
      for (int j = 0; j < 3; ++j) cc[(n * K + k) * 3 + j] = c[size_t(j)];
      const double x0 = U(rng), y0 = U(rng), dir = 2 * pi * U(rng);
      const double speed = o.maxSpeed() * (0.3 + 0.7 * U(rng)) * S / range;  // in units of `range`
      const double a0 = 2 * pi * U(rng), turn = (2 * U(rng) - 1) * o.maxTurn() * pi / 180;
      for (int64_t t = 0; t < T; ++t) {
        const double time = double(t * o.stride());
        const double cx = lo + range * bounceUnit(x0 + speed * std::cos(dir) * time);
        const double cy = lo + range * bounceUnit(y0 + speed * std::sin(dir) * time);
        const double a = a0 + turn * time, ca = std::cos(a), sa = std::sin(a);
        // Output pixel p (normalised xo in [-1,1]: p = (xo+1) S/2) -> item coordinates
        // u = R(-a) (p - c) / (side/2) = (S/side) R(-a) xo + R(-a) (S - 2c) / side.
        float* m = th + ((n * T + t) * K + k) * 6;
        const double sx = (S - 2 * cx) / side, sy = (S - 2 * cy) / side;
        m[0] = float(S / side * ca), m[1] = float(S / side * sa), m[2] = float(ca * sx + sa * sy);
        m[3] = float(-S / side * sa), m[4] = float(S / side * ca), m[5] = float(-sa * sx + ca * sy);
      }
    }
  }
  // Render every item at every frame in one grid_sample: [N*T*K, 1, S, S].
  auto src = pool.images.index_select(0, itemIdx.flatten()).to(torch::kFloat).div_(255);  // [N*K,1,28,28]
  src = src.view({N, 1, K, 1, src.size(2), src.size(3)}).expand({N, T, K, 1, src.size(2), src.size(3)})
            .reshape({N * T * K, 1, src.size(2), src.size(3)});
  auto grid = F::affine_grid(theta.view({N * T * K, 2, 3}), {N * T * K, 1, S, S}, false);
  auto ink = F::grid_sample(src, grid, F::GridSampleFuncOptions().mode(torch::kBilinear)
                                           .padding_mode(torch::kZeros).align_corners(false))
                 .view({N, T, K, S, S});
  auto bg = photos.train.images.to(torch::kFloat).div_(255);  // [N,3,S,S]
  auto frames = bg.unsqueeze(1).expand({N, T, 3, S, S}).clone();
  auto masks = torch::zeros({N, T, S, S}, torch::kUInt8);
  for (int64_t k = 0; k < K; ++k) {
    auto v = ink.select(2, k);                 // [N,T,S,S]
    auto on = v > 0.2;                         // the item's silhouette
    auto shade = (0.35 + 0.65 * v).unsqueeze(2) * colour.select(1, k).view({N, 1, 3, 1, 1});
    frames = torch::where(on.unsqueeze(2), shade, frames);
    masks.masked_fill_(on, uint8_t(k + 1));
  }
  Clips c;
  c.name = what + (o.testItems() ? "/test" : "/train");
  c.frames = frames.mul_(255).round_().clamp_(0, 255).to(torch::kUInt8).contiguous();
  c.masks = masks;
  c.objects = K;
  return c;
}

// ------------------------------------------------------------------ the sources

DataSplits loadVideoData(const std::string& path, const DataOptions& o) {
  ClipSplits c = loadVideoClips(path, o);
  DataSplits s;
  s.train = clipsAsDataset(c.train);
  s.test = clipsAsDataset(c.test);
  data_detail::applyLimit(s.train, o.limit());
  data_detail::applyLimit(s.test, o.limit());
  s.trainLabelled = s.train;
  return s;
}

DataSplits loadMovingFashionData(const DataOptions& o) {
  int64_t nTrain = o.clips(), nTest = o.testClips();
  if (o.limit() > 0) nTrain = std::min(nTrain, o.limit()), nTest = std::min(nTest, o.limit());
  auto base = MovingFashionOptions().frames(o.clipFrames()).stride(o.clipStride()).size(o.imageSize());
  DataSplits s;
  s.train = clipsAsDataset(movingFashion(base.clips(nTrain).seed(o.seed())));
  s.test = clipsAsDataset(movingFashion(base.clips(std::max<int64_t>(1, nTest)).seed(o.seed()).testItems(true)));
  s.trainLabelled = s.train;
  return s;
}

}  // namespace pretext
