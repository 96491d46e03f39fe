#include "viz/image_grid.h"

#include <torch/torch.h>

#include <QFont>
#include <QFontMetrics>
#include <QPainter>
#include <algorithm>
#include <string>

#include "core/methods/method.h"
#include "core/util/error.h"
#include "viz/tensor_image.h"

namespace pretext {

namespace {

QFont captionFont() {
  QFont font;
  // Plain grey-level antialiasing: sub-pixel rendering would put coloured fringes on black text.
  font.setStyleStrategy(QFont::NoSubpixelAntialias);
  return font;
}

const QLatin1String kWrongMarker("x ");

}  // namespace

QColor captionColor() { return QColor(0, 0, 0); }
QColor wrongCaptionColor() { return QColor(214, 39, 40); }

QSize GridGeometry::size() const {
  return {columns * (cellWidth + padding) + padding,
          rows * (cellHeight + captionHeight + padding) + padding};
}

QRect GridGeometry::cellRect(int i) const {
  const int col = i % columns, row = i / columns;
  return {padding + col * (cellWidth + padding),
          padding + row * (cellHeight + captionHeight + padding), cellWidth, cellHeight};
}

QRect GridGeometry::captionRect(int i) const {
  const QRect cell = cellRect(i);
  return {cell.left(), cell.bottom() + 1, cellWidth, captionHeight};
}

int GridGeometry::cellAt(const QPoint& p) const {
  if (columns < 1 || cellWidth < 1) return -1;
  const int col = (p.x() - padding) / (cellWidth + padding);
  const int row = (p.y() - padding) / (cellHeight + captionHeight + padding);
  if (p.x() < padding || p.y() < padding || col >= columns || row >= rows) return -1;
  const int i = row * columns + col;
  if (i >= count) return -1;
  const QRect all = cellRect(i).united(captionRect(i));
  return all.contains(p) ? i : -1;
}

GridGeometry gridGeometry(int count, int height, int width, int columns, int cellScale,
                          bool withCaptions, int padding) {
  if (columns < 1) throw Error("imageGrid: columns must be >= 1, got " + std::to_string(columns));
  if (cellScale < 1)
    throw Error("imageGrid: cellScale must be >= 1, got " + std::to_string(cellScale));
  if (padding < 0) throw Error("imageGrid: padding must be >= 0, got " + std::to_string(padding));
  GridGeometry g;
  g.count = std::max(count, 0);
  g.columns = std::max(1, std::min(columns, g.count));
  g.rows = (g.count + g.columns - 1) / g.columns;
  g.cellWidth = width * cellScale;
  g.cellHeight = height * cellScale;
  g.captionHeight = withCaptions ? QFontMetrics(captionFont()).height() + 2 : 0;
  g.padding = padding;
  return g;
}

QImage imageGrid(const torch::Tensor& nchw, int columns, int cellScale,
                 const std::vector<QString>& captions, int padding) {
  if (!nchw.defined() || nchw.dim() != 4 || (nchw.size(1) != 1 && nchw.size(1) != 3))
    throw Error("imageGrid: expected images [N,C,H,W] with C = 1 or 3");
  const int n = static_cast<int>(nchw.size(0));
  const GridGeometry g =
      gridGeometry(n, static_cast<int>(nchw.size(2)), static_cast<int>(nchw.size(3)), columns,
                   cellScale, !captions.empty(), padding);
  QImage grid(g.size(), QImage::Format_RGB32);
  grid.fill(Qt::white);
  if (n == 0) return grid;

  torch::Tensor images = toImageBytes(nchw);
  if (cellScale > 1)
    images = images.repeat_interleave(cellScale, 2).repeat_interleave(cellScale, 3);

  QPainter painter(&grid);
  const QFont font = captionFont();
  painter.setFont(font);
  const QFontMetrics metrics(font);
  for (int i = 0; i < n; ++i) {
    painter.drawImage(g.cellRect(i).topLeft(), tensorToImage(images[i]));
    if (i >= static_cast<int>(captions.size()) || captions[i].isEmpty()) continue;
    QString text = captions[i];
    const bool wrong = text.startsWith(kWrongMarker);
    if (wrong) text = text.mid(kWrongMarker.size());
    // Captions may spill into the padding between cells, not further.
    const QRect strip = g.captionRect(i).adjusted(-padding / 2, 0, padding / 2, 0);
    painter.setPen(wrong ? wrongCaptionColor() : captionColor());
    painter.drawText(strip, Qt::AlignHCenter | Qt::AlignTop,
                     metrics.elidedText(text, Qt::ElideRight, strip.width()));
  }
  return grid;
}

QImage renderPreview(const Preview& preview, int cellScale) {
  if (!preview.images.defined() || preview.images.numel() == 0) return {};
  const int columns = static_cast<int>(std::max<int64_t>(1, preview.columns));
  // One label per column (and more images than columns): column headers above the grid.
  const bool headers = static_cast<int>(preview.labels.size()) == columns &&
                       preview.images.size(0) > columns;
  std::vector<QString> captions;
  if (!headers) {
    captions.reserve(preview.labels.size());
    for (const std::string& label : preview.labels) captions.push_back(QString::fromStdString(label));
  }
  QImage grid = imageGrid(preview.images, columns, cellScale, captions);
  const QFont font = captionFont();
  const QFontMetrics metrics(font);
  if (headers) {
    const GridGeometry g = gridGeometry(static_cast<int>(preview.images.size(0)),
                                        static_cast<int>(preview.images.size(2)),
                                        static_cast<int>(preview.images.size(3)), columns,
                                        cellScale, false);
    const int h = metrics.height() + 2;
    QImage withHeader(grid.width(), grid.height() + h, QImage::Format_RGB32);
    withHeader.fill(Qt::white);
    QPainter painter(&withHeader);
    painter.drawImage(0, h, grid);
    painter.setFont(font);
    painter.setPen(captionColor());
    for (int c = 0; c < columns; ++c) {
      const QRect cell = g.cellRect(c);
      const QRect strip(cell.left(), 1, cell.width(), h - 1);
      painter.drawText(strip, Qt::AlignHCenter | Qt::AlignTop,
                       metrics.elidedText(QString::fromStdString(preview.labels[c]), Qt::ElideRight,
                                          strip.width()));
    }
    painter.end();
    grid = withHeader;
  }
  if (preview.caption.empty()) return grid;

  const QString text = QString::fromStdString(preview.caption);
  const int margin = 4;
  const QRect textBox = metrics.boundingRect(QRect(0, 0, grid.width() - 2 * margin, 100000),
                                             Qt::AlignHCenter | Qt::TextWordWrap, text);
  QImage out(grid.width(), grid.height() + textBox.height() + margin, QImage::Format_RGB32);
  out.fill(Qt::white);
  QPainter painter(&out);
  painter.drawImage(0, 0, grid);
  painter.setFont(font);
  painter.setPen(captionColor());
  painter.drawText(QRect(margin, grid.height(), grid.width() - 2 * margin, textBox.height()),
                   Qt::AlignHCenter | Qt::TextWordWrap, text);
  return out;
}

}  // namespace pretext
