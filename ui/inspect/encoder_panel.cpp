#include "ui/inspect/encoder_panel.h"

#include <torch/torch.h>

#include <QComboBox>
#include <QFileInfo>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QPushButton>
#include <QShowEvent>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QSplitter>
#include <QTimer>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <map>

#include "core/eval/inspect.h"
#include "core/eval/probes.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "ui/widgets/fit_image_view.h"
#include "ui/window/session_controller.h"
#include "viz/colormap.h"
#include "viz/image_grid.h"

namespace pretext {

namespace {

QLabel* infoLabel(QWidget* parent) {
  auto* l = new QLabel(parent);
  l->setWordWrap(true);
  l->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  return l;
}

// The similarity heat map with class names on the left, white lines between classes and a
// colour bar with its range on the right.
QImage similarityFigure(const torch::Tensor& sim, const torch::Tensor& labels,
                        const QStringList& classNames, double vmin, double vmax) {
  const int m = static_cast<int>(sim.size(0));
  const int scale = std::max(1, 480 / std::max(1, m));
  const QImage map = heatmap(sim, Colormap::Viridis, vmin, vmax, scale);
  QFont font;
  const QFontMetrics fm(font);
  int labelWidth = 0;
  for (const auto& n : classNames) labelWidth = std::max(labelWidth, fm.horizontalAdvance(n));
  labelWidth = labels.defined() ? std::min(labelWidth, 110) + 10 : 4;
  const int top = 6, barGap = 12, barWidth = 14, barLabels = fm.horizontalAdvance("-0.00") + 8;
  QImage out(labelWidth + map.width() + barGap + barWidth + barLabels, top + map.height() + 6,
             QImage::Format_RGB32);
  out.fill(Qt::white);
  QPainter p(&out);
  p.setFont(font);
  p.drawImage(labelWidth, top, map);
  if (labels.defined()) {
    const auto l = labels.to(torch::kLong).contiguous();
    const int64_t* lp = l.data_ptr<int64_t>();
    int start = 0;
    for (int i = 1; i <= m; ++i) {
      if (i < m && lp[i] == lp[start]) continue;
      // Block [start, i) is one class.
      const int y0 = top + start * scale, y1 = top + i * scale;
      if (i < m) {
        p.setPen(QPen(QColor(255, 255, 255, 220), 1));
        p.drawLine(labelWidth, y1, labelWidth + map.width() - 1, y1);
        p.drawLine(labelWidth + i * scale, top, labelWidth + i * scale, top + map.height() - 1);
      }
      const int c = static_cast<int>(lp[start]);
      if (y1 - y0 >= fm.height() - 2 && c >= 0 && c < classNames.size()) {
        p.setPen(QColor(40, 40, 40));
        p.drawText(QRect(0, y0, labelWidth - 6, y1 - y0), Qt::AlignRight | Qt::AlignVCenter,
                   fm.elidedText(classNames[c], Qt::ElideRight, labelWidth - 6));
      }
      start = i;
    }
  }
  // Colour bar.
  const int bx = labelWidth + map.width() + barGap;
  for (int y = 0; y < map.height(); ++y) {
    const double t = 1.0 - double(y) / std::max(1, map.height() - 1);
    p.setPen(QColor(colormap(t, Colormap::Viridis)));
    p.drawLine(bx, top + y, bx + barWidth - 1, top + y);
  }
  p.setPen(QColor(40, 40, 40));
  p.drawText(bx + barWidth + 4, top + fm.ascent(), QString::number(vmax, 'f', 2));
  p.drawText(bx + barWidth + 4, top + map.height(), QString::number(vmin, 'f', 2));
  return out;
}

}  // namespace

struct EncoderPanel::Data {
  torch::Tensor filters;  // [O,C,kh,kw] in [0,1]
  QString filterError;
  std::vector<torch::Tensor> activations;  // per stage [N,C_s]
  QString activationError;
  torch::Tensor images;            // uint8 [N,C,H,W], the scanned test images
  torch::Tensor labels;            // [N] or undefined
  torch::Tensor similarity;        // [M,M]
  torch::Tensor similarityLabels;  // [M] (sorted) or undefined
  double contrast = 0;
  QString similarityError;
  QStringList classNames;
  QString model;
};

EncoderPanel::EncoderPanel(SessionController* controller, QWidget* parent)
    : QWidget(parent), controller_(controller) {
  refresh_ = new QPushButton(tr("Refresh"), this);
  refresh_->setToolTip(tr("Look inside the current model again"));
  scanned_ = new QSpinBox(this);
  scanned_->setRange(50, 10000);
  scanned_->setSingleStep(250);
  scanned_->setValue(1000);
  scanned_->setPrefix(tr("search "));
  scanned_->setSuffix(tr(" images"));
  scanned_->setToolTip(tr("How many test images to search for the strongest activations"));
  similarityCount_ = new QSpinBox(this);
  similarityCount_->setRange(20, 1000);
  similarityCount_->setSingleStep(50);
  similarityCount_->setValue(200);
  similarityCount_->setPrefix(tr("similarity of "));
  similarityCount_->setSuffix(tr(" images"));
  status_ = infoLabel(this);

  auto* bar = new QHBoxLayout;
  bar->addWidget(refresh_);
  bar->addWidget(scanned_);
  bar->addWidget(similarityCount_);
  bar->addWidget(status_, 1);

  // First-layer filters.
  filters_ = new FitImageView(this);
  filters_->setMaxScale(3);
  // As tall as the grid needs: the extra height goes to the top-activation images.
  filters_->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
  filters_->setPlaceholder(tr("No filters yet"));
  filterInfo_ = infoLabel(this);
  auto* filterBox = new QGroupBox(tr("First-layer filters"), this);
  auto* fl = new QVBoxLayout(filterBox);
  fl->addWidget(filters_, 1);
  fl->addWidget(filterInfo_);

  // Top-activating images.
  stage_ = new QComboBox(this);
  stage_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  channel_ = new QSpinBox(this);
  channel_->setPrefix(tr("channel "));
  channel_->setWrapping(true);
  topK_ = new QSpinBox(this);
  topK_->setRange(4, 64);
  topK_->setValue(16);
  topK_->setPrefix(tr("top "));
  top_ = new FitImageView(this);
  top_->setMaxScale(3);
  top_->setPlaceholder(tr("No activations yet"));
  topInfo_ = infoLabel(this);
  auto* topBox = new QGroupBox(tr("Test images that excite one channel most"), this);
  auto* tl = new QVBoxLayout(topBox);
  auto* chooser = new QHBoxLayout;
  chooser->addWidget(stage_);
  chooser->addWidget(channel_);
  chooser->addWidget(topK_);
  chooser->addStretch(1);
  tl->addLayout(chooser);
  tl->addWidget(top_, 1);
  tl->addWidget(topInfo_);

  // Representational similarity.
  similarity_ = new FitImageView(this);
  similarity_->setMaxScale(2);
  similarity_->setPlaceholder(tr("No similarity matrix yet"));
  similarityInfo_ = infoLabel(this);
  auto* simBox =
      new QGroupBox(tr("Representational similarity (test images sorted by class)"), this);
  auto* sl = new QVBoxLayout(simBox);
  sl->addWidget(similarity_, 1);
  sl->addWidget(similarityInfo_);

  auto* left = new QWidget(this);
  auto* ll = new QVBoxLayout(left);
  ll->setContentsMargins(0, 0, 0, 0);
  ll->addWidget(filterBox, 0);
  ll->addWidget(topBox, 1);
  auto* split = new QSplitter(Qt::Horizontal, this);
  split->addWidget(left);
  split->addWidget(simBox);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 1);
  split->setChildrenCollapsible(false);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(bar);
  layout->addWidget(split, 1);

  connect(refresh_, &QPushButton::clicked, this, &EncoderPanel::refresh);
  connect(stage_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    const int c = channelCount();
    channel_->setRange(0, std::max(0, c - 1));
    showTop();
  });
  connect(channel_, qOverload<int>(&QSpinBox::valueChanged), this, [this] { showTop(); });
  connect(topK_, qOverload<int>(&QSpinBox::valueChanged), this, [this] { showTop(); });
  if (controller_) {
    connect(controller_, &SessionController::sessionChanged, this, [this] {
      stale_ = true;
      if (isVisible()) refresh();
    });
    connect(controller_, &SessionController::inspectionFailed, this,
            [this](const QString& message) {
              if (!pending_) return;
              pending_ = false;
              refresh_->setEnabled(true);
              status_->setText(tr("Could not look inside the encoder: %1").arg(message));
            });
  }
}

EncoderPanel::~EncoderPanel() = default;

void EncoderPanel::setScannedImages(int n) { scanned_->setValue(n); }
void EncoderPanel::setSimilarityImages(int m) { similarityCount_->setValue(m); }
void EncoderPanel::setTopK(int k) { topK_->setValue(k); }
void EncoderPanel::setStage(int stage) { stage_->setCurrentIndex(stage); }
void EncoderPanel::setChannel(int channel) { channel_->setValue(channel); }
int EncoderPanel::stage() const { return stage_->currentIndex(); }
int EncoderPanel::channel() const { return channel_->value(); }
int EncoderPanel::stageCount() const {
  return data_ ? static_cast<int>(data_->activations.size()) : 0;
}
int EncoderPanel::channelCount() const {
  const int s = stage();
  if (!data_ || s < 0 || s >= stageCount()) return 0;
  return static_cast<int>(data_->activations[static_cast<size_t>(s)].size(1));
}
QImage EncoderPanel::filterImage() const { return filters_->image(); }
QImage EncoderPanel::topImage() const { return top_->image(); }
QImage EncoderPanel::similarityImage() const { return similarity_->image(); }

void EncoderPanel::refresh() {
  if (!controller_) return;
  if (!isVisible()) {
    stale_ = true;
    return;
  }
  stale_ = false;
  pending_ = true;
  refresh_->setEnabled(false);
  QString model = tr("a random init (untrained)");
  if (controller_->training())
    model = tr("the live model");
  else if (!controller_->runDir().isEmpty())
    model = tr("run %1").arg(QFileInfo(controller_->runDir()).fileName());
  status_->setText(tr("Looking inside %1...").arg(model));
  const int64_t scan = scanned_->value(), simM = similarityCount_->value();
  controller_->inspect<std::shared_ptr<Data>>(
      this,
      [scan, simM, model](Session& s) {
        auto d = std::make_shared<Data>();
        d->model = model;
        torch::NoGradGuard noGrad;
        Encoder& enc = *s.method->encoder();
        try {
          d->filters = firstLayerFilters(enc);
        } catch (const Error& e) {
          d->filterError = QString::fromUtf8(e.what());
        }
        const Dataset& test = s.data.test;
        if (test.size() == 0) throw Error("the data set has no test images to look at");
        for (const auto& c : test.classNames) d->classNames << QString::fromStdString(c);
        const int64_t n = std::min<int64_t>(scan, test.size());
        d->images = test.images.slice(0, 0, n).clone();
        if (test.labelled()) d->labels = test.labels.slice(0, 0, n).clone();
        try {
          d->activations = channelActivations(enc, d->images, s.device, 256);
        } catch (const Error& e) {
          d->activationError = QString::fromUtf8(e.what());
        }
        const auto order = classBalancedOrder(test.labelled() ? test.labels : torch::Tensor(),
                                              test.size(), test.numClasses(), simM);
        Dataset sub;
        sub.name = test.name;
        sub.images = test.images.index_select(0, order);
        const auto feats = extractFeatures(
            [&s](const torch::Tensor& x) { return s.method->features(x); }, sub, s.device, 256);
        d->similarity = cosineSimilarityMatrix(feats);
        if (test.labelled()) {
          d->similarityLabels = test.labels.index_select(0, order);
          d->contrast = similarityContrast(d->similarity, d->similarityLabels);
        }
        return d;
      },
      [this](std::shared_ptr<Data> d) { onData(std::move(d)); },
      QStringLiteral("encoder:%1").arg(quintptr(this)));
}

void EncoderPanel::onData(std::shared_ptr<Data> d) {
  pending_ = false;
  refresh_->setEnabled(true);
  data_ = std::move(d);
  status_->setText(tr("Showing %1.").arg(data_->model));
  try {
    showFilters();
    showStages();
    showSimilarity();
  } catch (const std::exception& e) {
    status_->setText(tr("Could not draw: %1").arg(e.what()));
  }
  emit refreshed();
}

void EncoderPanel::showFilters() {
  if (!data_->filters.defined()) {
    filters_->setImage({});
    filters_->setPlaceholder(data_->filterError);
    filterInfo_->clear();
    return;
  }
  const auto& f = data_->filters;  // [O,C,kh,kw]
  const int64_t o = f.size(0), c = f.size(1), kh = f.size(2), kw = f.size(3);
  const int scale = std::max<int>(1, static_cast<int>(36 / std::max(kh, kw)));
  QImage grid;
  if (c == 1 || c == 3) {
    grid = imageGrid(f, static_cast<int>(std::min<int64_t>(16, o)), scale, {}, 3);
    filterInfo_->setText(tr("%1 filters of %2x%3 pixels%4; mid-grey = 0, each filter scaled to "
                            "its own largest weight.")
                             .arg(o)
                             .arg(kh)
                             .arg(kw)
                             .arg(c == 3 ? tr(", in colour (RGB)") : QString()));
  } else {
    // Any other channel count: one grey tile per (filter, input channel), a row per filter.
    grid = imageGrid(f.reshape({o * c, 1, kh, kw}), static_cast<int>(c), scale, {}, 3);
    filterInfo_->setText(tr("%1 filters x %2 input channels (one row per filter).").arg(o).arg(c));
  }
  filters_->setImage(grid);
}

void EncoderPanel::showStages() {
  const int previous = stage_->currentIndex();
  const QSignalBlocker block(stage_);
  stage_->clear();
  for (size_t s = 0; s < data_->activations.size(); ++s)
    stage_->addItem(tr("stage %1 (%2 channels)").arg(s + 1).arg(data_->activations[s].size(1)));
  if (stage_->count() == 0) {
    top_->setImage({});
    top_->setPlaceholder(data_->activationError.isEmpty() ? tr("No stages")
                                                          : data_->activationError);
    topInfo_->clear();
    return;
  }
  stage_->setCurrentIndex(previous >= 0 && previous < stage_->count() ? previous : 0);
  const QSignalBlocker blockChannel(channel_);
  channel_->setRange(0, std::max(0, channelCount() - 1));
  showTop();
}

void EncoderPanel::showTop() {
  topIndices_.clear();
  const int s = stage();
  if (!data_ || s < 0 || s >= stageCount()) return;
  const auto& acts = data_->activations[static_cast<size_t>(s)];
  const int ch = std::min(channel(), static_cast<int>(acts.size(1)) - 1);
  auto [idx, vals] = topActivating(acts, ch, topK_->value());
  std::vector<QString> captions;
  std::map<int64_t, int> perClass;
  for (int64_t i = 0; i < idx.numel(); ++i) {
    const int64_t k = idx[i].item<int64_t>();
    topIndices_ << k;
    captions.push_back(QString::number(vals[i].item<float>(), 'f', 2));
    if (data_->labels.defined()) ++perClass[data_->labels[k].item<int64_t>()];
  }
  const int columns =
      idx.numel() <= 16 ? 8 : static_cast<int>(std::ceil(std::sqrt(idx.numel() * 2.0)));
  // Cells of at least 48 px, so small images stay visible and their captions fit.
  const int cellScale = std::max<int>(
      1, static_cast<int>(std::ceil(48.0 / std::max<int64_t>(1, data_->images.size(2)))));
  top_->setImage(imageGrid(data_->images.index_select(0, idx), columns, cellScale, captions, 3));
  // Which classes the channel prefers, most frequent first.
  std::vector<std::pair<int, int64_t>> counts;
  for (auto [c, count] : perClass) counts.push_back({count, c});
  std::sort(counts.begin(), counts.end(), [](auto a, auto b) { return a.first > b.first; });
  QStringList parts;
  for (auto [count, c] : counts) {
    const QString name =
        c < data_->classNames.size() ? data_->classNames[static_cast<int>(c)] : QString::number(c);
    parts << QStringLiteral("%1 (%2)").arg(name).arg(count);
  }
  const auto column = acts.select(1, ch);
  QString text = tr("Mean activation over space of stage %1, channel %2 (of %3 test images: mean "
                    "%4, max %5).")
                     .arg(s + 1)
                     .arg(ch)
                     .arg(acts.size(0))
                     .arg(column.mean().item<float>(), 0, 'f', 2)
                     .arg(column.max().item<float>(), 0, 'f', 2);
  if (!parts.isEmpty())
    text += tr(" Classes among them: %1.").arg(parts.join(QStringLiteral(", ")));
  topInfo_->setText(text);
}

void EncoderPanel::showSimilarity() {
  const auto& sim = data_->similarity;
  if (!sim.defined()) {
    similarity_->setImage({});
    similarityInfo_->clear();
    return;
  }
  const int64_t m = sim.size(0);
  const auto offDiag = torch::eye(m, torch::dtype(torch::kBool)).logical_not();
  const auto values = m > 1 ? sim.masked_select(offDiag) : sim.flatten();
  const double vmin = values.min().item<double>(), vmax = values.max().item<double>();
  similarity_->setImage(
      similarityFigure(sim, data_->similarityLabels, data_->classNames, vmin, vmax));
  QString text = tr("Cosine similarity of the features of %1 test images, %2.")
                     .arg(m)
                     .arg(data_->similarityLabels.defined() ? tr("grouped by class")
                                                            : tr("unlabelled, in test-set order"));
  if (data_->similarityLabels.defined())
    text += tr(" Bright blocks on the diagonal = images of a class look alike to the encoder. "
               "Within-class minus between-class similarity: %1.")
                .arg(data_->contrast, 0, 'f', 3);
  similarityInfo_->setText(text);
}

void EncoderPanel::showEvent(QShowEvent* e) {
  QWidget::showEvent(e);
  if (stale_ && controller_) QTimer::singleShot(0, this, &EncoderPanel::refresh);
}

}  // namespace pretext
