#include "ui/inspect/neighbours_panel.h"

#include <torch/torch.h>

#include <QCheckBox>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QImageReader>
#include <QLabel>
#include <QMimeData>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <chrono>
#include <random>

#include "core/eval/probes.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "ui/widgets/image_grid_view.h"
#include "ui/window/session_controller.h"
#include "viz/tensor_image.h"

namespace pretext {

// The gallery's features, computed on the engine thread from one model; the GUI only holds and
// passes them back (read-only).
struct NeighboursGallery {
  quint64 version = 0;  // the panel's model version when computed
  qint64 step = 0;      // the training step when computed
  int64_t limit = 0;    // images used
  std::string dataName;
  torch::Tensor features;  // float [N,D], CPU
};

namespace {

constexpr int kPickerCount = 24;

// Puts the method in eval mode for the scope (inspections must not update BN statistics).
struct EvalModeGuard {
  Method& m;
  bool was;
  explicit EvalModeGuard(Method& method) : m(method), was(method.is_training()) { m.eval(); }
  ~EvalModeGuard() { m.train(was); }
};

struct PickerResult {
  QString error;
  QVector<qint64> indices;
  QVector<QImage> images;
  QStringList labels;
};

struct NeighboursResult {
  QString error;
  std::shared_ptr<NeighboursGallery> gallery;
  QImage query;
  QString queryLabel;  // class name, empty when unknown
  int queryClass = -1;
  QString converted;  // for an opened image: what it was converted to
  QVector<qint64> indices;
  QVector<float> sims;
  QVector<int> labels;
  QVector<QImage> images;
  QStringList classNames;
  double ms = 0;
};

QString className(const Dataset& d, int64_t label) {
  if (label < 0) return {};
  if (label < d.numClasses()) return QString::fromStdString(d.classNames[size_t(label)]);
  return QString::number(label);
}

// An arbitrary picture -> float [1,C,H,W] in [0,1] of the data's shape: centre-cropped to the
// data's aspect ratio, then scaled smoothly.
QImage scaledUp(const QImage& img, int side) {
  if (img.isNull()) return img;
  return img.scaled(side, side, Qt::KeepAspectRatio, Qt::FastTransformation);
}

}  // namespace

NeighboursPanel::NeighboursPanel(SessionController* controller, QWidget* parent)
    : QWidget(parent), controller_(controller) {
  setAcceptDrops(true);

  // --- the query picker (left)
  auto* pickBox = new QGroupBox(tr("Query"));
  auto* pickLayout = new QVBoxLayout(pickBox);
  auto* help = new QLabel(tr("Click a test image, open a file, or drop an image on this panel."));
  help->setWordWrap(true);
  picker_ = new ImageGridView;
  picker_->setCellSize(40);
  picker_->setFitRange(40, 72);
  picker_->setPlaceholder(tr("Loading test images…"));
  auto* pickScroll = new QScrollArea;
  pickScroll->setWidget(picker_);
  pickScroll->setWidgetResizable(true);
  pickScroll->setFrameShape(QFrame::NoFrame);
  pickScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  reroll_ = new QPushButton(tr("Re-roll"));
  reroll_->setToolTip(tr("Show other test images"));
  open_ = new QPushButton(tr("Open…"));
  open_->setToolTip(
      tr("Use a picture file as the query; it is converted to the data set's "
         "channels and size"));
  auto* pickButtons = new QHBoxLayout;
  pickButtons->addWidget(reroll_);
  pickButtons->addWidget(open_);
  pickLayout->addWidget(help);
  pickLayout->addWidget(pickScroll, 1);
  pickLayout->addLayout(pickButtons);

  // --- the result (right)
  auto* right = new QWidget;
  auto* rightLayout = new QVBoxLayout(right);
  rightLayout->setContentsMargins(0, 0, 0, 0);

  auto* controls = new QHBoxLayout;
  kSpin_ = new QSpinBox;
  kSpin_->setRange(1, 256);
  kSpin_->setValue(16);
  kSpin_->setKeyboardTracking(false);
  kSpin_->setToolTip(tr("How many neighbours to show"));
  gallerySpin_ = new QSpinBox;
  gallerySpin_->setRange(0, 1000000);
  gallerySpin_->setSingleStep(1000);
  gallerySpin_->setValue(10000);
  gallerySpin_->setSpecialValueText(tr("all"));
  gallerySpin_->setKeyboardTracking(false);
  gallerySpin_->setToolTip(
      tr("Gallery: the first N labelled training images (0 = all). Their "
         "features are computed once per model and cached."));
  liveBox_ = new QCheckBox(tr("Live"));
  liveBox_->setChecked(true);
  liveBox_->setToolTip(
      tr("While training, recompute every few seconds (only while this panel "
         "is visible; each refresh briefly pauses training)"));
  refresh_ = new QPushButton(tr("Refresh"));
  refresh_->setToolTip(tr("Recompute the gallery features with the current model"));
  status_ = new QLabel;
  status_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  controls->addWidget(new QLabel(tr("k")));
  controls->addWidget(kSpin_);
  controls->addSpacing(8);
  controls->addWidget(new QLabel(tr("Gallery")));
  controls->addWidget(gallerySpin_);
  controls->addSpacing(8);
  controls->addWidget(liveBox_);
  controls->addWidget(refresh_);
  controls->addSpacing(8);
  controls->addWidget(status_, 1);

  auto* queryRow = new QHBoxLayout;
  queryView_ = new QLabel;
  queryView_->setFixedSize(120, 120);
  queryView_->setAlignment(Qt::AlignCenter);
  queryView_->setFrameShape(QFrame::StyledPanel);
  auto* infoCol = new QVBoxLayout;
  queryInfo_ = new QLabel(tr("No query yet"));
  queryInfo_->setWordWrap(true);
  QFont big = queryInfo_->font();
  big.setPointSizeF(big.pointSizeF() * 1.25);
  big.setBold(true);
  queryInfo_->setFont(big);
  precisionLabel_ = new QLabel;
  precisionLabel_->setWordWrap(true);
  QFont prec = precisionLabel_->font();
  prec.setPointSizeF(prec.pointSizeF() * 1.15);
  precisionLabel_->setFont(prec);
  auto* legend =
      new QLabel(tr("Under each neighbour: cosine similarity and label; a red frame "
                    "marks a label different from the query's."));
  legend->setWordWrap(true);
  legend->setForegroundRole(QPalette::PlaceholderText);
  infoCol->addWidget(queryInfo_);
  infoCol->addWidget(precisionLabel_);
  infoCol->addWidget(legend);
  infoCol->addStretch(1);
  queryRow->addWidget(queryView_);
  queryRow->addLayout(infoCol, 1);

  error_ = new QLabel;
  error_->setWordWrap(true);
  error_->setStyleSheet(QStringLiteral("color: #c62828;"));
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_->hide();

  results_ = new ImageGridView;
  results_->setCellSize(72);
  results_->setFitRange(56, 140);  // a big window shows big neighbours
  results_->setPlaceholder(tr("The nearest neighbours of the query appear here."));
  auto* resultScroll = new QScrollArea;
  resultScroll->setWidget(results_);
  resultScroll->setWidgetResizable(true);
  resultScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);

  rightLayout->addLayout(controls);
  rightLayout->addLayout(queryRow);
  rightLayout->addWidget(error_);
  rightLayout->addWidget(resultScroll, 1);

  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(pickBox);
  split->addWidget(right);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 3);
  split->setChildrenCollapsible(false);
  pickBox->setMinimumWidth(200);
  auto* main = new QVBoxLayout(this);
  main->addWidget(split);

  connect(picker_, &ImageGridView::cellClicked, this,
          [this](int cell) { setQueryTestIndex(pickerIndices_.value(cell, -1)); });
  connect(reroll_, &QPushButton::clicked, this, &NeighboursPanel::rerollPicker);
  connect(open_, &QPushButton::clicked, this, &NeighboursPanel::openImageFile);
  connect(refresh_, &QPushButton::clicked, this, &NeighboursPanel::refresh);
  connect(kSpin_, qOverload<int>(&QSpinBox::valueChanged), this,
          [this] { requestNeighbours(false); });
  connect(gallerySpin_, qOverload<int>(&QSpinBox::valueChanged), this,
          [this] { requestNeighbours(false); });  // a new limit invalidates the cache itself
  if (controller_) {
    connect(controller_, &SessionController::sessionChanged, this,
            &NeighboursPanel::onSessionChanged);
    connect(controller_, &SessionController::stepsArrived, this, &NeighboursPanel::onSteps);
  }
  sinceRefresh_.start();
}

NeighboursPanel::~NeighboursPanel() = default;

int NeighboursPanel::k() const { return kSpin_->value(); }
void NeighboursPanel::setK(int k) { kSpin_->setValue(k); }
int NeighboursPanel::galleryLimit() const { return gallerySpin_->value(); }
void NeighboursPanel::setGalleryLimit(int limit) { gallerySpin_->setValue(limit); }
bool NeighboursPanel::live() const { return liveBox_->isChecked(); }
void NeighboursPanel::setLive(bool on) { liveBox_->setChecked(on); }
QString NeighboursPanel::errorText() const {
  return error_->isVisible() ? error_->text() : QString();
}
qint64 NeighboursPanel::galleryStep() const { return gallery_ ? gallery_->step : -1; }
int NeighboursPanel::pickerCount() const { return picker_->count(); }

void NeighboursPanel::showEvent(QShowEvent* e) {
  QWidget::showEvent(e);
  if (pickerStale_) requestPicker();
  if (stale_) requestNeighbours(false);
}

void NeighboursPanel::onSessionChanged() {
  ++modelVersion_;
  gallery_.reset();  // another model (and maybe other data): the cache is void
  step_ = controller_->modelStep();
  pickerStale_ = true;
  stale_ = true;
  if (isVisible()) {
    requestPicker();
    requestNeighbours(true);
  }
}

void NeighboursPanel::onSteps(const QVector<StepPoint>& points) {
  if (points.isEmpty()) return;
  // Steps of a followed run leave the inspected model as it is until its next checkpoint
  // (sessionChanged refreshes then, with the checkpoint's step).
  if (!controller_->training()) return;
  step_ = points.last().step;
  if (!gallery_ || step_ <= gallery_->step) return;
  if (!isVisible()) {
    stale_ = true;  // refresh when shown
    return;
  }
  if (!live() || pending_ || (queryIndex_ < 0 && queryImage_.isNull())) return;
  // Keep the panel's share of the engine's time small (<= 5%): wait at least 20x the last
  // refresh (bench_gui measured 10x costing a quarter of a short run's throughput).
  const double wait = std::max<double>(liveIntervalMs_, 20 * lastWorkMs_);
  if (sinceRefresh_.elapsed() >= wait) requestNeighbours(true);
}

void NeighboursPanel::rerollPicker() {
  ++pickerSeed_;
  requestPicker();
}

void NeighboursPanel::refresh() {
  requestPicker();
  requestNeighbours(true);
}

void NeighboursPanel::setQueryTestIndex(qint64 index) {
  if (index < 0) return;
  queryIndex_ = index;
  queryImage_ = QImage();
  picker_->setSelected(int(pickerIndices_.indexOf(index)));
  emit queryChanged();
  requestNeighbours(false);
}

void NeighboursPanel::setQueryImage(const QImage& image) {
  if (image.isNull()) {
    showError(tr("The image is empty or could not be read."));
    return;
  }
  queryIndex_ = -1;
  queryImage_ = image;
  picker_->setSelected(-1);
  emit queryChanged();
  requestNeighbours(false);
}

bool NeighboursPanel::loadImageFile(const QString& path) {
  QImageReader reader(path);
  reader.setAutoTransform(true);
  const QImage img = reader.read();
  if (img.isNull()) {
    showError(tr("%1: cannot read this image (%2)").arg(path, reader.errorString()));
    return false;
  }
  setQueryImage(img);
  return true;
}

void NeighboursPanel::openImageFile() {
  const QString path = QFileDialog::getOpenFileName(
      this, tr("Open a query image"), QString(),
      tr("Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.pgm *.ppm *.tif *.tiff);;All files (*)"));
  if (!path.isEmpty()) loadImageFile(path);
}

void NeighboursPanel::dragEnterEvent(QDragEnterEvent* e) {
  const QMimeData* m = e->mimeData();
  bool ok = m->hasImage();
  for (const QUrl& u : m->urls()) ok |= u.isLocalFile();
  if (ok) e->acceptProposedAction();
}

void NeighboursPanel::dropEvent(QDropEvent* e) {
  const QMimeData* m = e->mimeData();
  if (m->hasImage()) {
    setQueryImage(qvariant_cast<QImage>(m->imageData()));
  } else {
    for (const QUrl& u : m->urls())
      if (u.isLocalFile()) {
        loadImageFile(u.toLocalFile());
        break;
      }
  }
  e->acceptProposedAction();
}

void NeighboursPanel::showError(const QString& message) {
  error_->setText(message);
  error_->setVisible(!message.isEmpty());
}

void NeighboursPanel::setStatus(const QString& text) { status_->setText(text); }

void NeighboursPanel::requestPicker() {
  if (!controller_) return;
  if (!isVisible()) {
    pickerStale_ = true;
    return;
  }
  pickerStale_ = false;
  const quint64 seed = pickerSeed_;
  controller_->inspect<PickerResult>(
      this,
      [seed](Session& s) {
        PickerResult r;
        try {
          const Dataset& test = s.data.test;
          const int64_t n = test.size();
          if (n == 0) throw Error("the data set has no test images to pick a query from");
          // A reproducible sample without replacement (not torch's generator: the training
          // run's random state must not change because someone re-rolled the picker).
          std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 7);
          std::vector<int64_t> pool(static_cast<size_t>(n));
          for (int64_t i = 0; i < n; ++i) pool[size_t(i)] = i;
          const int64_t m = std::min<int64_t>(kPickerCount, n);
          for (int64_t i = 0; i < m; ++i) {
            std::uniform_int_distribution<int64_t> pick(i, n - 1);
            std::swap(pool[size_t(i)], pool[size_t(pick(rng))]);
            const int64_t idx = pool[size_t(i)];
            r.indices.push_back(idx);
            r.images.push_back(tensorToImage(test.images[idx]));
            r.labels.push_back(test.labelled() ? className(test, test.labels[idx].item<int64_t>())
                                               : QString());
          }
        } catch (const std::exception& e) {
          r.error = QString::fromUtf8(e.what());
        }
        return r;
      },
      [this](PickerResult r) {
        if (!r.error.isEmpty()) {
          picker_->clear();
          picker_->setPlaceholder(r.error);
          return;
        }
        pickerIndices_ = r.indices;
        pickerLabels_ = r.labels;
        QStringList tips;
        for (int i = 0; i < r.indices.size(); ++i)
          tips << tr("test image #%1%2")
                      .arg(r.indices[i])
                      .arg(r.labels[i].isEmpty() ? QString() : QStringLiteral(" · ") + r.labels[i]);
        picker_->setImages(r.images);
        picker_->setToolTips(tips);
        picker_->setSelected(int(pickerIndices_.indexOf(queryIndex_)));
        // A first look needs no click: the first test image is the query.
        if (queryIndex_ < 0 && queryImage_.isNull() && !pickerIndices_.isEmpty())
          setQueryTestIndex(pickerIndices_.first());
      },
      QStringLiteral("neighbours-picker"));
}

void NeighboursPanel::requestNeighbours(bool recomputeGallery) {
  if (!controller_ || (queryIndex_ < 0 && queryImage_.isNull())) return;
  if (!isVisible()) {
    stale_ = true;
    return;
  }
  stale_ = false;
  const int64_t limit = gallerySpin_->value();
  const int k = kSpin_->value();
  const bool training = controller_->training();
  // Reuse the cached gallery when it was computed from this model (and, while training, not
  // too many steps ago): a new query then costs one forward pass.
  std::shared_ptr<NeighboursGallery> cached = gallery_;
  if (recomputeGallery || !cached || cached->version != modelVersion_ ||
      (training && step_ - cached->step >= staleSteps_))
    cached.reset();
  const quint64 version = modelVersion_;
  const qint64 step = step_;
  const qint64 queryIndex = queryIndex_;
  const QImage queryImage = queryImage_;
  pending_ = true;
  sinceRefresh_.restart();
  setStatus(cached ? tr("searching…") : tr("computing gallery features…"));
  showError({});
  controller_->inspect<NeighboursResult>(
      this,
      [=](Session& s) {
        NeighboursResult r;
        const auto t0 = std::chrono::steady_clock::now();
        try {
          const Dataset& gal = s.data.trainLabelled;
          const Dataset& test = s.data.test;
          if (gal.size() == 0) throw Error("the data set has no training images for a gallery");
          const int64_t n = limit > 0 ? std::min<int64_t>(limit, gal.size()) : gal.size();
          EvalModeGuard mode(*s.method);
          torch::NoGradGuard noGrad;
          auto encode = [&](const torch::Tensor& x) { return s.method->features(x); };
          std::shared_ptr<NeighboursGallery> g = cached;
          if (!g || g->limit != n || g->dataName != gal.name) {
            g = std::make_shared<NeighboursGallery>();
            g->version = version;
            g->step = step;
            g->limit = n;
            g->dataName = gal.name;
            Dataset sub = gal;
            sub.images = gal.images.slice(0, 0, n);
            g->features = extractFeatures(encode, sub, s.device, 512);
          }
          r.gallery = g;
          torch::Tensor q;
          if (queryIndex >= 0) {
            if (queryIndex >= test.size())
              throw Error("test image #" + std::to_string(queryIndex) +
                          " does not exist (the test set has " + std::to_string(test.size()) +
                          " images)");
            q = test.images[queryIndex].unsqueeze(0).to(torch::kFloat).div(255);
            if (test.labelled()) {
              r.queryClass = int(test.labels[queryIndex].item<int64_t>());
              r.queryLabel = className(test, r.queryClass);
            }
          } else {
            q = imageToDataTensor(queryImage, int(gal.channels()), int(gal.height()), int(gal.width()));
            r.converted =
                QStringLiteral("%1×%2×%3").arg(gal.channels()).arg(gal.height()).arg(gal.width());
          }
          r.query = tensorToImage(q[0]);
          const torch::Tensor qf = encode(q.to(s.device)).to(torch::kCPU, torch::kFloat);
          auto [idx, sims] = retrieveTopK(g->features, qf, k);
          idx = idx[0].contiguous();
          sims = sims[0].contiguous();
          const torch::Tensor images = gal.images.index_select(0, idx);
          const torch::Tensor labels =
              gal.labelled() ? gal.labels.index_select(0, idx).contiguous() : torch::Tensor();
          for (int64_t i = 0; i < idx.size(0); ++i) {
            r.indices.push_back(idx[i].item<int64_t>());
            r.sims.push_back(sims[i].item<float>());
            r.labels.push_back(labels.defined() ? int(labels[i].item<int64_t>()) : -1);
            r.images.push_back(tensorToImage(images[i]));
          }
          for (const auto& c : gal.classNames) r.classNames << QString::fromStdString(c);
        } catch (const std::exception& e) {
          r.error = QString::fromUtf8(e.what());
        }
        r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                   .count();
        return r;
      },
      [this](NeighboursResult r) {
        pending_ = false;
        lastWorkMs_ = r.ms;
        if (!r.error.isEmpty()) {
          setStatus({});
          showError(tr("Neighbours: %1").arg(r.error));
          return;
        }
        if (r.gallery && r.gallery->version != modelVersion_) {
          requestNeighbours(true);  // the model changed while this was computed
          return;
        }
        gallery_ = r.gallery;
        resultIndices_ = r.indices;
        resultSims_ = r.sims;
        resultLabels_ = r.labels;
        QStringList captions, tips;
        int same = 0;
        for (int i = 0; i < r.indices.size(); ++i) {
          const int label = r.labels[i];
          const QString name = label < 0                     ? QString()
                               : label < r.classNames.size() ? r.classNames[label]
                                                             : QString::number(label);
          const bool wrong = r.queryClass >= 0 && label >= 0 && label != r.queryClass;
          same += (r.queryClass >= 0 && label == r.queryClass);
          // Three decimals: an untrained model's similarities all lie close to 1.
          captions << QStringLiteral("%1%2\n%3")
                          .arg(wrong ? QStringLiteral("x ") : QString())
                          .arg(double(r.sims[i]), 0, 'f', 3)
                          .arg(name.isEmpty() ? QStringLiteral("#%1").arg(r.indices[i]) : name);
          tips << tr("training image #%1%2\ncosine similarity %3")
                      .arg(r.indices[i])
                      .arg(name.isEmpty() ? QString() : QStringLiteral(" · ") + name)
                      .arg(double(r.sims[i]), 0, 'f', 4);
        }
        results_->setImages(r.images, captions);
        results_->setToolTips(tips);
        queryView_->setPixmap(QPixmap::fromImage(scaledUp(r.query, 112)));
        if (queryIndex_ >= 0)
          queryInfo_->setText(r.queryLabel.isEmpty()
                                  ? tr("Test image #%1").arg(queryIndex_)
                                  : tr("Test image #%1 · %2").arg(queryIndex_).arg(r.queryLabel));
        else
          queryInfo_->setText(tr("Opened image (as %1)").arg(r.converted));
        const int n = int(r.indices.size());
        if (r.queryClass >= 0 && n > 0) {
          precision_ = double(same) / n;
          precisionLabel_->setText(tr("precision@%1: <b>%2%</b> — %3 of %1 neighbours are %4")
                                       .arg(n)
                                       .arg(100.0 * precision_, 0, 'f', 0)
                                       .arg(same)
                                       .arg(r.queryLabel));
        } else {
          precision_ = -1;
          precisionLabel_->setText(r.classNames.isEmpty()
                                       ? tr("No labels: precision@k needs a labelled data set.")
                                       : tr("The query has no label: no precision@k."));
        }
        const QString when =
            controller_ && controller_->training() ? tr("model at step %1").arg(r.gallery->step)
            : controller_ && controller_->following()
                ? tr("checkpoint of step %1").arg(r.gallery->step)
                : (controller_ && !controller_->runDir().isEmpty() ? tr("loaded run")
                                                                   : tr("untrained (random init)"));
        setStatus(tr("gallery %1 images · %2 · %3 ms")
                      .arg(r.gallery->limit)
                      .arg(when)
                      .arg(r.ms, 0, 'f', 0));
        emit neighboursUpdated();
      },
      QStringLiteral("neighbours"));
}

}  // namespace pretext
