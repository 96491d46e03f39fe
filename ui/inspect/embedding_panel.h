#pragma once
// The Embedding panel: a 2-D PCA or t-SNE map of test-set features, coloured by class. Hover a
// point to see its image, click it to send it to the nearest-neighbours panel. Features come
// from the engine thread (SessionController::inspect); t-SNE then runs on a thread of its own
// (one OpenMP thread while training, so it does not slow the run) and animates as it goes.
#include <QElapsedTimer>
#include <QImage>
#include <QPointF>
#include <QString>
#include <QStringList>
#include <QVector>
#include <QWidget>
#include <memory>

class QCheckBox;
class QComboBox;
class QLabel;
class QPushButton;
class QSpinBox;
class QTimer;

namespace pretext {

class ScatterView;
class SessionController;

class EmbeddingPanel : public QWidget {
  Q_OBJECT

 public:
  enum class Projection { Pca, Tsne };

  explicit EmbeddingPanel(SessionController* controller, QWidget* parent = nullptr);
  ~EmbeddingPanel() override;  // cancels and joins a running t-SNE

  // Shows points directly (tests, or a caller that computed them): one class per point (-1 =
  // unlabelled), optional thumbnails, and the test-set index of every point (default 0..n-1).
  void setEmbedding(const QVector<QPointF>& points, const QVector<int>& classes,
                    const QStringList& classNames, const QVector<QImage>& thumbnails = {},
                    const QVector<qint64>& testIndices = {});

  void setProjection(Projection p);
  Projection projection() const;
  void setSampleSize(int images);  // how many test images (100..5000)
  int sampleSize() const;
  void setPerplexity(double perplexity);
  void setTsneIterations(int iterations) { tsneIterations_ = iterations; }
  void setLive(bool live);
  void setLiveInterval(int ms);  // default 10 s

  ScatterView* view() const { return view_; }
  // The class agreement of the 10 nearest neighbours in the map (0..1), or -1 before any.
  double separation() const { return separation_; }
  // True while features are being extracted or a t-SNE runs.
  bool busy() const;

 public slots:
  // Extracts features of the current model (engine thread) and recomputes the map.
  void refresh();
  // Rings the point of this test-set image, if it is on the map (e.g. the query another panel
  // shows).
  void highlightTestImage(qint64 testIndex);

 signals:
  void imageSelected(qint64 testIndex);
  // A map was completed: PCA shown, or t-SNE finished (not cancelled).
  void embeddingReady();

 protected:
  void showEvent(QShowEvent* e) override;

 private:
  struct Features;
  struct TsneJob;
  void onFeatures(std::shared_ptr<Features> f);
  void project();
  void startTsne();
  void cancelTsne();
  void onTsneProgress(quint64 generation, QVector<QPointF> points, int iteration, double kl,
                      double agreement, bool finished);
  void showSeparation(double agreement);
  void onSessionChanged();
  void liveTick();
  QImage thumbnail(int index) const;
  QString modelName() const;

  SessionController* controller_;
  ScatterView* view_;
  QComboBox* projection_;
  QSpinBox* sample_;
  QSpinBox* perplexity_;
  QPushButton* refresh_;
  QCheckBox* live_;
  QLabel* score_;
  QLabel* status_;
  QTimer* liveTimer_;

  std::shared_ptr<Features> features_;
  std::unique_ptr<TsneJob> job_;
  quint64 generation_ = 0;
  QElapsedTimer tsneClock_;
  QVector<QImage> thumbnails_;   // set by setEmbedding
  QVector<qint64> testIndices_;  // point -> test-set index
  int tsneIterations_ = 1000;
  int tsneTotal_ = 0;        // iterations of the running t-SNE
  int tsneExaggerated_ = 0;  // of which early exaggeration
  bool stale_ = true;
  bool pending_ = false;   // a feature request is in flight
  bool warmNext_ = false;  // the next t-SNE continues the last map (live refresh)
  double separation_ = -1;
};

}  // namespace pretext
