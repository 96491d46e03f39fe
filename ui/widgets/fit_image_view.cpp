#include "ui/widgets/fit_image_view.h"

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

void FitImageView::setFollowWidth(bool on) {
  followWidth_ = on;
  QSizePolicy policy(QSizePolicy::Expanding, on ? QSizePolicy::Preferred : QSizePolicy::Expanding);
  policy.setHeightForWidth(on);
  setSizePolicy(policy);
  updateGeometry();
}

int FitImageView::heightForWidth(int width) const {
  if (image_.isNull() || image_.width() == 0) return 80;
  const double scale = std::min(double(width) / image_.width(), maxScale_);
  const double s = scale >= 1 ? std::floor(scale) : scale;
  return int(std::ceil(image_.height() * s));
}

QSize FitImageView::sizeHint() const {
  if (image_.isNull()) return {320, 200};
  if (followWidth_) {
    const int w = int(image_.width() * std::max(1.0, std::floor(maxScale_)));
    return {w, heightForWidth(w)};
  }
  return image_.size().boundedTo(QSize(900, 900)).expandedTo(QSize(120, 80));
}

QRectF FitImageView::imageRect() const {
  if (image_.isNull() || width() < 2 || height() < 2) return {};
  const double scale =
      std::min({double(width()) / image_.width(), double(height()) / image_.height(), maxScale_});
  // Whole-number enlargements keep every source pixel the same size; reductions are smooth.
  const double s = scale >= 1 ? std::floor(scale) : scale;
  const QSizeF size(image_.width() * s, image_.height() * s);
  // Whole-pixel placement: a half-pixel offset would resample (and blur) the image.
  return QRectF(std::floor((width() - size.width()) / 2),
                std::floor((height() - size.height()) / 2), std::round(size.width()),
                std::round(size.height()));
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
