#pragma once
// Image grids: a batch of small images tiled for the window, upscaled so 28 px images are
// visible, with an optional caption under each cell.
#include <ATen/core/Tensor.h>

#include <QColor>
#include <QImage>
#include <QPoint>
#include <QRect>
#include <QSize>
#include <QString>
#include <vector>

namespace pretext {

struct Preview;

// Where the cells of a grid lie. Layout (all in pixels):
//   width  = columns * (cellWidth + padding) + padding
//   height = rows * (cellHeight + captionHeight + padding) + padding
// cell i sits at column i % columns, row i / columns; its image starts at
//   (padding + col * (cellWidth + padding), padding + row * (cellHeight + captionHeight + padding))
// and its caption fills the captionHeight pixels under it.
struct GridGeometry {
  int count = 0;  // number of cells
  int columns = 1;
  int rows = 0;
  int cellWidth = 0;      // image width * cellScale
  int cellHeight = 0;     // image height * cellScale
  int captionHeight = 0;  // 0 without captions, else one line of the default font
  int padding = 0;

  QSize size() const;
  QRect cellRect(int i) const;        // the image of cell i
  QRect captionRect(int i) const;     // the caption strip under it (empty height without captions)
  int cellAt(const QPoint& p) const;  // the cell whose image or caption holds p, or -1
};

// The geometry imageGrid uses for `count` images of height x width. columns is clamped to
// [1, count]. Throws pretext::Error for columns, cellScale < 1 or padding < 0.
GridGeometry gridGeometry(int count, int height, int width, int columns, int cellScale,
                          bool withCaptions, int padding = 2);

// Tiles nchw ([N,C,H,W], C = 1 or 3, float in [0,1] or uint8, any device) on a white
// background, each image upscaled cellScale times by nearest neighbour. captions (if any) go
// under the cells, one per image (missing ones blank), elided to the cell width; a caption that
// starts with "x " marks a wrong prediction and is drawn in red without the marker.
// Throws pretext::Error for a bad shape or arguments.
QImage imageGrid(const at::Tensor& nchw, int columns, int cellScale,
                 const std::vector<QString>& captions = {}, int padding = 2);

// Colour of normal and "x "-marked (wrong) captions.
QColor captionColor();
QColor wrongCaptionColor();

// A method's preview: its image grid with the labels as captions (or as column headers when
// there is one label per column and more than one row), and the preview's caption
// line (word-wrapped to the grid's width) at the bottom. An empty preview gives a null image.
QImage renderPreview(const Preview& preview, int cellScale);

}  // namespace pretext
