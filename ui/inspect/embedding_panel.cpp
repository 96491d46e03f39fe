#include "ui/inspect/embedding_panel.h"

#include <torch/torch.h>

#include <QCheckBox>
#include <QComboBox>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QShowEvent>
#include <QSpinBox>
#include <QTimer>
#include <QVBoxLayout>
#include <atomic>
#include <thread>
#include <vector>

#include "core/eval/inspect.h"
#include "core/eval/probes.h"
#include "core/eval/tsne.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "ui/widgets/scatter_view.h"
#include "ui/window/session_controller.h"
#include "viz/tensor_image.h"

namespace pretext {

namespace {

constexpr int kAgreementK = 10;

QVector<QPointF> toPoints(const torch::Tensor& y) {
  const auto c = y.to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t n = c.size(0);
  const double* d = c.data_ptr<double>();
  const bool twoD = c.size(1) >= 2;
  QVector<QPointF> pts(static_cast<int>(n));
  for (int64_t i = 0; i < n; ++i)
    pts[static_cast<int>(i)] = QPointF(d[i * c.size(1)], twoD ? d[i * c.size(1) + 1] : 0.0);
  return pts;
}

}  // namespace

// What the engine thread hands over: features of the first n test images and what to draw them.
struct EmbeddingPanel::Features {
  torch::Tensor features;  // float [N,D]
  torch::Tensor labels;    // int64 [N] or undefined
  torch::Tensor images;    // uint8 [N,C,H,W]
  QStringList classNames;
  qint64 testSize = 0;
  QString model;  // which model they came from
};

// The running t-SNE thread and those cancelled but still finishing their current iteration (or
// their affinity calibration, which cannot be interrupted); all are joined by the destructor.
struct EmbeddingPanel::TsneJob {
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
    std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
  };
  std::vector<Worker> workers;  // the last one is current unless cancelled
  torch::Tensor last;           // the last finished map, float [N,2]: live refreshes continue it

  void cancelAll() {
    for (auto& w : workers) *w.cancel = true;
  }
  void reap() {  // joins the finished ones
    for (auto it = workers.begin(); it != workers.end();) {
      if (*it->done) {
        it->thread.join();
        it = workers.erase(it);
      } else {
        ++it;
      }
    }
  }
  bool running() const {
    for (const auto& w : workers)
      if (!*w.cancel && !*w.done) return true;
    return false;
  }
  ~TsneJob() {
    cancelAll();
    for (auto& w : workers)
      if (w.thread.joinable()) w.thread.join();
  }
};

EmbeddingPanel::EmbeddingPanel(SessionController* controller, QWidget* parent)
    : QWidget(parent), controller_(controller), job_(std::make_unique<TsneJob>()) {
  view_ = new ScatterView(this);
  view_->setPlaceholder(tr("Press Refresh to map the test set's features."));
  view_->setThumbnailProvider([this](int i) { return thumbnail(i); });

  projection_ = new QComboBox(this);
  projection_->addItem(tr("PCA"));
  projection_->addItem(tr("t-SNE"));
  projection_->setCurrentIndex(1);
  projection_->setToolTip(
      tr("PCA: the two directions of largest variance (linear, instant).\n"
         "t-SNE: keeps each image's nearest neighbours close (van der Maaten & Hinton 2008);\n"
         "clusters mean something, distances between clusters less so."));
  sample_ = new QSpinBox(this);
  sample_->setRange(100, 5000);
  sample_->setSingleStep(100);
  sample_->setValue(1000);
  sample_->setSuffix(tr(" images"));
  sample_->setToolTip(tr("How many test images to map (the first ones of the test set)"));
  perplexity_ = new QSpinBox(this);
  perplexity_->setRange(2, 100);
  perplexity_->setValue(30);
  perplexity_->setPrefix(tr("perplexity "));
  perplexity_->setToolTip(tr("t-SNE's effective number of neighbours per point"));
  refresh_ = new QPushButton(tr("Refresh"), this);
  refresh_->setToolTip(tr("Extract features with the current model and recompute the map"));
  live_ = new QCheckBox(tr("Live"), this);
  live_->setToolTip(tr("While training, recompute the map every few seconds when visible"));
  score_ = new QLabel(this);
  score_->setToolTip(
      tr("Share of each image's %1 nearest neighbours in this map that have its class.\n"
         "It rises as the classes separate during training.")
          .arg(kAgreementK));
  QFont big = score_->font();
  big.setBold(true);
  score_->setFont(big);
  // Wide enough for any score, so setting one never waits on a relayout.
  score_->setMinimumWidth(QFontMetrics(big).horizontalAdvance(tr("Class agreement 100.0%")) + 8);
  score_->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
  status_ = new QLabel(this);
  status_->setWordWrap(true);
  status_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);

  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Map:"), this));
  bar->addWidget(projection_);
  bar->addWidget(sample_);
  bar->addWidget(perplexity_);
  bar->addWidget(refresh_);
  bar->addWidget(live_);
  bar->addStretch(1);
  bar->addWidget(score_);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(bar);
  layout->addWidget(view_, 1);
  layout->addWidget(status_);

  liveTimer_ = new QTimer(this);
  liveTimer_->setInterval(10000);
  connect(liveTimer_, &QTimer::timeout, this, &EmbeddingPanel::liveTick);
  liveTimer_->start();

  connect(refresh_, &QPushButton::clicked, this, &EmbeddingPanel::refresh);
  connect(projection_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    perplexity_->setEnabled(projection() == Projection::Tsne);
    project();
  });
  connect(perplexity_, qOverload<int>(&QSpinBox::valueChanged), this, [this] {
    if (projection() == Projection::Tsne) project();
  });
  connect(view_, &ScatterView::pointClicked, this, [this](int i) {
    if (i >= 0 && i < testIndices_.size()) emit imageSelected(testIndices_[i]);
  });
  if (controller_) {
    connect(controller_, &SessionController::sessionChanged, this,
            &EmbeddingPanel::onSessionChanged);
    connect(controller_, &SessionController::inspectionFailed, this,
            [this](const QString& message) {
              if (!pending_) return;
              pending_ = false;
              refresh_->setEnabled(true);
              status_->setText(tr("Could not compute the features: %1").arg(message));
              view_->setPlaceholder(tr("No map: %1").arg(message));
            });
  }
}

EmbeddingPanel::~EmbeddingPanel() { job_.reset(); }  // joins before the QObject goes

void EmbeddingPanel::setProjection(Projection p) {
  projection_->setCurrentIndex(p == Projection::Pca ? 0 : 1);
}
EmbeddingPanel::Projection EmbeddingPanel::projection() const {
  return projection_->currentIndex() == 0 ? Projection::Pca : Projection::Tsne;
}
void EmbeddingPanel::setSampleSize(int images) { sample_->setValue(images); }
int EmbeddingPanel::sampleSize() const { return sample_->value(); }
void EmbeddingPanel::setPerplexity(double p) { perplexity_->setValue(static_cast<int>(p)); }
void EmbeddingPanel::setLive(bool live) { live_->setChecked(live); }
void EmbeddingPanel::setLiveInterval(int ms) { liveTimer_->setInterval(ms); }
bool EmbeddingPanel::busy() const { return pending_ || job_->running(); }

void EmbeddingPanel::setEmbedding(const QVector<QPointF>& points, const QVector<int>& classes,
                                  const QStringList& classNames, const QVector<QImage>& thumbnails,
                                  const QVector<qint64>& testIndices) {
  cancelTsne();
  features_.reset();
  thumbnails_ = thumbnails;
  testIndices_ = testIndices;
  if (testIndices_.size() != points.size()) {
    testIndices_.resize(points.size());
    for (int i = 0; i < points.size(); ++i) testIndices_[i] = i;
  }
  view_->setPoints(points, classes, classNames);
  separation_ = -1;
  score_->clear();
  status_->setText(tr("%1 points").arg(points.size()));
}

void EmbeddingPanel::highlightTestImage(qint64 testIndex) {
  view_->setSelected(static_cast<int>(testIndices_.indexOf(testIndex)));
}

QImage EmbeddingPanel::thumbnail(int index) const {
  if (index >= 0 && index < thumbnails_.size()) return thumbnails_[index];
  if (features_ && features_->images.defined() && index >= 0 && index < features_->images.size(0))
    return tensorToImage(features_->images[index]);
  return {};
}

QString EmbeddingPanel::modelName() const {
  if (!controller_) return {};
  if (controller_->training()) return tr("the live model");
  if (!controller_->runDir().isEmpty())
    return tr("run %1").arg(QFileInfo(controller_->runDir()).fileName());
  return tr("a random init (untrained)");
}

void EmbeddingPanel::refresh() {
  if (!controller_) return;
  if (!isVisible()) {  // hidden panels never ask the engine; showEvent catches up
    stale_ = true;
    return;
  }
  stale_ = false;
  pending_ = true;
  refresh_->setEnabled(false);
  const int64_t n = sample_->value();
  const QString model = modelName();
  status_->setText(tr("Extracting features of %1 test images from %2...").arg(n).arg(model));
  if (view_->count() == 0) view_->setPlaceholder(tr("Extracting features..."));
  controller_->inspect<std::shared_ptr<Features>>(
      this,
      [n, model](Session& s) {
        auto f = std::make_shared<Features>();
        const Dataset& test = s.data.test;
        if (test.size() == 0) throw Error("the data set has no test images to map");
        const int64_t m = std::min<int64_t>(n, test.size());
        Dataset sub;
        sub.name = test.name;
        sub.images = test.images.slice(0, 0, m);
        torch::NoGradGuard noGrad;
        f->features = extractFeatures(
            [&s](const torch::Tensor& x) { return s.method->features(x); }, sub, s.device, 256);
        if (test.labelled()) f->labels = test.labels.slice(0, 0, m).clone();
        f->images = sub.images.clone();
        for (const auto& c : test.classNames) f->classNames << QString::fromStdString(c);
        f->testSize = test.size();
        f->model = model;
        return f;
      },
      [this](std::shared_ptr<Features> f) { onFeatures(std::move(f)); },
      QStringLiteral("embedding:%1").arg(quintptr(this)));
}

void EmbeddingPanel::onFeatures(std::shared_ptr<Features> f) {
  pending_ = false;
  refresh_->setEnabled(true);
  features_ = std::move(f);
  thumbnails_.clear();
  const int n = static_cast<int>(features_->features.size(0));
  testIndices_.resize(n);
  for (int i = 0; i < n; ++i) testIndices_[i] = i;
  project();
}

// Recomputes the map from the current features: PCA at once, t-SNE on its thread.
void EmbeddingPanel::project() {
  if (!features_) return;
  cancelTsne();
  const auto& f = *features_;
  const int n = static_cast<int>(f.features.size(0));
  QVector<int> classes(n, -1);
  if (f.labels.defined()) {
    const auto l = f.labels.to(torch::kLong).contiguous();
    for (int i = 0; i < n; ++i) classes[i] = static_cast<int>(l.data_ptr<int64_t>()[i]);
  }
  const QString what = tr("%1 of %2 test images, %3-D features of %4")
                           .arg(n)
                           .arg(f.testSize)
                           .arg(f.features.size(1))
                           .arg(f.model);
  try {
    if (projection() == Projection::Pca) warmNext_ = false;
    const bool warm = warmNext_ && job_->last.defined() && job_->last.size(0) == n;
    // A warm t-SNE shows the last map while it continues; otherwise PCA (t-SNE's start).
    const auto xy = warm ? job_->last
                    : f.features.size(1) >= 2
                        ? pcaProject(f.features, 2)
                        : torch::cat({f.features, torch::zeros_like(f.features)}, 1);
    const int selected = view_->selected();
    view_->setPoints(toPoints(xy), classes, f.classNames);
    view_->setSelected(selected);
    if (projection() == Projection::Pca) {
      status_->setText(tr("PCA: %1.").arg(what));
      showSeparation(f.labels.defined() ? neighbourAgreement(xy, f.labels, kAgreementK) : -1);
      emit embeddingReady();
    } else {
      status_->setText(warm ? tr("t-SNE continuing the last map: %1.").arg(what)
                            : tr("t-SNE starting (from the PCA map): %1.").arg(what));
      startTsne();
    }
  } catch (const std::exception& e) {
    status_->setText(tr("Could not map the features: %1").arg(e.what()));
  }
}

void EmbeddingPanel::cancelTsne() {
  job_->cancelAll();
  job_->reap();
  ++generation_;
}

void EmbeddingPanel::startTsne() {
  cancelTsne();
  const quint64 gen = generation_;
  const auto feats = features_->features;
  const auto labels = features_->labels;
  const int iterations = tsneIterations_;
  // While training, the engine has the cores: one thread for t-SNE. Idle: all of them.
  const int threads = controller_ && controller_->training() ? 1 : 0;
  auto opts = TsneOptions()
                  .perplexity(perplexity_->value())
                  .iterations(iterations)
                  .callbackEvery(10)
                  .threads(threads);
  // A live refresh continues the last map (same images, features moved a little) instead of
  // starting over, so the picture morphs as training goes on.
  const bool warm = warmNext_ && job_->last.defined() && job_->last.size(0) == feats.size(0);
  warmNext_ = false;
  if (warm)
    opts.initial(job_->last)
        .exaggerationIterations(0)
        .momentumSwitch(0)
        .iterations(std::min(iterations, 400));
  tsneTotal_ = static_cast<int>(opts.iterations());
  tsneExaggerated_ = static_cast<int>(opts.exaggerationIterations());
  TsneJob::Worker w;
  auto cancel = w.cancel, done = w.done;
  w.thread = std::thread([this, gen, cancel, done, feats, labels, opts] {
    auto post = [&](const torch::Tensor& y, int it, double kl, bool finished) {
      const double agree = labels.defined() && (finished || it % 50 == 0)
                               ? neighbourAgreement(y, labels, kAgreementK)
                               : -1;
      QMetaObject::invokeMethod(
          this,
          [this, gen, pts = toPoints(y), it, kl, agree, finished] {
            onTsneProgress(gen, pts, it, kl, agree, finished);
          },
          Qt::QueuedConnection);
    };
    try {
      auto r = tsne(feats, opts, [&](int64_t it, const torch::Tensor& y, double kl) {
        if (*cancel) return false;
        post(y, static_cast<int>(it), kl, false);
        return !*cancel;
      });
      if (!r.cancelled && !*cancel) post(r.embedding, static_cast<int>(r.iterations), r.kl, true);
    } catch (const std::exception& e) {
      const QString message = QString::fromUtf8(e.what());
      QMetaObject::invokeMethod(
          this,
          [this, gen, message] {
            if (gen == generation_) status_->setText(tr("t-SNE failed: %1").arg(message));
          },
          Qt::QueuedConnection);
    }
    *done = true;
  });
  job_->workers.push_back(std::move(w));
  tsneClock_.start();
}

void EmbeddingPanel::onTsneProgress(quint64 generation, QVector<QPointF> points, int iteration,
                                    double kl, double agreement, bool finished) {
  if (generation != generation_ || !features_) return;  // a cancelled run's late news
  view_->setPositions(points);
  if (agreement >= 0) showSeparation(agreement);
  const QString what = tr("%1 test images, %2-D features of %3")
                           .arg(features_->features.size(0))
                           .arg(features_->features.size(1))
                           .arg(features_->model);
  if (finished) {
    status_->setText(tr("t-SNE done (%1 iterations in %2 s, KL %3): %4.")
                         .arg(iteration)
                         .arg(tsneClock_.elapsed() / 1000.0, 0, 'f', 1)
                         .arg(kl, 0, 'f', 3)
                         .arg(what));
    job_->reap();
    auto last = torch::empty({points.size(), 2}, torch::kFloat);
    for (int i = 0; i < points.size(); ++i) {
      last[i][0] = static_cast<float>(points[i].x());
      last[i][1] = static_cast<float>(points[i].y());
    }
    job_->last = last;
    emit embeddingReady();
  } else {
    status_->setText(
        tr("t-SNE iteration %1 / %2%3, KL %4: %5.")
            .arg(iteration)
            .arg(tsneTotal_)
            .arg(iteration <= tsneExaggerated_ ? tr(" (early exaggeration)") : QString())
            .arg(kl, 0, 'f', 3)
            .arg(what));
  }
}

void EmbeddingPanel::showSeparation(double agreement) {
  separation_ = agreement;
  if (agreement < 0) {
    score_->clear();
    return;
  }
  score_->setText(tr("Class agreement %1%").arg(agreement * 100, 0, 'f', 1));
}

void EmbeddingPanel::onSessionChanged() {
  stale_ = true;
  if (isVisible()) refresh();
}

void EmbeddingPanel::liveTick() {
  if (!live_->isChecked() || !controller_ || !controller_->training() || !isVisible()) return;
  if (busy()) return;  // let the current map finish (a t-SNE can take longer than the interval)
  warmNext_ = true;
  refresh();
}

void EmbeddingPanel::showEvent(QShowEvent* e) {
  QWidget::showEvent(e);
  if (stale_ && controller_) QTimer::singleShot(0, this, &EmbeddingPanel::refresh);
}

}  // namespace pretext
