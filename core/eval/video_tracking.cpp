// Label propagation through learned attention, J, and the copy and optical-flow baselines.
#include "core/eval/video_tracking.h"

#include <torch/torch.h>

#include <limits>
#include <vector>

#include "core/util/error.h"

#ifdef PRETEXT_HAVE_OPENCV
#include <opencv2/imgproc.hpp>
#include <opencv2/video/tracking.hpp>
#endif

namespace pretext {

namespace F = torch::nn::functional;

torch::Tensor labelDistributions(const torch::Tensor& masks, int64_t objects, int64_t size) {
  auto onehot = torch::one_hot(masks.to(torch::kLong), objects + 1).permute({0, 3, 1, 2}).to(torch::kFloat);
  if (onehot.size(2) == size && onehot.size(3) == size) return onehot;
  return F::adaptive_avg_pool2d(onehot, F::AdaptiveAvgPool2dFuncOptions({size, size}));
}

torch::Tensor propagateLabels(const torch::Tensor& embeddings, const torch::Tensor& labels0,
                              const TrackOptions& o) {
  if (embeddings.dim() != 4 || labels0.dim() != 3 || labels0.size(1) != embeddings.size(2) ||
      labels0.size(2) != embeddings.size(3))
    throw Error("propagateLabels: expected embeddings [T,D,h,w] and frame 0's labels [C,h,w] on the same grid");
  if (o.references() < 1 || o.temperature() <= 0 || o.topK() < 0 || o.radius() < 0)
    throw Error("propagateLabels: expected at least 1 reference, a temperature > 0, top-k >= 0 and radius >= 0");
  const int64_t T = embeddings.size(0), D = embeddings.size(1), h = embeddings.size(2), w = embeddings.size(3);
  const int64_t C = labels0.size(0), P = h * w;
  auto f = embeddings.view({T, D, P});
  std::vector<torch::Tensor> y{labels0.reshape({C, P}).t().to(f.dtype())};  // [P,C] per frame
  // Pairs of grid cells farther apart than the radius (Chebyshev distance), [P,P].
  torch::Tensor far;
  if (o.radius() > 0) {
    auto iy = torch::arange(h).repeat_interleave(w), ix = torch::arange(w).repeat(h);
    far = ((iy.unsqueeze(1) - iy.unsqueeze(0)).abs() > o.radius()) |
          ((ix.unsqueeze(1) - ix.unsqueeze(0)).abs() > o.radius());
  }
  for (int64_t t = 1; t < T; ++t) {
    std::vector<int64_t> refs;
    if (o.keepFirst() && t - o.references() > 0) refs.push_back(0);
    for (int64_t r = std::max<int64_t>(0, t - o.references()); r < t; ++r) refs.push_back(r);
    std::vector<torch::Tensor> fr, yr;
    for (int64_t r : refs) fr.push_back(f[r]), yr.push_back(y[size_t(r)]);
    auto logits = torch::matmul(f[t].t(), torch::cat(fr, 1)) / o.temperature();  // [P,Q]
    if (far.defined())
      logits = logits.masked_fill(far.repeat({1, int64_t(refs.size())}), -std::numeric_limits<float>::infinity());
    auto Y = torch::cat(yr, 0);                                                      // [Q,C]
    torch::Tensor next;
    if (o.topK() > 0 && o.topK() < logits.size(1)) {
      auto top = logits.topk(o.topK(), 1);
      auto a = torch::softmax(std::get<0>(top), 1);                                  // [P,k]
      next = (a.unsqueeze(2) * Y.index_select(0, std::get<1>(top).flatten()).view({P, o.topK(), C})).sum(1);
    } else {
      next = torch::matmul(torch::softmax(logits, 1), Y);
    }
    y.push_back(next);
  }
  auto out = torch::stack(y);  // [T,P,C]
  return out.permute({0, 2, 1}).reshape({T, C, h, w});
}

torch::Tensor labelMaps(const torch::Tensor& distributions, int64_t size) {
  auto up = F::interpolate(distributions.to(torch::kFloat),
                           F::InterpolateFuncOptions().size(std::vector<int64_t>{size, size})
                               .mode(torch::kBilinear).align_corners(false));
  return up.argmax(1).to(torch::kUInt8);
}

void Jaccard::add(const torch::Tensor& pred, const torch::Tensor& truth, int64_t objects) {
  for (int64_t t = 1; t < truth.size(0); ++t)
    for (int64_t k = 1; k <= objects; ++k) {
      auto g = truth[t].eq(k), p = pred[t].eq(k);
      const int64_t inGt = g.sum().item<int64_t>();
      if (inGt == 0) continue;
      const double inter = double((g & p).sum().item<int64_t>()), uni = double((g | p).sum().item<int64_t>());
      sum += inter / uni;
      ++count;
    }
}

torch::Tensor copyFirstMasks(const torch::Tensor& masks0, int64_t frames) {
  return masks0.unsqueeze(0).expand({frames, -1, -1}).contiguous();
}

#ifndef PRETEXT_HAVE_OPENCV

torch::Tensor flowPropagateMasks(const torch::Tensor&, const torch::Tensor&, int) {
  throw Error("optical-flow tracking needs OpenCV (libopencv-dev); this build has none");
}

#else

torch::Tensor flowPropagateMasks(const torch::Tensor& frames, const torch::Tensor& masks0, int window) {
  const int64_t T = frames.size(0), H = frames.size(2), W = frames.size(3);
  auto hwc = frames.permute({0, 2, 3, 1}).contiguous();
  std::vector<cv::Mat> gray;
  for (int64_t t = 0; t < T; ++t) {
    cv::Mat rgb(int(H), int(W), CV_8UC3, hwc[t].data_ptr<uint8_t>()), g;
    cv::cvtColor(rgb, g, cv::COLOR_RGB2GRAY);
    gray.push_back(g);
  }
  auto out = torch::empty({T, H, W}, torch::kUInt8);
  out[0].copy_(masks0);
  for (int64_t t = 1; t < T; ++t) {
    // Backward flow: frame t's pixel p sits at p + flow(p) in frame t-1.
    cv::Mat flow;
    cv::calcOpticalFlowFarneback(gray[size_t(t)], gray[size_t(t - 1)], flow, 0.5, 3, window, 3, 5, 1.2, 0);
    cv::Mat mapX(int(H), int(W), CV_32F), mapY(int(H), int(W), CV_32F);
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        auto d = flow.at<cv::Vec2f>(y, x);
        mapX.at<float>(y, x) = float(x) + d[0];
        mapY.at<float>(y, x) = float(y) + d[1];
      }
    auto prev = out[t - 1].contiguous();
    cv::Mat src(int(H), int(W), CV_8U, prev.data_ptr<uint8_t>()), dst;
    cv::remap(src, dst, mapX, mapY, cv::INTER_NEAREST, cv::BORDER_CONSTANT, cv::Scalar(0));
    out[t].copy_(torch::from_blob(dst.data, {H, W}, torch::kUInt8));
  }
  return out;
}

#endif

}  // namespace pretext
