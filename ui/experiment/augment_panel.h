#pragma once
// Augmentations: a few data-set images, each with the views the chosen method trains on under
// the current settings (SimCLR's pair, rotation's four turns, ...), redrawn as soon as a setting
// changes, with a re-roll of the random draws.
#include <QImage>
#include <QWidget>

class QLabel;
class QSpinBox;
class QScrollArea;

namespace pretext {

class SessionController;

class AugmentPanel : public QWidget {
  Q_OBJECT

 public:
  explicit AugmentPanel(SessionController* controller, QWidget* parent = nullptr);
  // The last rendered grid (null until the first arrives).
  QImage image() const { return image_; }
  int rows() const;
  // Columns per image row of the last picture (the image and its views: 3 for SimCLR, 5 for
  // rotation's four turns).
  int viewColumns() const { return views_; }

 public slots:
  void refresh();  // draw again with the same random draws
  void reroll();   // new images and new random draws

 signals:
  void rendered();

 protected:
  void showEvent(QShowEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;

 private:
  void display(const QImage& image, const QString& title, const QString& caption);
  SessionController* controller_;
  QSpinBox* rows_;
  QLabel* title_;
  QLabel* picture_;
  QLabel* caption_;
  QScrollArea* scroll_;
  QImage image_;
  quint64 seed_ = 1;
  int views_ = 0;
  bool stale_ = true;
};

}  // namespace pretext
