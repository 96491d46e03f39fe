#pragma once
// Nearest neighbours: pick a query (click a test image, open a file, or drop one on the panel)
// and see its top-k gallery images by cosine similarity of the encoder's features, with their
// labels and precision@k. The gallery is the labelled training set (the first `galleryLimit`
// images); its features are computed on the engine thread and cached until the model changes.
#include <QElapsedTimer>
#include <QImage>
#include <QVector>
#include <QWidget>
#include <memory>

class QCheckBox;
class QLabel;
class QPushButton;
class QSpinBox;

namespace pretext {

class ImageGridView;
class SessionController;
struct StepPoint;
struct NeighboursGallery;  // cached gallery features (a CPU tensor), defined in the .cpp

class NeighboursPanel : public QWidget {
  Q_OBJECT

 public:
  explicit NeighboursPanel(SessionController* controller, QWidget* parent = nullptr);
  ~NeighboursPanel() override;

  int k() const;
  void setK(int k);
  int galleryLimit() const;
  void setGalleryLimit(int limit);  // 0 = the whole labelled training set
  bool live() const;
  void setLive(bool on);
  // While training with "live" on: refresh at most this often (the panel also keeps its own
  // share of the engine's time under ~10%, so a large gallery refreshes less often).
  void setLiveIntervalMs(int ms) { liveIntervalMs_ = ms; }

  // The last result (for tests and for whoever wires the panel): gallery indices (rows of the
  // labelled training set), cosine similarities (sorted, highest first), gallery labels (-1 when
  // unlabelled), and precision@k in [0,1] (-1 when the query's label is unknown).
  QVector<qint64> resultIndices() const { return resultIndices_; }
  QVector<float> resultSimilarities() const { return resultSims_; }
  QVector<int> resultLabels() const { return resultLabels_; }
  double precisionAtK() const { return precision_; }
  QString errorText() const;
  // The training step of the model the shown gallery features came from (-1: none yet).
  qint64 galleryStep() const;
  int pickerCount() const;
  qint64 pickerTestIndex(int cell) const {
    return cell >= 0 && cell < pickerIndices_.size() ? pickerIndices_[cell] : -1;
  }

 public slots:
  void setQueryTestIndex(qint64 index);     // a test-set image (the embedding panel sends clicks)
  void setQueryImage(const QImage& image);  // any picture: converted to the data's channels/size
  void rerollPicker();
  void openImageFile();  // file dialog
  void refresh();        // recompute the gallery (the model may have changed) and the neighbours

 signals:
  void neighboursUpdated();  // a new result is shown
  void queryChanged();

 protected:
  void showEvent(QShowEvent* e) override;
  void dragEnterEvent(QDragEnterEvent* e) override;
  void dropEvent(QDropEvent* e) override;

 private:
  void onSessionChanged();
  void onSteps(const QVector<StepPoint>& points);
  void requestPicker();
  void requestNeighbours(bool recomputeGallery);
  void showError(const QString& message);
  void setStatus(const QString& text);
  bool loadImageFile(const QString& path);

  SessionController* controller_;
  // Query picker
  ImageGridView* picker_;
  QPushButton* reroll_;
  QPushButton* open_;
  QVector<qint64> pickerIndices_;
  QStringList pickerLabels_;
  quint64 pickerSeed_ = 1;
  // Result
  QLabel* queryView_;
  QLabel* queryInfo_;
  QLabel* precisionLabel_;
  QLabel* status_;
  QLabel* error_;
  ImageGridView* results_;
  QSpinBox* kSpin_;
  QSpinBox* gallerySpin_;
  QCheckBox* liveBox_;
  QPushButton* refresh_;

  // The query: a test index (>= 0) or an image.
  qint64 queryIndex_ = -1;
  QImage queryImage_;
  // What the engine's model looks like, as far as the window knows.
  quint64 modelVersion_ = 0;  // bumped on sessionChanged
  qint64 step_ = 0;           // last training step seen
  std::shared_ptr<NeighboursGallery> gallery_;
  bool stale_ = false;  // something changed while hidden
  bool pickerStale_ = true;
  bool pending_ = false;  // a request is out
  QElapsedTimer sinceRefresh_;
  double lastWorkMs_ = 0;
  int liveIntervalMs_ = 3000;
  qint64 staleSteps_ = 50;  // steps after which a cached gallery is recomputed for a new query

  QVector<qint64> resultIndices_;
  QVector<float> resultSims_;
  QVector<int> resultLabels_;
  double precision_ = -1;
};

}  // namespace pretext
