#include "ui/augment_panel.h"

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
#include "ui/session_controller.h"
#include "viz/image_grid.h"

namespace pretext {

namespace {

struct Rendered {
  QString title, caption;
  QImage image;
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
  const int width = scroll_->viewport()->width();
  controller_->inspect<Rendered>(
      this,
      [e, rows, seed, width](Session& s) {
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
        const int columns = static_cast<int>(std::max<int64_t>(1, p.columns));
        const int cell = static_cast<int>(p.images.size(3)) + 2;
        const int scale = std::clamp((width - 16) / std::max(1, columns * cell), 1, 6);
        const std::string caption = p.caption;
        p.caption.clear();
        return Rendered{QString::fromStdString(p.name), QString::fromStdString(caption),
                        renderPreview(p, scale)};
      },
      [this](Rendered r) {
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
