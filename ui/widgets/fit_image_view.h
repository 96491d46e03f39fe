#pragma once
// Shows one QImage scaled to fit the widget (aspect kept, centred): pixel-exact nearest-neighbour
// enlargement for small images (filters, thumbnails, heat maps), smooth reduction when the widget
// is smaller than the image.
#include <QImage>
#include <QString>
#include <QWidget>

namespace pretext {

class FitImageView : public QWidget {
  Q_OBJECT

 public:
  explicit FitImageView(QWidget* parent = nullptr);
  void setImage(const QImage& image);
  const QImage& image() const { return image_; }
  // Shown (grey, centred) when there is no image.
  void setPlaceholder(const QString& text);
  // The largest enlargement (default 4: a 28 px image at most 112 px per cell).
  void setMaxScale(double scale) {
    maxScale_ = scale;
    updateGeometry();
    update();
  }
  // Follow-width mode (a picture in a scrolled list): the widget's height follows its width so
  // that the image fills the width, up to the largest enlargement, instead of the reverse.
  void setFollowWidth(bool on);
  bool hasHeightForWidth() const override { return followWidth_; }
  int heightForWidth(int width) const override;
  // Where the image is drawn, in widget coordinates.
  QRectF imageRect() const;

  QSize sizeHint() const override;
  QSize minimumSizeHint() const override { return {120, 80}; }

 protected:
  void paintEvent(QPaintEvent*) override;

 private:
  QImage image_;
  QString placeholder_;
  double maxScale_ = 4;
  bool followWidth_ = false;
};

}  // namespace pretext
