#include "ui/widgets/scatter_view.h"

#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <algorithm>
#include <cmath>
#include <limits>

#include "viz/colormap.h"

namespace pretext {

namespace {
constexpr int kMargin = 14;       // around the plot area
constexpr int kLegendRow = 18;    // height of one legend entry
constexpr double kHitRadius = 6;  // pixels
const QColor kUnlabelled(120, 120, 120);
}  // namespace

ScatterView::ScatterView(QWidget* parent) : QWidget(parent) {
  setMouseTracking(true);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
  setAttribute(Qt::WA_OpaquePaintEvent);
  setCursor(Qt::CrossCursor);
}

void ScatterView::setPoints(const QVector<QPointF>& positions, const QVector<int>& classes,
                            const QStringList& classNames) {
  positions_ = positions;
  classes_ = classes;
  classes_.resize(positions_.size());
  for (int i = classes.size(); i < classes_.size(); ++i) classes_[i] = -1;
  classNames_ = classNames;
  palette_ = categoricalColors(std::max<int>(1, static_cast<int>(classNames_.size())));
  hovered_ = selected_ = -1;
  if (highlightClass_ >= classNames_.size()) highlightClass_ = -1;
  hoverImage_ = {};
  fit();
  update();
}

void ScatterView::setPositions(const QVector<QPointF>& positions) {
  if (positions.size() != positions_.size()) return;
  positions_ = positions;
  fit();
  update();
}

void ScatterView::setPlaceholder(const QString& text) {
  placeholder_ = text;
  update();
}

void ScatterView::setSelected(int index) {
  selected_ = (index >= 0 && index < positions_.size()) ? index : -1;
  update();
}

void ScatterView::setHighlightedClass(int cls) {
  highlightClass_ = (cls >= 0 && cls < classNames_.size()) ? cls : -1;
  update();
}

QColor ScatterView::colorOf(int cls) const {
  if (cls < 0 || palette_.empty()) return kUnlabelled;
  return palette_[static_cast<size_t>(cls) % palette_.size()];
}

QRectF ScatterView::legendRect() const {
  if (classNames_.isEmpty()) return {};
  const QFontMetrics fm(font());
  int textWidth = 0;
  for (const auto& name : classNames_) textWidth = std::max(textWidth, fm.horizontalAdvance(name));
  const double w = std::min<double>(textWidth + 30, width() * 0.35);
  const int rows =
      std::min<int>(classNames_.size(), std::max(1, (height() - 2 * kMargin) / kLegendRow));
  return {width() - kMargin - w, static_cast<double>(kMargin), w, rows * double(kLegendRow) + 8};
}

QRectF ScatterView::plotRect() const {
  QRectF r(kMargin, kMargin, width() - 2 * kMargin, height() - 2 * kMargin);
  const QRectF legend = legendRect();
  if (!legend.isEmpty()) r.setRight(legend.left() - kMargin);
  return r;
}

void ScatterView::fit() {
  if (positions_.isEmpty()) {
    bounds_ = {};
    return;
  }
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& p : positions_) {
    if (!std::isfinite(p.x()) || !std::isfinite(p.y())) continue;
    x0 = std::min(x0, p.x()), x1 = std::max(x1, p.x());
    y0 = std::min(y0, p.y()), y1 = std::max(y1, p.y());
  }
  if (!std::isfinite(x0)) {
    bounds_ = {};
    return;
  }
  // Equal scale on both axes (distances mean the same in every direction), centred.
  const QRectF plot = plotRect();
  double w = std::max(x1 - x0, 1e-9), h = std::max(y1 - y0, 1e-9);
  const double aspect = plot.width() / std::max(1.0, plot.height());
  if (w / h < aspect)
    w = h * aspect;
  else
    h = w / aspect;
  const double cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  w *= 1.06, h *= 1.06;  // room for the dots' radius
  bounds_ = QRectF(cx - w / 2, cy - h / 2, w, h);
}

QPointF ScatterView::widgetPosition(int index) const {
  const QRectF plot = plotRect();
  const QPointF& p = positions_[index];
  if (bounds_.isEmpty()) return plot.center();
  return {plot.left() + (p.x() - bounds_.left()) / bounds_.width() * plot.width(),
          plot.bottom() - (p.y() - bounds_.top()) / bounds_.height() * plot.height()};
}

int ScatterView::pointAt(const QPointF& pos) const {
  int best = -1;
  double bestD2 = kHitRadius * kHitRadius;
  for (int i = 0; i < positions_.size(); ++i) {
    if (highlightClass_ >= 0 && classes_[i] != highlightClass_) continue;
    const QPointF d = widgetPosition(i) - pos;
    const double d2 = d.x() * d.x() + d.y() * d.y();
    if (d2 <= bestD2) bestD2 = d2, best = i;
  }
  return best;
}

int ScatterView::legendEntryAt(const QPointF& pos) const {
  const QRectF legend = legendRect();
  if (!legend.contains(pos)) return -1;
  const int row = static_cast<int>((pos.y() - legend.top() - 4) / kLegendRow);
  return (row >= 0 && row < classNames_.size() && row < legend.height() / kLegendRow) ? row : -1;
}

void ScatterView::resizeEvent(QResizeEvent*) { fit(); }

void ScatterView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), Qt::white);
  p.setRenderHint(QPainter::Antialiasing);
  const QRectF plot = plotRect();
  p.setPen(QColor(225, 225, 225));
  p.drawRect(plot.adjusted(-kMargin / 2.0, -kMargin / 2.0, kMargin / 2.0, kMargin / 2.0));

  if (positions_.isEmpty()) {
    p.setPen(QColor(110, 110, 110));
    p.drawText(plot, Qt::AlignCenter | Qt::TextWordWrap,
               placeholder_.isEmpty() ? tr("No points") : placeholder_);
    return;
  }

  // Dots shrink a little as they get dense, so 2000 of them stay readable.
  const int n = positions_.size();
  const double r = n > 1500 ? 2.4 : n > 600 ? 3.0 : 3.8;
  p.setPen(Qt::NoPen);
  for (int pass = 0; pass < 2; ++pass) {
    // Pass 0: the faded classes (when one is highlighted); pass 1: the rest, on top.
    for (int i = 0; i < n; ++i) {
      const bool faded = highlightClass_ >= 0 && classes_[i] != highlightClass_;
      if (faded != (pass == 0)) continue;
      QColor c = colorOf(classes_[i]);
      c.setAlpha(faded ? 35 : 200);
      p.setBrush(c);
      p.drawEllipse(widgetPosition(i), r, r);
    }
  }
  auto ring = [&](int i, const QColor& color, double radius, double width) {
    if (i < 0 || i >= n) return;
    p.setBrush(colorOf(classes_[i]));
    p.setPen(QPen(color, width));
    p.drawEllipse(widgetPosition(i), radius, radius);
  };
  ring(selected_, Qt::black, r + 3.5, 2.0);
  ring(hovered_, QColor(40, 40, 40), r + 2.5, 1.5);

  // Legend: a dot and the class name per row; the highlighted class in bold.
  const QRectF legend = legendRect();
  if (!legend.isEmpty()) {
    p.setPen(QColor(220, 220, 220));
    p.setBrush(QColor(255, 255, 255, 235));
    p.drawRoundedRect(legend, 4, 4);
    const int rows = static_cast<int>(legend.height() / kLegendRow);
    const QFontMetrics fm(font());
    for (int c = 0; c < classNames_.size() && c < rows; ++c) {
      const double y = legend.top() + 4 + c * kLegendRow;
      const bool dim = highlightClass_ >= 0 && c != highlightClass_;
      QColor dot = colorOf(c);
      if (dim) dot.setAlpha(70);
      p.setPen(Qt::NoPen);
      p.setBrush(dot);
      p.drawEllipse(QPointF(legend.left() + 12, y + kLegendRow / 2.0), 5, 5);
      QFont f = font();
      f.setBold(c == highlightClass_);
      p.setFont(f);
      p.setPen(dim ? QColor(150, 150, 150) : QColor(30, 30, 30));
      QString label = classNames_[c];
      if (c == rows - 1 && classNames_.size() > rows)
        label = tr("... %1 more").arg(classNames_.size() - rows + 1);
      p.drawText(QRectF(legend.left() + 22, y, legend.width() - 26, kLegendRow),
                 Qt::AlignVCenter | Qt::AlignLeft,
                 fm.elidedText(label, Qt::ElideRight, static_cast<int>(legend.width() - 26)));
    }
    p.setFont(font());
  }
  paintCard(p);
}

// The hover card: the point's image, enlarged, with its class and test index.
void ScatterView::paintCard(QPainter& p) {
  if (hovered_ < 0 || hovered_ >= positions_.size()) return;
  const int cls = classes_[hovered_];
  const QString text =
      (cls >= 0 && cls < classNames_.size() ? classNames_[cls] : tr("unlabelled")) +
      QStringLiteral("  #%1").arg(hovered_);
  QSize imgSize;
  if (!hoverImage_.isNull()) {
    const int scale =
        std::max(1, 96 / std::max(1, std::max(hoverImage_.width(), hoverImage_.height())));
    imgSize = hoverImage_.size() * scale;
  }
  const QFontMetrics fm(font());
  const int pad = 6;
  const int w = std::max(imgSize.width(), fm.horizontalAdvance(text)) + 2 * pad;
  const int h = imgSize.height() + (imgSize.isEmpty() ? 0 : pad) + fm.height() + 2 * pad;
  const QPointF at = widgetPosition(hovered_);
  QRectF card(at.x() + 12, at.y() + 12, w, h);
  if (card.right() > width() - 2) card.moveRight(at.x() - 12);
  if (card.bottom() > height() - 2) card.moveBottom(at.y() - 12);
  p.setPen(QPen(colorOf(cls), 2));
  p.setBrush(Qt::white);
  p.drawRoundedRect(card, 5, 5);
  if (!imgSize.isEmpty()) {
    p.setRenderHint(QPainter::SmoothPixmapTransform, false);  // crisp pixels
    p.drawImage(QRectF(card.left() + (w - imgSize.width()) / 2.0, card.top() + pad, imgSize.width(),
                       imgSize.height()),
                hoverImage_);
  }
  p.setPen(QColor(20, 20, 20));
  p.drawText(QRectF(card.left(), card.bottom() - pad - fm.height(), w, fm.height()),
             Qt::AlignCenter, text);
}

void ScatterView::setHovered(int index) {
  if (index == hovered_) return;
  hovered_ = index;
  hoverImage_ = (index >= 0 && thumbnail_) ? thumbnail_(index) : QImage();
  update();
  emit pointHovered(index);
}

void ScatterView::mouseMoveEvent(QMouseEvent* e) {
  const QPointF pos = e->position();
  setHovered(legendEntryAt(pos) >= 0 ? -1 : pointAt(pos));
  setCursor(legendEntryAt(pos) >= 0 || hovered_ >= 0 ? Qt::PointingHandCursor : Qt::CrossCursor);
}

void ScatterView::mousePressEvent(QMouseEvent* e) {
  if (e->button() != Qt::LeftButton) return;
  const QPointF pos = e->position();
  const int entry = legendEntryAt(pos);
  if (entry >= 0) {
    setHighlightedClass(entry == highlightClass_ ? -1 : entry);
    return;
  }
  const int i = pointAt(pos);
  if (i < 0) return;
  setSelected(i);
  emit pointClicked(i);
}

void ScatterView::leaveEvent(QEvent*) { setHovered(-1); }

}  // namespace pretext
