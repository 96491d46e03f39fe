#pragma once
// Method views: whatever pictures the running method declares (Method::previews) — rotation's
// predictions, SimCLR's pairs, and the reconstructions, colorizations and masks of the methods to
// come — with no change here. Pictures come from the trainer at each epoch's end and, while the
// panel is visible, from the live model every few seconds.
#include <QImage>
#include <QTimer>
#include <QVector>
#include <QWidget>

#include "ui/session_controller.h"

class QLabel;
class QVBoxLayout;
class QCheckBox;

namespace pretext {

class MethodViewsPanel : public QWidget {
  Q_OBJECT

 public:
  explicit MethodViewsPanel(SessionController* controller, QWidget* parent = nullptr);
  const QVector<PreviewImage>& previews() const { return previews_; }

 public slots:
  void refresh();  // ask the model for fresh previews on new test images
  void setPreviews(qint64 step, const QVector<pretext::PreviewImage>& previews);

 signals:
  void previewsShown(int count);

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  SessionController* controller_;
  QLabel* status_;
  QCheckBox* live_;
  QWidget* content_;
  QVBoxLayout* list_;
  QTimer liveTimer_;
  QVector<PreviewImage> previews_;
  QString methodTitle_;
  quint64 seed_ = 7;
  bool stale_ = true;
};

}  // namespace pretext
