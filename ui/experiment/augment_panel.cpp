#include "ui/experiment/augment_panel.h"

#include <torch/torch.h>

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QVBoxLayout>

#include <map>

#include "core/augment/augment.h"
#include "core/data/dataset.h"
#include "core/train/trainer.h"
#include "core/util/seed.h"
#include "ui/window/session_controller.h"
#include "viz/image_grid.h"

namespace pretext {

namespace {

struct Rendered {
  QString title, caption;
  QImage image;
  int views = 0;  // columns per image row: the image and its views
};

// Training images of an experiment's data, on the engine thread: the session's own when it has
// the same data, else loaded once per spec and kept (the panel redraws on every edit).
const Dataset& trainImagesFor(Session& s, const Experiment& e) {
  if (s.experiment.data == e.data && s.experiment.imageSize == e.imageSize) return s.data.train;
  static std::map<std::string, Dataset> cache;  // engine thread only
  const std::string key = e.data + "@" + std::to_string(e.imageSize);
  auto it = cache.find(key);
  if (it == cache.end()) {
    if (cache.size() > 2) cache.clear();
    DataSplits d = loadData(e.data, DataOptions().imageSize(e.imageSize).limit(2000).seed(e.seed));
    it = cache.emplace(key, d.train).first;
  }
  return it->second;
}

}  // namespace

AugmentPanel::AugmentPanel(SessionController* controller, QWidget* parent)
    : QWidget(parent), controller_(controller) {
  auto* layout = new QVBoxLayout(this);
  auto* bar = new QHBoxLayout;
  title_ = new QLabel(this);
  QFont bold = title_->font();
  bold.setBold(true);
  title_->setFont(bold);
  bar->addWidget(title_, 1);
  bar->addWidget(new QLabel(tr("Images:"), this));
  rows_ = new QSpinBox(this);
  rows_->setRange(1, 32);
  rows_->setValue(6);
  rows_->setToolTip(tr("How many data-set images to show, one per row"));
  bar->addWidget(rows_);
  auto* reroll = new QPushButton(tr("Re-roll"), this);
  reroll->setToolTip(tr("Other images and new random augmentations (R)"));
  reroll->setShortcut(QKeySequence(Qt::Key_R));
  bar->addWidget(reroll);
  layout->addLayout(bar);
  caption_ = new QLabel(this);
  caption_->setWordWrap(true);
  layout->addWidget(caption_);
  picture_ = new QLabel(this);
  picture_->setAlignment(Qt::AlignHCenter | Qt::AlignTop);
  scroll_ = new QScrollArea(this);
  scroll_->setWidget(picture_);
  scroll_->setWidgetResizable(true);
  scroll_->setFrameShape(QFrame::NoFrame);
  layout->addWidget(scroll_, 1);

  connect(reroll, &QPushButton::clicked, this, &AugmentPanel::reroll);
  connect(rows_, qOverload<int>(&QSpinBox::valueChanged), this, &AugmentPanel::refresh);
  connect(controller_, &SessionController::experimentChanged, this, &AugmentPanel::refresh);
  connect(controller_, &SessionController::sessionChanged, this, &AugmentPanel::refresh);
}

int AugmentPanel::rows() const { return rows_->value(); }

void AugmentPanel::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (stale_) refresh();
}

void AugmentPanel::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  if (!image_.isNull()) display(image_, title_->text(), caption_->text());
}

void AugmentPanel::reroll() {
  seed_ = mixSeed(seed_, 0x9e3779b97f4a7c15ULL);
  refresh();
}

void AugmentPanel::refresh() {
  if (!isVisible()) {
    stale_ = true;
    return;
  }
  stale_ = false;
  const Experiment e = controller_->experiment();
  const int64_t rows = rows_->value();
  const uint64_t seed = seed_;
  const QSize room = scroll_->viewport()->size();
  controller_->inspect<Rendered>(
      this,
      [e, rows, seed, room](Session& s) {
        torch::NoGradGuard ng;
        const Dataset& data = trainImagesFor(s, e);
        auto gen = at::detail::createCPUGenerator(seed);
        auto pick = torch::randperm(data.size(), gen).slice(0, 0, std::min<int64_t>(rows, data.size()));
        auto images = data.images.index_select(0, pick).to(torch::kFloat).div(255);
        const AugmentOptions augment = augmentFromJson(e.augment, data.height());
        // The method decides how its inputs are made; only the weights of the session's own
        // method are irrelevant here, so a fresh one of the experiment's kind does.
        std::shared_ptr<Method> method =
            s.experiment.method == e.method && s.experiment.methodParams == e.methodParams
                ? s.method
                : makeExperimentMethod(e, data);
        Preview p = method->inputViews(images, augment, gen);
        // Fit every row on screen: the largest cell scale for which some number of side-by-side
        // blocks of rows fits the panel (wide panels show the rows in 2-4 blocks).
        const int columns = static_cast<int>(std::max<int64_t>(1, p.columns));
        const int count = static_cast<int>(p.images.size(0) / columns);
        const int cellW = static_cast<int>(p.images.size(3)) + 2, cellH = static_cast<int>(p.images.size(2)) + 2;
        int bestScale = 1, bestBlocks = 1;
        for (int blocks = 1; blocks <= 4; ++blocks) {
          const int rowsPerBlock = (count + blocks - 1) / blocks;
          const int byWidth = (room.width() - 16 - (blocks - 1) * 12) / std::max(1, blocks * columns * cellW);
          const int byHeight = (room.height() - 24) / std::max(1, rowsPerBlock * cellH);
          const int scale = std::clamp(std::min(byWidth, byHeight), 1, 6);
          if (scale > bestScale) bestScale = scale, bestBlocks = blocks;
        }
        const int scale = bestScale;
        if (bestBlocks > 1) {
          // Row-major grid: with blocks * columns cells per line, consecutive image rows sit
          // side by side; pad to whole lines and repeat the column headers.
          const int64_t perLine = int64_t(bestBlocks) * columns;
          const int64_t lines = (count + bestBlocks - 1) / bestBlocks;
          const int64_t pad = lines * perLine - p.images.size(0);
          if (pad > 0)
            p.images = torch::cat({p.images, torch::ones({pad, p.images.size(1), p.images.size(2), p.images.size(3)})});
          if (static_cast<int>(p.labels.size()) == columns) {
            std::vector<std::string> labels;
            for (int b = 0; b < bestBlocks; ++b) labels.insert(labels.end(), p.labels.begin(), p.labels.end());
            p.labels = labels;
          }
          p.columns = perLine;
        }
        const std::string caption = p.caption;
        p.caption.clear();
        return Rendered{QString::fromStdString(p.name), QString::fromStdString(caption),
                        renderPreview(p, scale), columns};
      },
      [this](Rendered r) {
        views_ = r.views;
        display(r.image, r.title, r.caption);
        emit rendered();
      },
      "augment-panel");
}

void AugmentPanel::display(const QImage& image, const QString& title, const QString& caption) {
  image_ = image;
  title_->setText(title);
  caption_->setText(caption);
  picture_->setPixmap(QPixmap::fromImage(image));
}

}  // namespace pretext
