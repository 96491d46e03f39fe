#pragma once
// Colour maps for heat maps (confusion matrices, similarity maps) and categorical colours
// for classes in scatter plots.
#include <ATen/core/Tensor.h>

#include <QColor>
#include <QImage>
#include <QRgb>
#include <vector>

namespace pretext {

enum class Colormap {
  Viridis,    // perceptually uniform, dark purple (0) -> yellow (1); matplotlib's values
  Diverging,  // blue (0) -> white (0.5) -> red (1), ColorBrewer RdBu; for signed values
};

// The colour at t in [0,1] (clamped; NaN gives grey).
QRgb colormap(double t, Colormap which);

// A 2-D matrix [H,W] (any dtype and device) -> image of W*cellScale x H*cellScale pixels,
// each element a cellScale x cellScale block coloured by (value - vmin) / (vmax - vmin).
// NaN elements are grey. vmax <= vmin maps every finite value to the middle colour.
// Throws pretext::Error for another rank or cellScale < 1.
QImage heatmap(const at::Tensor& matrix2d, Colormap which, double vmin, double vmax,
               int cellScale = 1);

// The grey used for NaN (missing) values.
QRgb missingColor();

// n distinct colours for classes: matplotlib's tab10, cycling beyond 10.
std::vector<QColor> categoricalColors(int n);

}  // namespace pretext
