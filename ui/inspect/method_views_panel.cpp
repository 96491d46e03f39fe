#include "ui/inspect/method_views_panel.h"

#include <torch/torch.h>

#include <QCheckBox>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QImageReader>
#include <QLabel>
#include <QMimeData>
#include <QPushButton>
#include <QScrollArea>
#include <QSlider>
#include <QVBoxLayout>
#include <cmath>

#include "core/methods/registry.h"
#include "core/train/trainer.h"
#include "core/util/seed.h"
#include "ui/widgets/fit_image_view.h"
#include "viz/image_grid.h"
#include "viz/tensor_image.h"

namespace pretext {

namespace {

int sliderTicks(const PreviewControlInfo& c) {
  return std::max(1, int(std::lround((c.max - c.min) / std::max(c.step, 1e-9))));
}
double sliderValue(const PreviewControlInfo& c, int tick) { return c.min + tick * c.step; }
int sliderTick(const PreviewControlInfo& c, double v) {
  return std::clamp(int(std::lround((v - c.min) / std::max(c.step, 1e-9))), 0, sliderTicks(c));
}
QString shown(double v) { return QString::number(v, 'g', 3); }

}  // namespace

MethodViewsPanel::MethodViewsPanel(SessionController* controller, QWidget* parent)
    : QWidget(parent), controller_(controller) {
  setAcceptDrops(true);
  auto* layout = new QVBoxLayout(this);
  auto* bar = new QHBoxLayout;
  status_ = new QLabel(tr("No pictures yet"), this);
  status_->setWordWrap(true);
  bar->addWidget(status_, 1);
  live_ = new QCheckBox(tr("Live"), this);
  live_->setChecked(true);
  live_->setToolTip(tr("While training, refresh every 3 s (only while this panel is shown)"));
  bar->addWidget(live_);
  auto* more = new QPushButton(tr("New images"), this);
  more->setToolTip(tr("Run the model on other test images"));
  bar->addWidget(more);
  auto* again = new QPushButton(tr("Re-sample"), this);
  again->setObjectName("resample");
  again->setToolTip(tr("The same images with new randomness: new masks, views or turns"));
  bar->addWidget(again);
  auto* open = new QPushButton(tr("Open image…"), this);
  open->setToolTip(tr("Run the method on a picture of your own (or drop one on this panel); it is "
                      "converted to the data set's channels and size"));
  bar->addWidget(open);
  testImages_ = new QPushButton(tr("Test images"), this);
  testImages_->setToolTip(tr("Back to the test set's images"));
  testImages_->setVisible(false);
  bar->addWidget(testImages_);
  layout->addLayout(bar);

  controlsBox_ = new QWidget(this);
  controlsRow_ = new QHBoxLayout(controlsBox_);
  controlsRow_->setContentsMargins(0, 0, 0, 0);
  controlsBox_->setVisible(false);
  layout->addWidget(controlsBox_);

  content_ = new QWidget;
  list_ = new QVBoxLayout(content_);
  list_->addStretch(1);
  auto* scroll = new QScrollArea(this);
  scroll->setWidget(content_);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  layout->addWidget(scroll, 1);

  connect(more, &QPushButton::clicked, this, &MethodViewsPanel::newImages);
  connect(again, &QPushButton::clicked, this, &MethodViewsPanel::resample);
  connect(open, &QPushButton::clicked, this, &MethodViewsPanel::openImageFile);
  connect(testImages_, &QPushButton::clicked, this, [this] {
    userImage_ = QImage();
    testImages_->setVisible(false);
    refresh();
  });
  connect(controller_, &SessionController::previewsArrived, this, [this](qint64 step, const QVector<PreviewImage>& p) {
    // The trainer's epoch-end pictures use the test images and default settings: show them only
    // when that is what the panel shows.
    bool defaults = userImage_.isNull();
    for (const auto& c : controls_) defaults &= settings_.value(c.name, c.value) == c.value;
    if (defaults) setPreviews(step, p);
  });
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

void MethodViewsPanel::newImages() {
  userImage_ = QImage();
  testImages_->setVisible(false);
  imageSeed_ = mixSeed(imageSeed_, 0x51ed27);
  refresh();
}

void MethodViewsPanel::resample() {
  randomSeed_ = mixSeed(randomSeed_, 0x7a3c11);
  refresh();
}

QStringList MethodViewsPanel::controlNames() const {
  QStringList names;
  for (const auto& c : controls_) names << c.name;
  return names;
}

double MethodViewsPanel::controlValue(const QString& name) const {
  for (const auto& c : controls_)
    if (c.name == name) return settings_.value(name, c.value);
  return std::nan("");
}

void MethodViewsPanel::setControlValue(const QString& name, double value) {
  if (QSlider* s = sliders_.value(name)) {
    for (const auto& c : controls_)
      if (c.name == name) s->setValue(sliderTick(c, value));
  }
}

void MethodViewsPanel::setControls(const QVector<PreviewControlInfo>& controls) {
  QStringList before = controlNames(), after;
  for (const auto& c : controls) after << c.name;
  if (before == after) return;
  controls_ = controls;
  settings_.clear();
  sliders_.clear();
  sliderValues_.clear();
  while (QLayoutItem* item = controlsRow_->takeAt(0)) {
    delete item->widget();
    delete item;
  }
  for (const auto& c : controls_) {
    auto* label = new QLabel(c.label + ":", controlsBox_);
    auto* slider = new QSlider(Qt::Horizontal, controlsBox_);
    slider->setObjectName("control-" + c.name);
    slider->setRange(0, sliderTicks(c));
    slider->setValue(sliderTick(c, c.value));
    slider->setMinimumWidth(160);
    slider->setToolTip(c.help);
    label->setToolTip(c.help);
    auto* value = new QLabel(shown(c.value), controlsBox_);
    value->setMinimumWidth(value->fontMetrics().horizontalAdvance("0.000"));
    controlsRow_->addWidget(label);
    controlsRow_->addWidget(slider, 1);
    controlsRow_->addWidget(value);
    sliders_[c.name] = slider;
    sliderValues_[c.name] = value;
    const PreviewControlInfo info = c;
    connect(slider, &QSlider::valueChanged, this, [this, info](int tick) {
      const double v = sliderValue(info, tick);
      settings_[info.name] = v;
      sliderValues_[info.name]->setText(shown(v));
      refresh();
    });
  }
  controlsRow_->addStretch(1);
  controlsBox_->setVisible(!controls_.isEmpty());
  emit controlsChanged(after);
}

bool MethodViewsPanel::loadImageFile(const QString& path) {
  QImageReader reader(path);
  reader.setAutoTransform(true);
  const QImage img = reader.read();
  if (img.isNull()) {
    status_->setText(tr("%1: cannot read this image (%2)").arg(path, reader.errorString()));
    return false;
  }
  setUserImage(img);
  return true;
}

void MethodViewsPanel::setUserImage(const QImage& image) {
  if (image.isNull()) return;
  userImage_ = image;
  testImages_->setVisible(true);
  refresh();
}

void MethodViewsPanel::openImageFile() {
  const QString path = QFileDialog::getOpenFileName(
      this, tr("Open an image"), QString(),
      tr("Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.pgm *.ppm *.tif *.tiff);;All files (*)"));
  if (!path.isEmpty()) loadImageFile(path);
}

void MethodViewsPanel::dragEnterEvent(QDragEnterEvent* event) {
  for (const QUrl& u : event->mimeData()->urls())
    if (u.isLocalFile()) {
      event->acceptProposedAction();
      return;
    }
}

void MethodViewsPanel::dropEvent(QDropEvent* event) {
  for (const QUrl& u : event->mimeData()->urls())
    if (u.isLocalFile() && loadImageFile(u.toLocalFile())) {
      event->acceptProposedAction();
      return;
    }
}

void MethodViewsPanel::refresh() {
  stale_ = false;
  const uint64_t imageSeed = imageSeed_, randomSeed = randomSeed_;
  const QImage user = userImage_;
  PreviewSettings settings;
  for (auto it = settings_.begin(); it != settings_.end(); ++it) settings[it.key().toStdString()] = it.value();
  struct Result {
    qint64 step = -1;
    qint64 images = 0;
    QString method, converted;
    QVector<PreviewControlInfo> controls;
    QVector<PreviewImage> previews;
  };
  controller_->inspect<Result>(
      this,
      [imageSeed, randomSeed, user, settings](Session& s) {
        torch::NoGradGuard ng;
        const Dataset& test = s.data.test.size() > 0 ? s.data.test : s.data.train;
        Result r;
        torch::Tensor images;
        if (!user.isNull()) {
          images = imageToDataTensor(user, int(test.channels()), int(test.height()), int(test.width()));
          r.converted = QStringLiteral("%1×%2×%3").arg(test.channels()).arg(test.height()).arg(test.width());
        } else {
          auto pickGen = at::detail::createCPUGenerator(imageSeed);
          auto pick = torch::randperm(test.size(), pickGen).slice(0, 0, std::min<int64_t>(s.method->previewImageCount(), test.size()));
          images = test.images.index_select(0, pick).to(torch::kFloat).div(255);
        }
        images = images.to(s.device);
        r.images = images.size(0);
        auto gen = at::detail::createCPUGenerator(randomSeed);
        r.method = QString::fromStdString(MethodRegistry::instance().get(s.experiment.method).title);
        for (const PreviewControl& c : s.method->previewControls())
          r.controls.append({QString::fromStdString(c.name), QString::fromStdString(c.label),
                             QString::fromStdString(c.help), c.min, c.max, c.step, c.value});
        for (const Preview& p : s.method->previews(images, gen, settings))
          r.previews.append({QString::fromStdString(p.name), QString::fromStdString(p.caption),
                             renderPreview(p, user.isNull() ? 3 : 8)});
        return r;
      },
      [this](Result r) {
        methodTitle_ = r.method;
        imageCount_ = r.images;
        setControls(r.controls);
        setPreviews(r.step, r.previews);
        if (!r.converted.isEmpty()) status_->setText(tr("%1 — your image (as %2)").arg(r.method, r.converted));
      },
      "method-views");
}

void MethodViewsPanel::setLargePictures(bool on) {
  largePictures_ = on;
  for (FitImageView* picture : content_->findChildren<FitImageView*>()) picture->setMaxScale(on ? 4 : 2);
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
    auto* picture = new FitImageView(content_);
    picture->setFollowWidth(true);
    picture->setMaxScale(largePictures_ ? 4 : 2);
    picture->setImage(p.image);
    list_->insertWidget(list_->count() - 1, title);
    list_->insertWidget(list_->count() - 1, picture);
  }
  const QString& method = methodTitle_;
  if (previews.isEmpty())
    status_->setText(tr("%1 declares no pictures").arg(method));
  else
    status_->setText(step >= 0 ? tr("%1 — from the trainer at step %2").arg(method).arg(step)
                               : tr("%1 — live model, %2 test images").arg(method).arg(imageCount_));
  emit previewsShown(previews.size());
}

}  // namespace pretext
