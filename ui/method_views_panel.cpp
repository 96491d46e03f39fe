#include "ui/method_views_panel.h"

#include <torch/torch.h>

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QVBoxLayout>

#include "core/methods/registry.h"
#include "core/train/trainer.h"
#include "core/util/seed.h"
#include "viz/image_grid.h"

namespace pretext {

MethodViewsPanel::MethodViewsPanel(SessionController* controller, QWidget* parent)
    : QWidget(parent), controller_(controller) {
  auto* layout = new QVBoxLayout(this);
  auto* bar = new QHBoxLayout;
  status_ = new QLabel(tr("No pictures yet"), this);
  bar->addWidget(status_, 1);
  live_ = new QCheckBox(tr("Live"), this);
  live_->setChecked(true);
  live_->setToolTip(tr("While training, refresh every 3 s (only while this panel is shown)"));
  bar->addWidget(live_);
  auto* refresh = new QPushButton(tr("New images"), this);
  refresh->setToolTip(tr("Run the model on other test images"));
  bar->addWidget(refresh);
  layout->addLayout(bar);

  content_ = new QWidget;
  list_ = new QVBoxLayout(content_);
  list_->addStretch(1);
  auto* scroll = new QScrollArea(this);
  scroll->setWidget(content_);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  layout->addWidget(scroll, 1);

  connect(refresh, &QPushButton::clicked, this, [this] {
    seed_ = mixSeed(seed_, 0x51ed27);
    this->refresh();
  });
  connect(controller_, &SessionController::previewsArrived, this, &MethodViewsPanel::setPreviews);
  connect(controller_, &SessionController::started, this, [this] {
    methodTitle_ = QString::fromStdString(
        MethodRegistry::instance().get(controller_->experiment().method).title);
  });
  connect(controller_, &SessionController::sessionChanged, this, [this] {
    stale_ = true;
    if (isVisible()) this->refresh();
  });
  liveTimer_.setInterval(3000);
  connect(&liveTimer_, &QTimer::timeout, this, [this] {
    if (live_->isChecked() && isVisible() && controller_->state() == SessionState::Running)
      this->refresh();
  });
  liveTimer_.start();
}

void MethodViewsPanel::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (stale_) refresh();
}

void MethodViewsPanel::refresh() {
  stale_ = false;
  const uint64_t seed = seed_;
  struct Result {
    qint64 step = -1;
    QString method;
    QVector<PreviewImage> previews;
  };
  controller_->inspect<Result>(
      this,
      [seed](Session& s) {
        torch::NoGradGuard ng;
        const Dataset& test = s.data.test.size() > 0 ? s.data.test : s.data.train;
        auto gen = at::detail::createCPUGenerator(seed);
        auto pick = torch::randperm(test.size(), gen).slice(0, 0, std::min<int64_t>(16, test.size()));
        auto images = test.images.index_select(0, pick).to(s.device).to(torch::kFloat).div(255);
        Result r;
        r.method = QString::fromStdString(MethodRegistry::instance().get(s.experiment.method).title);
        for (const Preview& p : s.method->previews(images, gen, {}))
          r.previews.append({QString::fromStdString(p.name), QString::fromStdString(p.caption),
                             renderPreview(p, 3)});
        return r;
      },
      [this](Result r) {
        methodTitle_ = r.method;
        setPreviews(r.step, r.previews);
      },
      "method-views");
}

void MethodViewsPanel::setPreviews(qint64 step, const QVector<PreviewImage>& previews) {
  previews_ = previews;
  while (list_->count() > 1) {  // keep the stretch at the end
    QLayoutItem* item = list_->takeAt(0);
    delete item->widget();
    delete item;
  }
  for (const PreviewImage& p : previews) {
    auto* title = new QLabel(QString("<b>%1</b>").arg(p.name.toHtmlEscaped()), content_);
    auto* picture = new QLabel(content_);
    picture->setPixmap(QPixmap::fromImage(p.image));
    picture->setAlignment(Qt::AlignLeft);
    list_->insertWidget(list_->count() - 1, title);
    list_->insertWidget(list_->count() - 1, picture);
  }
  const QString& method = methodTitle_;
  if (previews.isEmpty())
    status_->setText(tr("%1 declares no pictures").arg(method));
  else
    status_->setText(step >= 0 ? tr("%1 — from the trainer at step %2").arg(method).arg(step)
                               : tr("%1 — live model, %2 test images").arg(method).arg(16));
  emit previewsShown(previews.size());
}

}  // namespace pretext
