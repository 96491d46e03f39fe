#include "ui/evaluation/confusion_matrix_view.h"

#include <QHelpEvent>
#include <QPainter>
#include <QToolTip>
#include <algorithm>
#include <cmath>

#include "viz/colormap.h"

namespace pretext {

ConfusionMatrixView::ConfusionMatrixView(QWidget* parent) : QWidget(parent) {
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void ConfusionMatrixView::setMatrix(const QVector<qint64>& counts, const QStringList& classNames,
                                    const QString& title) {
  const int c = int(std::lround(std::sqrt(double(counts.size()))));
  if (counts.isEmpty() || c * c != counts.size()) {
    clear(title);
    return;
  }
  counts_ = counts;
  classes_ = c;
  names_ = classNames;
  title_ = title;
  update();
}

void ConfusionMatrixView::clear(const QString& message) {
  counts_.clear();
  classes_ = 0;
  names_.clear();
  title_ = message;
  update();
}

qint64 ConfusionMatrixView::total() const {
  qint64 t = 0;
  for (qint64 v : counts_) t += v;
  return t;
}

QString ConfusionMatrixView::name(int c) const {
  return c < names_.size() && !names_[c].isEmpty() ? names_[c] : QString::number(c);
}

ConfusionMatrixView::Geometry ConfusionMatrixView::geometry() const {
  Geometry g;
  const QFontMetrics fm = fontMetrics();
  int nameW = 0;
  for (int c = 0; c < classes_; ++c) nameW = std::max(nameW, fm.horizontalAdvance(name(c)));
  nameW = std::min(nameW + 8, width() / 4);
  const int titleH = fm.height() + 6;
  const int axisH = fm.height() + 4;  // "true class" / "predicted class" captions
  // Column names are written at 45 degrees under the grid: their height is ~0.75 x the width.
  const int colNamesH = int(nameW * 0.75) + fm.height();
  int left = axisH + nameW, top = titleH;
  int availW = width() - left - 8, availH = height() - top - colNamesH - axisH - 4;
  g.cell = std::max(1.0, std::min(availW, availH) / double(std::max(1, classes_)));
  g.names = g.cell >= fm.height() * 0.8;  // 100 classes: no room for names
  if (!g.names) {
    left = axisH + 4;
    availW = width() - left - 8;
    availH = height() - top - axisH - 8;
    g.cell = std::max(1.0, std::min(availW, availH) / double(std::max(1, classes_)));
  }
  g.colNamesH = colNamesH;
  const int side = int(g.cell * classes_);
  g.grid = QRect(left + std::max(0, (availW - side) / 2), top, side, side);
  return g;
}

void ConfusionMatrixView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing, false);
  const QFontMetrics fm = fontMetrics();
  if (classes_ == 0) {
    p.setPen(palette().color(QPalette::PlaceholderText));
    p.drawText(rect().adjusted(8, 8, -8, -8), Qt::AlignCenter | Qt::TextWordWrap,
               title_.isEmpty() ? tr("Select a result with a confusion matrix") : title_);
    return;
  }
  const Geometry g = geometry();
  p.setPen(palette().color(QPalette::WindowText));
  p.drawText(QRect(0, 0, width(), fm.height() + 4), Qt::AlignCenter,
             fm.elidedText(title_, Qt::ElideRight, width() - 8));

  // One font for every count: the largest (up to the widget's) at which the widest count fits
  // its cell; none at all when even 6 pt does not fit (100 classes).
  qint64 widest = 0;
  for (qint64 v : counts_) widest = std::max(widest, v);
  const QString widestText = QString::number(widest);
  QFont small = font();
  bool numbers = false;
  for (double pt = font().pointSizeF(); pt >= 6; pt -= 0.5) {
    small.setPointSizeF(pt);
    const QFontMetrics m(small);
    if (m.horizontalAdvance(widestText) + 4 < g.cell && m.height() < g.cell) {
      numbers = true;
      break;
    }
  }
  for (int t = 0; t < classes_; ++t) {
    qint64 rowSum = 0;
    for (int q = 0; q < classes_; ++q) rowSum += count(t, q);
    for (int q = 0; q < classes_; ++q) {
      const qint64 v = count(t, q);
      const double share = rowSum > 0 ? double(v) / double(rowSum) : 0;
      const QRectF r(g.grid.left() + q * g.cell, g.grid.top() + t * g.cell, g.cell, g.cell);
      const QColor c = QColor::fromRgb(colormap(share, Colormap::Viridis));
      p.fillRect(r, c);
      if (numbers) {
        const QString text = QString::number(v);
        p.setFont(small);
        p.setPen(c.lightnessF() > 0.55 ? Qt::black : Qt::white);
        p.drawText(r, Qt::AlignCenter, text);
        p.setFont(font());
      }
    }
  }
  p.setPen(palette().color(QPalette::Mid));
  p.drawRect(g.grid.adjusted(0, 0, -1, -1));

  p.setPen(palette().color(QPalette::WindowText));
  const int axisH = fm.height() + 4;
  // Row names (true classes) right-aligned left of the grid.
  if (g.names) {
    for (int t = 0; t < classes_; ++t) {
      const QRectF r(axisH, g.grid.top() + t * g.cell, g.grid.left() - axisH - 4, g.cell);
      p.drawText(r, Qt::AlignRight | Qt::AlignVCenter,
                 fm.elidedText(name(t), Qt::ElideRight, int(r.width())));
    }
    // Column names (predictions) at 45 degrees under the grid.
    for (int q = 0; q < classes_; ++q) {
      p.save();
      p.translate(g.grid.left() + (q + 0.5) * g.cell + fm.ascent() / 3.0, g.grid.bottom() + 6);
      p.rotate(-45);
      p.drawText(-fm.horizontalAdvance(name(q)), fm.ascent() / 2, name(q));
      p.restore();
    }
  }
  // Axis captions.
  p.save();
  p.translate(fm.ascent(), g.grid.center().y());
  p.rotate(-90);
  p.drawText(QRect(-g.grid.height() / 2, -fm.ascent(), g.grid.height(), fm.height()),
             Qt::AlignCenter, tr("true class"));
  p.restore();
  // Under the column names, centred on the grid but free to use the whole width.
  const int captionTop =
      std::min(height() - fm.height() - 2, g.grid.bottom() + 4 + g.names * g.colNamesH);
  QString caption = tr("predicted class  (colour: share of the true class)");
  if (fm.horizontalAdvance(caption) + 8 > width()) caption = tr("predicted class");
  const int cw = std::min(width(), fm.horizontalAdvance(caption) + 8);
  const int cx = std::clamp(g.grid.center().x() - cw / 2, 0, width() - cw);
  p.drawText(QRect(cx, captionTop, cw, fm.height()), Qt::AlignCenter, caption);
}

bool ConfusionMatrixView::event(QEvent* e) {
  if (e->type() == QEvent::ToolTip && classes_ > 0) {
    auto* help = static_cast<QHelpEvent*>(e);
    const Geometry g = geometry();
    if (g.grid.contains(help->pos())) {
      const int q = std::min(classes_ - 1, int((help->pos().x() - g.grid.left()) / g.cell));
      const int t = std::min(classes_ - 1, int((help->pos().y() - g.grid.top()) / g.cell));
      qint64 rowSum = 0;
      for (int i = 0; i < classes_; ++i) rowSum += count(t, i);
      const qint64 v = count(t, q);
      QToolTip::showText(help->globalPos(),
                         tr("true %1, predicted %2: %3 (%4% of %1)")
                             .arg(name(t), name(q))
                             .arg(v)
                             .arg(rowSum > 0 ? 100.0 * double(v) / double(rowSum) : 0.0, 0, 'f', 1),
                         this);
    } else {
      QToolTip::hideText();
    }
    return true;
  }
  return QWidget::event(e);
}

}  // namespace pretext
