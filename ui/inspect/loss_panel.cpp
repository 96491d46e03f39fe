#include "ui/inspect/loss_panel.h"

#include <qcustomplot.h>
#include <torch/torch.h>

#include <QCheckBox>
#include <QFileInfo>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QPushButton>
#include <QShowEvent>
#include <QSpinBox>
#include <QSplitter>
#include <QTimer>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "core/augment/augment.h"
#include "core/methods/method.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "ui/widgets/fit_image_view.h"
#include "ui/window/session_controller.h"
#include "viz/colormap.h"
#include "viz/image_grid.h"

namespace pretext {

namespace {

struct LossEvalMode {
  Method& method;
  bool was;
  explicit LossEvalMode(Method& m) : method(m), was(m.is_training()) { method.eval(); }
  ~LossEvalMode() { method.train(was); }
};

QLabel* lossInfoLabel(QWidget* parent) {
  auto* l = new QLabel(parent);
  l->setWordWrap(true);
  l->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  return l;
}

}  // namespace

LossPanel::LossPanel(SessionController* controller, QWidget* parent) : QWidget(parent), controller_(controller) {
  batch_ = new QSpinBox(this);
  batch_->setRange(4, 128);
  batch_->setValue(32);
  batch_->setPrefix(tr("batch of "));
  batch_->setSuffix(tr(" images"));
  again_ = new QPushButton(tr("New views"), this);
  again_->setToolTip(tr("The same images under fresh augmentations"));
  other_ = new QPushButton(tr("New batch"), this);
  other_->setToolTip(tr("Other test images"));
  live_ = new QCheckBox(tr("Live"), this);
  live_->setToolTip(tr("While training, take the loss apart again every few seconds"));
  live_->setChecked(true);
  status_ = lossInfoLabel(this);
  title_ = new QLabel(this);
  QFont bold = title_->font();
  bold.setBold(true);
  title_->setFont(bold);

  matrix_ = new FitImageView(this);
  matrix_->setMaxScale(4);
  matrix_->setPlaceholder(tr("No batch yet"));
  explanation_ = lossInfoLabel(this);
  auto* matrixBox = new QGroupBox(tr("The matrix the loss reads"), this);
  auto* ml = new QVBoxLayout(matrixBox);
  ml->addWidget(title_);
  ml->addWidget(matrix_, 1);
  ml->addWidget(explanation_);

  perRow_ = new QCustomPlot(this);
  perRow_->setMinimumHeight(160);
  hardest_ = new FitImageView(this);
  hardest_->setMaxScale(3);
  hardest_->setPlaceholder(tr("The hardest anchors appear here for methods with positives and negatives"));
  hardestInfo_ = lossInfoLabel(this);
  terms_ = lossInfoLabel(this);
  terms_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* rightBox = new QGroupBox(tr("Each row's loss, and the hardest rows"), this);
  auto* rl = new QVBoxLayout(rightBox);
  rl->addWidget(perRow_, 2);
  rl->addWidget(hardest_, 3);
  rl->addWidget(hardestInfo_);
  rl->addWidget(terms_);

  auto* split = new QSplitter(Qt::Horizontal, this);
  split->addWidget(matrixBox);
  split->addWidget(rightBox);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  split->setChildrenCollapsible(false);
  auto* bar = new QHBoxLayout;
  bar->addWidget(batch_);
  bar->addWidget(again_);
  bar->addWidget(other_);
  bar->addWidget(live_);
  bar->addWidget(status_, 1);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(bar);
  layout->addWidget(split, 1);

  liveTimer_ = new QTimer(this);
  liveTimer_->setInterval(3000);
  connect(liveTimer_, &QTimer::timeout, this, [this] {
    if (isVisible() && live_->isChecked() && controller_ && controller_->training() && !pending_) refresh();
  });
  liveTimer_->start();
  connect(again_, &QPushButton::clicked, this, &LossPanel::refresh);
  connect(other_, &QPushButton::clicked, this, &LossPanel::newBatch);
  connect(batch_, qOverload<int>(&QSpinBox::valueChanged), this, [this] {
    if (isVisible()) refresh();
  });
  if (controller_) {
    connect(controller_, &SessionController::sessionChanged, this, [this] {
      stale_ = true;
      if (isVisible()) refresh();
    });
    connect(controller_, &SessionController::inspectionFailed, this, [this](const QString& message) {
      if (!pending_) return;
      pending_ = false;
      status_->setText(tr("Could not take the loss apart: %1").arg(message));
    });
  }
}

LossPanel::~LossPanel() = default;

void LossPanel::setBatchSize(int n) { batch_->setValue(n); }
void LossPanel::setLive(bool live) { live_->setChecked(live); }
const LossAnatomy* LossPanel::anatomy() const { return data_ && !data_->empty() ? &data_->front() : nullptr; }
QString LossPanel::terms() const { return terms_->text(); }
QString LossPanel::status() const { return status_->text(); }

void LossPanel::showEvent(QShowEvent* e) {
  QWidget::showEvent(e);
  if (stale_) refresh();
}

void LossPanel::newBatch() {
  offset_ += batch_->value();
  refresh();
}

void LossPanel::refresh() {
  if (!controller_ || pending_) return;
  stale_ = false;
  pending_ = true;
  const int64_t n = batch_->value();
  const int64_t offset = offset_;
  const uint64_t seed = 1000 + draws_++;
  status_->setText(tr("Taking one batch's loss apart..."));
  controller_->inspect<std::shared_ptr<std::vector<LossAnatomy>>>(
      this,
      [n, offset, seed](Session& s) {
        const Dataset& test = s.data.test.size() > 0 ? s.data.test : s.data.train;
        if (test.size() < 2) throw Error("the data set has too few images for a batch");
        const int64_t start = (offset % test.size() + test.size()) % test.size();
        const int64_t end = std::min<int64_t>(test.size(), start + n);
        auto images = test.images.slice(0, start, end).to(s.device).to(torch::kFloat).div(255);
        const AugmentOptions augment = augmentFromJson(s.experiment.augment, test.height());
        auto gen = at::detail::createCPUGenerator(seed);
        torch::NoGradGuard ng;
        LossEvalMode mode(*s.method);
        return std::make_shared<std::vector<LossAnatomy>>(s.method->lossAnatomy(images, augment, gen));
      },
      [this](std::shared_ptr<std::vector<LossAnatomy>> list) {
        QString model = tr("a random init (untrained)");
        if (controller_->training())
          model = tr("the live model");
        else if (!controller_->runDir().isEmpty())
          model = tr("run %1").arg(QFileInfo(controller_->runDir()).fileName());
        showAnatomy(std::move(list), model);
      },
      QStringLiteral("loss:%1").arg(quintptr(this)));
}

void LossPanel::showAnatomy(std::shared_ptr<std::vector<LossAnatomy>> list, const QString& model) {
  pending_ = false;
  data_ = std::move(list);
  if (!anatomy()) {
    const std::string method = controller_ ? controller_->experiment().method : std::string();
    status_->setText(tr("The method %1 does not take its loss apart yet (SimCLR, Barlow Twins, BYOL and SimSiam do).")
                         .arg(QString::fromStdString(method)));
    title_->clear();
    matrix_->setImage({});
    explanation_->clear();
    perRow_->clearPlottables();
    perRow_->replot();
    hardest_->setImage({});
    hardestInfo_->clear();
    terms_->clear();
    emit refreshed();
    return;
  }
  status_->setText(tr("One batch of %1, under the run's augmentation.").arg(model));
  drawMatrix();
  drawPerRow();
  drawHardest();
  QStringList t;
  for (const auto& [name, value] : anatomy()->terms)
    t << QStringLiteral("%1 = %2").arg(QString::fromStdString(name)).arg(value, 0, 'g', 4);
  terms_->setText(t.join(QStringLiteral("   ·   ")));
  emit refreshed();
}

void LossPanel::drawMatrix() {
  const LossAnatomy& a = *anatomy();
  title_->setText(QString::fromStdString(a.title));
  explanation_->setText(QString::fromStdString(a.explanation));
  const int64_t r = a.matrix.size(0), c = a.matrix.size(1);
  const int scale = std::max<int>(1, static_cast<int>(512 / std::max<int64_t>(r, c)));
  const bool signedRange = a.vmin < 0;
  QImage img = heatmap(a.matrix, signedRange ? Colormap::Diverging : Colormap::Viridis, a.vmin, a.vmax, scale);
  // Ring each row's positive.
  if (a.positives.defined() && scale >= 3) {
    QPainter p(&img);
    p.setPen(QPen(QColor(20, 20, 20), std::max(1, scale / 5)));
    p.setBrush(Qt::NoBrush);
    const auto pos = a.positives.contiguous();
    for (int64_t i = 0; i < r; ++i) {
      const int64_t j = pos[i].item<int64_t>();
      if (j < 0 || j >= c) continue;
      p.drawEllipse(QRectF(j * scale + 0.5, i * scale + 0.5, scale - 1.0, scale - 1.0));
    }
  }
  matrix_->setImage(img);
}

void LossPanel::drawPerRow() {
  const LossAnatomy& a = *anatomy();
  perRow_->clearPlottables();
  if (!a.perRow.defined()) {
    perRow_->replot();
    return;
  }
  auto* bars = new QCPBars(perRow_->xAxis, perRow_->yAxis);
  bars->setPen(Qt::NoPen);
  bars->setBrush(QColor(31, 119, 180));
  bars->setWidth(0.8);
  const auto v = a.perRow.to(torch::kDouble).contiguous();
  QVector<double> x, y;
  double top = 0, bottom = 0;  // a loss can be negative (SimSiam's -cos)
  for (int64_t i = 0; i < v.size(0); ++i) {
    x << double(i + 1);
    y << v[i].item<double>();
    top = std::max(top, y.back());
    bottom = std::min(bottom, y.back());
  }
  bars->setData(x, y);
  perRow_->xAxis->setLabel(QString::fromStdString(a.rowsTitle));
  perRow_->yAxis->setLabel(QString::fromStdString(a.perRowTitle));
  perRow_->xAxis->setRange(0, double(v.size(0)) + 1);
  const double span = top - bottom > 0 ? top - bottom : 1;
  perRow_->yAxis->setRange(bottom < 0 ? bottom - 0.1 * span : 0, top > 0 ? top + 0.1 * span : (bottom < 0 ? 0 : 1));
  perRow_->replot();
}

void LossPanel::drawHardest() {
  const LossAnatomy& a = *anatomy();
  hardestShown_ = 0;
  if (!a.images.defined() || !a.perRow.defined()) {
    hardest_->setImage({});
    hardestInfo_->setText(a.perRow.defined() ? tr("The bars: %1 for each row.").arg(QString::fromStdString(a.perRowTitle))
                                             : QString());
    return;
  }
  if (!a.columnImages.defined() || !a.positives.defined()) {
    // Columns that are not images (classes, queue keys, patches): the hardest rows' inputs alone.
    const int64_t k = std::min<int64_t>(8, a.matrix.size(0));
    auto order = std::get<1>(a.perRow.topk(k));
    std::vector<torch::Tensor> cells;
    std::vector<QString> captions;
    for (int64_t t = 0; t < k; ++t) {
      const int64_t i = order[t].item<int64_t>();
      cells.push_back(a.images[i]);
      captions.push_back(tr("#%1 loss %2").arg(i + 1).arg(a.perRow[i].item<double>(), 0, 'f', 3));
    }
    const int scale = std::max(1, 84 / std::max<int>(1, static_cast<int>(a.images.size(2))));
    hardest_->setImage(imageGrid(torch::stack(cells), 4, scale, captions, 3));
    hardestShown_ = static_cast<int>(k);
    hardestInfo_->setText(tr("The %1 rows with the largest loss (%2), hardest first.")
                              .arg(k)
                              .arg(QString::fromStdString(a.perRowTitle)));
    return;
  }
  // The rows with the largest loss: the anchor, its positive, and the negative it finds most similar.
  const int64_t r = a.matrix.size(0);
  const int64_t k = std::min<int64_t>(4, r);
  auto order = std::get<1>(a.perRow.topk(k));
  std::vector<torch::Tensor> cells;
  std::vector<QString> captions;
  for (int64_t t = 0; t < k; ++t) {
    const int64_t i = order[t].item<int64_t>();
    const int64_t pos = a.positives[i].item<int64_t>();
    auto row = a.matrix[i].clone();
    row = torch::nan_to_num(row, -2.0);
    if (pos >= 0) row[pos] = -2;
    const int64_t neg = row.argmax().item<int64_t>();
    cells.push_back(a.images[i]);
    captions.push_back(tr("#%1 loss %2").arg(i + 1).arg(a.perRow[i].item<double>(), 0, 'f', 2));
    cells.push_back(pos >= 0 ? a.columnImages[pos] : torch::zeros_like(a.images[i]));
    captions.push_back(tr("positive %1").arg(pos >= 0 ? a.matrix[i][pos].item<double>() : 0.0, 0, 'f', 2));
    cells.push_back(a.columnImages[neg]);
    captions.push_back(tr("x negative %1").arg(a.matrix[i][neg].item<double>(), 0, 'f', 2));
  }
  const int scale = std::max(1, 84 / std::max<int>(1, static_cast<int>(a.images.size(2))));
  hardest_->setImage(imageGrid(torch::stack(cells), 3, scale, captions, 3));
  hardestShown_ = static_cast<int>(k);
  hardestInfo_->setText(tr("The %1 anchors with the largest loss: each with its positive and the negative "
                           "it finds most similar (red), with their cosine similarities.")
                            .arg(k));
}

}  // namespace pretext
