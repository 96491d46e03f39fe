#pragma once
// "Inside the encoder": the first layer's filters as an image grid; for a chosen stage and
// channel, the test images that excite that channel most (mean activation over space, as in
// the colorization paper's hidden-unit figure); and the representational-similarity matrix
// (cosine similarity of features) of test images sorted by class. One engine request computes
// everything; choosing another stage or channel only re-sorts what came back.
#include <QImage>
#include <QString>
#include <QStringList>
#include <QVector>
#include <QWidget>
#include <memory>

class QComboBox;
class QLabel;
class QPushButton;
class QSpinBox;

namespace pretext {

class FitImageView;
class SessionController;

class EncoderPanel : public QWidget {
  Q_OBJECT

 public:
  explicit EncoderPanel(SessionController* controller, QWidget* parent = nullptr);
  ~EncoderPanel() override;

  void setScannedImages(int n);     // images searched for top activations (default 1000)
  void setSimilarityImages(int m);  // images in the similarity matrix (default 200)
  void setTopK(int k);              // images shown per channel (default 16)
  void setStage(int stage);
  void setChannel(int channel);
  int stage() const;
  int channel() const;
  int stageCount() const;
  int channelCount() const;  // of the current stage

  // What is shown (for tests and screenshots).
  QImage filterImage() const;
  QImage topImage() const;
  QImage similarityImage() const;
  // Test-set indices of the images shown for the current channel, best first.
  QVector<qint64> topIndices() const { return topIndices_; }

 public slots:
  void refresh();

 signals:
  void refreshed();  // new data arrived and is shown

 protected:
  void showEvent(QShowEvent* e) override;

 private:
  struct Data;
  void onData(std::shared_ptr<Data> d);
  void showFilters();
  void showStages();
  void showTop();
  void showSimilarity();

  SessionController* controller_;
  QPushButton* refresh_;
  QSpinBox* scanned_;
  QSpinBox* similarityCount_;
  QSpinBox* topK_;
  QComboBox* stage_;
  QSpinBox* channel_;
  QLabel* status_;
  QLabel* filterInfo_;
  QLabel* topInfo_;
  QLabel* similarityInfo_;
  FitImageView* filters_;
  FitImageView* top_;
  FitImageView* similarity_;
  std::shared_ptr<Data> data_;
  QVector<qint64> topIndices_;
  bool stale_ = true;
  bool pending_ = false;
};

}  // namespace pretext
