#pragma once
// "Inside the loss": one batch's loss taken apart by the method (Method::lossAnatomy) on test
// images under the run's augmentation — the matrix the loss is computed from (a contrastive
// batch's 2N x 2N similarities with the positives ringed, Barlow Twins' cross-correlation), each
// row's share of the loss, the hardest anchors with their positive and the negative that beats
// it, and the loss's terms. On demand (New batch) or live while training (every few seconds).
#include <QString>
#include <QWidget>
#include <memory>
#include <vector>

class QCheckBox;
class QCustomPlot;
class QLabel;
class QPushButton;
class QSpinBox;
class QTimer;

namespace pretext {

class FitImageView;
class SessionController;
struct LossAnatomy;

class LossPanel : public QWidget {
  Q_OBJECT

 public:
  explicit LossPanel(SessionController* controller, QWidget* parent = nullptr);
  ~LossPanel() override;

  void setBatchSize(int n);  // test images in the batch (default 32)
  void setLive(bool live);
  // What is shown (for tests and screenshots).
  const LossAnatomy* anatomy() const;
  QString terms() const;
  QString status() const;
  int hardestShown() const { return hardestShown_; }

 public slots:
  void refresh();   // the same images, fresh views
  void newBatch();  // other test images

 signals:
  void refreshed();

 protected:
  void showEvent(QShowEvent* e) override;

 private:
  void showAnatomy(std::shared_ptr<std::vector<LossAnatomy>> list, const QString& model);
  void drawMatrix();
  void drawPerRow();
  void drawHardest();

  SessionController* controller_;
  QSpinBox* batch_;
  QPushButton* again_;
  QPushButton* other_;
  QCheckBox* live_;
  QLabel* status_;
  QLabel* title_;
  FitImageView* matrix_;
  QLabel* explanation_;
  QCustomPlot* perRow_;
  FitImageView* hardest_;
  QLabel* hardestInfo_;
  QLabel* terms_;
  QTimer* liveTimer_;
  std::shared_ptr<std::vector<LossAnatomy>> data_;
  int offset_ = 0;      // first test image of the batch
  uint64_t draws_ = 0;  // seeds the views
  bool pending_ = false;
  bool stale_ = true;
  int hardestShown_ = 0;
};

}  // namespace pretext
