#include "ui/widgets/matrix_heatmap_view.h"

#include <QHelpEvent>
#include <QPainter>
#include <QToolTip>
#include <algorithm>
#include <cmath>

#include "viz/colormap.h"

namespace pretext {

namespace {
constexpr int kHeatmapBarWidth = 14;
}

MatrixHeatmapView::MatrixHeatmapView(QWidget* parent) : QWidget(parent) {
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
  setMouseTracking(true);
}

void MatrixHeatmapView::setMatrix(const QVector<double>& values, const QStringList& rowNames,
                                  const QStringList& columnNames, double vmin, double vmax) {
  if (rowNames.isEmpty() || columnNames.isEmpty() || values.size() != rowNames.size() * columnNames.size()) {
    clear(tr("No matrix"));
    return;
  }
  values_ = values;
  rowNames_ = rowNames;
  columnNames_ = columnNames;
  vmin_ = vmin;
  vmax_ = vmax;
  message_.clear();
  update();
}

void MatrixHeatmapView::setAxisTitles(const QString& rowsTitle, const QString& columnsTitle) {
  rowsTitle_ = rowsTitle;
  columnsTitle_ = columnsTitle;
  update();
}

void MatrixHeatmapView::clear(const QString& message) {
  values_.clear();
  rowNames_.clear();
  columnNames_.clear();
  message_ = message;
  update();
}

MatrixHeatmapView::Layout MatrixHeatmapView::layoutNow() const {
  Layout l;
  const QFontMetrics fm = fontMetrics();
  for (const auto& n : rowNames_) l.rowNamesW = std::max(l.rowNamesW, fm.horizontalAdvance(n));
  l.rowNamesW = std::min(l.rowNamesW + 8, width() / 4);
  int colNameW = 0;
  for (const auto& n : columnNames_) colNameW = std::max(colNameW, fm.horizontalAdvance(n));
  const int axisH = fm.height() + 4;
  const int barW = kHeatmapBarWidth + fm.horizontalAdvance("0.00") + 16;
  const int left = axisH + l.rowNamesW, top = 4;
  const int availW = width() - left - barW - 4;
  // Column names are written horizontally when they fit their column, else at 45 degrees.
  const double guessW = availW / double(std::max(1, columns()));
  l.colNamesH = colNameW + 6 <= guessW ? fm.height() + 4 : int(colNameW * 0.75) + fm.height();
  const int availH = height() - top - l.colNamesH - axisH - 4;
  // Square cells unless the widget is much wider than tall.
  const double side = std::max(1.0, std::min(availW / double(std::max(1, columns())),
                                              availH / double(std::max(1, rows()))));
  l.cellW = l.cellH = side;
  const int w = int(side * columns()), h = int(side * rows());
  l.grid = QRect(left + std::max(0, (availW - w) / 2), top, w, h);
  return l;
}

QPoint MatrixHeatmapView::cellAt(const QPoint& pos) const {
  if (values_.isEmpty()) return {-1, -1};
  const Layout l = layoutNow();
  if (!l.grid.contains(pos)) return {-1, -1};
  const int c = std::min(columns() - 1, int((pos.x() - l.grid.left()) / l.cellW));
  const int r = std::min(rows() - 1, int((pos.y() - l.grid.top()) / l.cellH));
  return {c, r};
}

void MatrixHeatmapView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), palette().color(QPalette::Base));
  const QFontMetrics fm = fontMetrics();
  if (values_.isEmpty()) {
    p.setPen(palette().color(QPalette::PlaceholderText));
    p.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap, message_);
    return;
  }
  const Layout l = layoutNow();
  const QColor text = palette().color(QPalette::Text);
  const bool printValues = l.cellW >= fm.horizontalAdvance("0.00") + 6 && l.cellH >= fm.height() + 2;
  const double span = vmax_ > vmin_ ? vmax_ - vmin_ : 1.0;
  for (int r = 0; r < rows(); ++r) {
    for (int c = 0; c < columns(); ++c) {
      const double v = value(r, c);
      const QRectF cell(l.grid.left() + c * l.cellW, l.grid.top() + r * l.cellH, l.cellW, l.cellH);
      const QColor colour = std::isfinite(v) ? QColor(colormap((v - vmin_) / span, Colormap::Viridis))
                                             : QColor(missingColor());
      p.fillRect(cell, colour);
      if (printValues && std::isfinite(v)) {
        const double luma = 0.299 * colour.red() + 0.587 * colour.green() + 0.114 * colour.blue();
        p.setPen(luma > 150 ? QColor(20, 20, 20) : QColor(245, 245, 245));
        p.drawText(cell, Qt::AlignCenter, QString::number(v, 'f', 2));
      }
    }
  }
  // Row names on the left, column names under the grid.
  p.setPen(text);
  for (int r = 0; r < rows(); ++r) {
    const QRect box(l.grid.left() - l.rowNamesW, int(l.grid.top() + r * l.cellH), l.rowNamesW - 6, int(l.cellH));
    p.drawText(box, Qt::AlignRight | Qt::AlignVCenter, fm.elidedText(rowNames_[r], Qt::ElideRight, box.width()));
  }
  const bool slanted = l.colNamesH > fm.height() + 4;
  for (int c = 0; c < columns(); ++c) {
    const double x = l.grid.left() + (c + 0.5) * l.cellW;
    if (!slanted) {
      p.drawText(QRectF(x - l.cellW / 2, l.grid.bottom() + 3, l.cellW, fm.height()), Qt::AlignHCenter | Qt::AlignTop,
                 columnNames_[c]);
    } else {
      p.save();
      p.translate(x, l.grid.bottom() + 4);
      p.rotate(45);
      p.drawText(0, fm.ascent() / 2, columnNames_[c]);
      p.restore();
    }
  }
  // Axis captions.
  QFont bold = font();
  bold.setBold(true);
  p.setFont(bold);
  if (!columnsTitle_.isEmpty())
    p.drawText(QRect(l.grid.left(), l.grid.bottom() + l.colNamesH, l.grid.width(), fm.height() + 4),
               Qt::AlignCenter, columnsTitle_);
  if (!rowsTitle_.isEmpty()) {
    p.save();
    p.translate(2, l.grid.top() + l.grid.height() / 2);
    p.rotate(-90);
    p.drawText(QRect(-l.grid.height() / 2, 0, l.grid.height(), fm.height() + 2), Qt::AlignCenter, rowsTitle_);
    p.restore();
  }
  p.setFont(font());
  // Colour bar with its range.
  const int bx = l.grid.right() + 12, h = l.grid.height();
  for (int y = 0; y < h; ++y) {
    p.setPen(QColor(colormap(1.0 - double(y) / std::max(1, h - 1), Colormap::Viridis)));
    p.drawLine(bx, l.grid.top() + y, bx + kHeatmapBarWidth - 1, l.grid.top() + y);
  }
  p.setPen(text);
  p.drawText(bx + kHeatmapBarWidth + 4, l.grid.top() + fm.ascent(), QString::number(vmax_, 'f', 2));
  p.drawText(bx + kHeatmapBarWidth + 4, l.grid.bottom(), QString::number(vmin_, 'f', 2));
}

bool MatrixHeatmapView::event(QEvent* e) {
  if (e->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(e);
    const QPoint cell = cellAt(help->pos());
    if (cell.x() < 0) {
      QToolTip::hideText();
      e->ignore();
      return true;
    }
    QToolTip::showText(help->globalPos(), tr("%1 (%2) against %3 (%4): %5")
                                              .arg(rowName(cell.y()), rowsTitle_, columnName(cell.x()), columnsTitle_)
                                              .arg(value(cell.y(), cell.x()), 0, 'f', 3),
                       this);
    return true;
  }
  return QWidget::event(e);
}

}  // namespace pretext
