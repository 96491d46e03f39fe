#include "viz/colormap.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "core/util/error.h"

namespace pretext {

namespace {

struct Stop {
  double r, g, b;  // in [0,1]
};

// matplotlib's viridis (van der Walt & Smith, CC0) sampled at entries 0, 16, ..., 240, 255 of
// its 256-entry table; linear interpolation between them stays within about 1/255 of it.
constexpr std::array<Stop, 17> kViridis = {{
    {0.267004, 0.004874, 0.329415},
    {0.282327, 0.094955, 0.417331},
    {0.278826, 0.175490, 0.483397},
    {0.258965, 0.251537, 0.524736},
    {0.229739, 0.322361, 0.545706},
    {0.199430, 0.387607, 0.554642},
    {0.172719, 0.448791, 0.557885},
    {0.149039, 0.508051, 0.557250},
    {0.127568, 0.566949, 0.550556},
    {0.120638, 0.625828, 0.533488},
    {0.157851, 0.683765, 0.501686},
    {0.246070, 0.738910, 0.452024},
    {0.369214, 0.788888, 0.382914},
    {0.515992, 0.831158, 0.294279},
    {0.678489, 0.863742, 0.189503},
    {0.845561, 0.887322, 0.099702},
    {0.993248, 0.906157, 0.143936},
}};
// Table positions of the stops above (entry / 255).
constexpr std::array<int, 17> kViridisEntries = {0,   16,  32,  48,  64,  80,  96,  112, 128,
                                                 144, 160, 176, 192, 208, 224, 240, 255};

// ColorBrewer RdBu (reversed, centre made pure white), evenly spaced.
constexpr std::array<QRgb, 9> kDiverging = {0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xffffff,
                                            0xfddbc7, 0xf4a582, 0xd6604d, 0xb2182b};

// matplotlib's tab10.
constexpr std::array<QRgb, 10> kTab10 = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                         0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};

int toByte(double v) { return std::clamp(static_cast<int>(std::lround(v * 255.0)), 0, 255); }

QRgb viridis(double t) {
  const double entry = t * 255.0;
  size_t i = 0;
  while (i + 2 < kViridisEntries.size() && entry > kViridisEntries[i + 1]) ++i;
  const double a = kViridisEntries[i], b = kViridisEntries[i + 1];
  const double f = std::clamp((entry - a) / (b - a), 0.0, 1.0);
  const Stop& p = kViridis[i];
  const Stop& q = kViridis[i + 1];
  return qRgb(toByte(p.r + f * (q.r - p.r)), toByte(p.g + f * (q.g - p.g)),
              toByte(p.b + f * (q.b - p.b)));
}

QRgb diverging(double t) {
  const double x = t * (kDiverging.size() - 1);
  const size_t i = std::min(static_cast<size_t>(x), kDiverging.size() - 2);
  const double f = x - static_cast<double>(i);
  const QRgb p = kDiverging[i], q = kDiverging[i + 1];
  auto mix = [f](int u, int v) { return static_cast<int>(std::lround(u + f * (v - u))); };
  return qRgb(mix(qRed(p), qRed(q)), mix(qGreen(p), qGreen(q)), mix(qBlue(p), qBlue(q)));
}

}  // namespace

QRgb missingColor() { return qRgb(128, 128, 128); }

QRgb colormap(double t, Colormap which) {
  if (std::isnan(t)) return missingColor();
  t = std::clamp(t, 0.0, 1.0);
  switch (which) {
    case Colormap::Viridis:
      return viridis(t);
    case Colormap::Diverging:
      return diverging(t);
  }
  return missingColor();
}

QImage heatmap(const torch::Tensor& matrix2d, Colormap which, double vmin, double vmax,
               int cellScale) {
  if (!matrix2d.defined() || matrix2d.dim() != 2)
    throw Error("heatmap: expected a 2-D matrix, got a tensor of rank " +
                std::to_string(matrix2d.defined() ? matrix2d.dim() : 0));
  if (cellScale < 1)
    throw Error("heatmap: cellScale must be >= 1, got " + std::to_string(cellScale));
  const torch::Tensor m = matrix2d.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const int h = static_cast<int>(m.size(0));
  const int w = static_cast<int>(m.size(1));
  const double* values = m.data_ptr<double>();
  const double range = vmax - vmin;
  QImage image(w * cellScale, h * cellScale, QImage::Format_RGB32);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double v = values[static_cast<size_t>(y) * w + x];
      const double t = std::isnan(v) ? v : (range > 0 ? (v - vmin) / range : 0.5);
      const QRgb c = colormap(t, which);
      for (int dy = 0; dy < cellScale; ++dy) {
        auto* line = reinterpret_cast<QRgb*>(image.scanLine(y * cellScale + dy));
        std::fill(line + x * cellScale, line + (x + 1) * cellScale, c);
      }
    }
  }
  return image;
}

std::vector<QColor> categoricalColors(int n) {
  std::vector<QColor> colors;
  for (int i = 0; i < n; ++i) colors.emplace_back(kTab10[i % kTab10.size()]);
  return colors;
}

}  // namespace pretext
