#pragma once
// Method views: whatever pictures the running method declares (Method::previews) — rotation's
// predictions, SimCLR's pairs, MAE's reconstructions, colorizations... — with no change here.
// Pictures come from the trainer at each epoch's end and, while the panel is visible, from the
// live model every few seconds. The method's preview controls (Method::previewControls) appear
// as sliders applied at inference; "Re-sample" draws new randomness (masks, views) for the same
// images; "Open image…" (or a drop) runs the method on the user's own picture.
#include <QImage>
#include <QMap>
#include <QTimer>
#include <QVector>
#include <QWidget>

#include "ui/window/session_controller.h"

class QLabel;
class QVBoxLayout;
class QHBoxLayout;
class QCheckBox;
class QPushButton;
class QSlider;

namespace pretext {

struct PreviewControlInfo {
  QString name, label, help;
  double min = 0, max = 1, step = 0.05, value = 0;
};

class MethodViewsPanel : public QWidget {
  Q_OBJECT

 public:
  explicit MethodViewsPanel(SessionController* controller, QWidget* parent = nullptr);
  const QVector<PreviewImage>& previews() const { return previews_; }
  // The sliders now shown (the method's preview controls) and their values.
  QStringList controlNames() const;
  double controlValue(const QString& name) const;
  void setControlValue(const QString& name, double value);  // moves the slider; refreshes
  bool hasUserImage() const { return !userImage_.isNull(); }

 public slots:
  void refresh();    // ask the model for fresh previews
  void newImages();  // other test images (and the test images again after a user image)
  void resample();   // same images, new randomness
  bool loadImageFile(const QString& path);  // run the method on this picture
  void setUserImage(const QImage& image);
  void setPreviews(qint64 step, const QVector<pretext::PreviewImage>& previews);
  // Presentation mode: the pictures grow up to 4x (2x otherwise) to fill what a projector shows.
  void setLargePictures(bool on);

 signals:
  void previewsShown(int count);
  void controlsChanged(const QStringList& names);

 protected:
  void showEvent(QShowEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void setControls(const QVector<PreviewControlInfo>& controls);
  void openImageFile();

  SessionController* controller_;
  QLabel* status_;
  QCheckBox* live_;
  QPushButton* testImages_;
  QHBoxLayout* controlsRow_;
  QWidget* controlsBox_;
  QWidget* content_;
  bool largePictures_ = false;
  QVBoxLayout* list_;
  QTimer liveTimer_;
  QVector<PreviewImage> previews_;
  QVector<PreviewControlInfo> controls_;
  QMap<QString, QSlider*> sliders_;
  QMap<QString, QLabel*> sliderValues_;
  QMap<QString, double> settings_;
  QImage userImage_;
  QString methodTitle_;
  qint64 imageCount_ = 16;  // test images the live pictures were made from
  quint64 imageSeed_ = 7;
  quint64 randomSeed_ = 11;
  bool stale_ = true;
};

}  // namespace pretext
