#include "ui/widgets/image_grid_view.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <algorithm>

namespace pretext {

namespace {
bool isWrong(const QString& caption) { return caption.startsWith(QLatin1String("x ")); }
}  // namespace

ImageGridView::ImageGridView(QWidget* parent) : QWidget(parent) {
  setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Preferred);
  setMouseTracking(false);
}

void ImageGridView::setImages(const QVector<QImage>& images, const QStringList& captions) {
  images_ = images;
  captions_ = captions;
  if (selected_ >= images_.size()) selected_ = -1;
  updateHeight();
  update();
}

void ImageGridView::setToolTips(const QStringList& tips) { tips_ = tips; }

void ImageGridView::clear() {
  images_.clear();
  captions_.clear();
  tips_.clear();
  selected_ = -1;
  updateHeight();
  update();
}

void ImageGridView::setCellSize(int pixels) {
  cellSize_ = std::max(8, pixels);
  updateHeight();
  update();
}

void ImageGridView::setColumns(int columns) {
  columns_ = std::max(0, columns);
  updateHeight();
  update();
}

void ImageGridView::setSelected(int index) {
  selected_ = index;
  update();
}

void ImageGridView::setPlaceholder(const QString& text) {
  placeholder_ = text;
  update();
}

void ImageGridView::setFitRange(int minCell, int maxCell) {
  fitMin_ = std::max(8, minCell);
  fitMax_ = maxCell;
  updateHeight();
  update();
}

ImageGridView::Layout ImageGridView::layoutWith(int width, int cell) const {
  Layout l;
  const int n = std::max(1, int(images_.size()));
  int lines = 0;
  for (const QString& c : captions_) lines = std::max<int>(lines, c.count(QLatin1Char('\n')) + 1);
  l.caption = lines == 0 ? 0 : lines * fontMetrics().height() + 2;
  l.cell = cell;
  if (columns_ > 0) {
    l.columns = std::min(columns_, n);
    // A fixed column count shrinks the cells to fit the width (never below 12 px).
    l.cell = std::clamp((width - kPad) / l.columns - kPad, 12, cell);
  } else {
    l.columns = std::clamp((width - kPad) / (cell + kPad), 1, n);
  }
  l.rows = images_.isEmpty() ? 0 : (int(images_.size()) + l.columns - 1) / l.columns;
  return l;
}

ImageGridView::Layout ImageGridView::layoutFor(int width) const {
  if (fitMax_ <= 0 || columns_ > 0 || !parentWidget() || images_.isEmpty())
    return layoutWith(width, cellSize_);
  const int avail = parentWidget()->height();
  auto height = [&](const Layout& l) { return l.rows * (l.cell + l.caption + kPad) + kPad; };
  Layout best = layoutWith(width, fitMin_);
  for (int cell = fitMin_ + 4; cell <= fitMax_; cell += 4) {
    const Layout l = layoutWith(width, cell);
    if (height(l) > avail || l.cell + 2 * kPad > width) break;
    best = l;
  }
  return best;
}

QRect ImageGridView::cellRect(int i) const {
  const Layout l = layoutFor(width());
  const int col = i % l.columns, row = i / l.columns;
  // Centre the grid horizontally when it does not fill the width.
  const int used = l.columns * (l.cell + kPad) + kPad;
  const int x0 = std::max(0, (width() - used) / 2);
  return {x0 + kPad + col * (l.cell + kPad), kPad + row * (l.cell + l.caption + kPad), l.cell,
          l.cell};
}

int ImageGridView::cellAt(const QPoint& p) const {
  const Layout l = layoutFor(width());
  for (int i = 0; i < images_.size(); ++i) {
    QRect r = cellRect(i);
    r.setHeight(l.cell + l.caption);
    if (r.contains(p)) return i;
  }
  return -1;
}

int ImageGridView::heightForWidth(int w) const {
  const Layout l = layoutFor(w);
  if (l.rows == 0) return 3 * fontMetrics().height();
  return l.rows * (l.cell + l.caption + kPad) + kPad;
}

QSize ImageGridView::sizeHint() const {
  const int cols = columns_ > 0 ? columns_ : std::min<int>(8, std::max<int>(1, images_.size()));
  const int w = cols * (cellSize_ + kPad) + kPad;
  return {w, heightForWidth(w)};
}

QSize ImageGridView::minimumSizeHint() const { return {cellSize_ + 2 * kPad, cellSize_ / 2}; }

void ImageGridView::updateHeight() {
  // Inside a QScrollArea (widgetResizable) heightForWidth is not consulted: ask for the height
  // the current width needs.
  setMinimumHeight(heightForWidth(width()));
  updateGeometry();
}

void ImageGridView::resizeEvent(QResizeEvent* e) {
  QWidget::resizeEvent(e);
  const int h = heightForWidth(width());
  if (minimumHeight() != h) setMinimumHeight(h);
  update();
}

void ImageGridView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  if (images_.isEmpty()) {
    if (!placeholder_.isEmpty()) {
      p.setPen(palette().color(QPalette::PlaceholderText));
      p.drawText(rect().adjusted(8, 8, -8, -8), Qt::AlignCenter | Qt::TextWordWrap, placeholder_);
    }
    return;
  }
  const Layout l = layoutFor(width());
  p.setRenderHint(QPainter::SmoothPixmapTransform, false);  // crisp, blocky pixels
  const QColor wrong(214, 39, 40), highlight = palette().color(QPalette::Highlight);
  for (int i = 0; i < images_.size(); ++i) {
    const QRect cell = cellRect(i);
    const QImage& img = images_[i];
    if (!img.isNull()) {
      // Keep the aspect ratio inside the square cell.
      QSize s = img.size().scaled(cell.size(), Qt::KeepAspectRatio);
      QRect target(QPoint(0, 0), s);
      target.moveCenter(cell.center());
      p.drawImage(target, img);
    }
    const QString cap = caption(i);
    if (isWrong(cap)) {
      p.setPen(QPen(wrong, 2));
      p.drawRect(cell.adjusted(-1, -1, 0, 0));
    }
    if (i == selected_) {
      p.setPen(QPen(highlight, 3));
      p.drawRect(cell.adjusted(-2, -2, 1, 1));
    }
    if (l.caption > 0 && !cap.isEmpty()) {
      const bool bad = isWrong(cap);
      const QString text = bad ? cap.mid(2) : cap;
      const QRect capRect(cell.left() - kPad / 2, cell.bottom() + 1, cell.width() + kPad,
                          l.caption);
      p.setPen(bad ? wrong : palette().color(QPalette::WindowText));
      const QStringList lines = text.split(QLatin1Char('\n'));
      const int lh = p.fontMetrics().height();
      for (int k = 0; k < lines.size(); ++k)
        p.drawText(QRect(capRect.left(), capRect.top() + k * lh, capRect.width(), lh),
                   Qt::AlignCenter,
                   p.fontMetrics().elidedText(lines[k], Qt::ElideRight, capRect.width()));
    }
  }
}

void ImageGridView::mousePressEvent(QMouseEvent* e) {
  if (e->button() != Qt::LeftButton) return QWidget::mousePressEvent(e);
  const int i = cellAt(e->position().toPoint());
  if (i >= 0) emit cellClicked(i);
}

bool ImageGridView::event(QEvent* e) {
  if (e->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(e);
    const int i = cellAt(help->pos());
    QString tip;
    if (i >= 0) tip = i < tips_.size() ? tips_[i] : caption(i);
    if (tip.isEmpty()) {
      QToolTip::hideText();
      e->ignore();
    } else {
      QToolTip::showText(help->globalPos(), tip, this);
    }
    return true;
  }
  return QWidget::event(e);
}

}  // namespace pretext
