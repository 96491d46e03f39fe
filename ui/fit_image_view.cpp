#include "ui/fit_image_view.h"

#include <QPainter>
#include <algorithm>
#include <cmath>

namespace pretext {

FitImageView::FitImageView(QWidget* parent) : QWidget(parent) {
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void FitImageView::setImage(const QImage& image) {
  image_ = image;
  updateGeometry();
  update();
}

void FitImageView::setPlaceholder(const QString& text) {
  placeholder_ = text;
  update();
}

QSize FitImageView::sizeHint() const {
  if (image_.isNull()) return {320, 200};
  return image_.size().boundedTo(QSize(900, 900)).expandedTo(QSize(120, 80));
}

QRectF FitImageView::imageRect() const {
  if (image_.isNull() || width() < 2 || height() < 2) return {};
  const double scale =
      std::min({double(width()) / image_.width(), double(height()) / image_.height(), maxScale_});
  // Whole-number enlargements keep every source pixel the same size.
  const double s = scale >= 1 ? std::max(1.0, std::floor(scale * 4) / 4) : scale;
  const QSizeF size(image_.width() * s, image_.height() * s);
  return {(width() - size.width()) / 2, (height() - size.height()) / 2, size.width(),
          size.height()};
}

void FitImageView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  if (image_.isNull()) {
    p.setPen(QColor(120, 120, 120));
    p.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap, placeholder_);
    return;
  }
  const QRectF r = imageRect();
  p.setRenderHint(QPainter::SmoothPixmapTransform, r.width() < image_.width());
  p.drawImage(r, image_);
}

}  // namespace pretext
