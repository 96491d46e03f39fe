#include "ui/inspect/compare_panel.h"

#include <torch/torch.h>

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>
#include <algorithm>

#include "core/eval/compare_encoders.h"
#include "core/train/trainer.h"
#include "ui/widgets/matrix_heatmap_view.h"
#include "ui/window/session_controller.h"

namespace pretext {

ComparePanel::ComparePanel(SessionController* controller, QWidget* parent)
    : QWidget(parent), controller_(controller) {
  partner_ = new QComboBox(this);
  partner_->addItems({tr("its random init"), tr("itself"), tr("another run")});
  partner_->setToolTip(tr("What to compare the current model's layers with"));
  choose_ = new QPushButton(tr("Choose run..."), this);
  runLabel_ = new QLabel(this);
  runLabel_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  images_ = new QSpinBox(this);
  images_->setRange(50, 10000);
  images_->setSingleStep(250);
  images_->setValue(1000);
  images_->setSuffix(tr(" test images"));
  images_->setToolTip(tr("Both encoders see the same test images; CKA compares their N x N similarity structure"));
  compute_ = new QPushButton(tr("Compare"), this);
  compute_->setDefault(true);
  status_ = new QLabel(this);
  status_->setWordWrap(true);
  heatmap_ = new MatrixHeatmapView(this);
  heatmap_->clear(tr("Choose what to compare with and press Compare.\n\nLinear CKA (Kornblith et al. 2019) "
                     "is 1 where two layers represent the test images the same way (up to rotation and "
                     "scale) and near 0 where they are unrelated."));
  summary_ = new QLabel(this);
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Compare this model with"), this));
  bar->addWidget(partner_);
  bar->addWidget(choose_);
  bar->addWidget(runLabel_, 1);
  bar->addWidget(images_);
  bar->addWidget(compute_);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(bar);
  layout->addWidget(status_);
  layout->addWidget(heatmap_, 1);
  layout->addWidget(summary_);

  connect(partner_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    if (partner() == Partner::Run && partnerRun_.isEmpty()) chooseRun();
    updateControls();
  });
  connect(choose_, &QPushButton::clicked, this, &ComparePanel::chooseRun);
  connect(compute_, &QPushButton::clicked, this, &ComparePanel::compute);
  if (controller_) {
    connect(controller_, &SessionController::sessionChanged, this, [this] {
      if (shown_ && !pending_) status_->setText(tr("The model has changed since this comparison: press Compare to redo it."));
    });
    connect(controller_, &SessionController::inspectionFailed, this, [this](const QString& message) {
      if (!pending_) return;
      pending_ = false;
      updateControls();
      status_->setText(tr("Could not compare: %1").arg(message));
      emit computeFailed(message);
    });
  }
  updateControls();
}

ComparePanel::~ComparePanel() = default;

void ComparePanel::setPartner(Partner p) { partner_->setCurrentIndex(static_cast<int>(p)); }
ComparePanel::Partner ComparePanel::partner() const { return static_cast<Partner>(partner_->currentIndex()); }
void ComparePanel::setImages(int n) { images_->setValue(n); }
QString ComparePanel::summary() const { return summary_->text(); }
QString ComparePanel::status() const { return status_->text(); }

void ComparePanel::setPartnerRun(const QString& runDir) {
  partnerRun_ = runDir;
  runLabel_->setText(QFileInfo(runDir).fileName());
  runLabel_->setToolTip(runDir);
  setPartner(Partner::Run);
  updateControls();
}

void ComparePanel::chooseRun() {
  const QString start = controller_ ? controller_->runsFolder() : QString();
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Compare with run"), start);
  if (!dir.isEmpty()) setPartnerRun(dir);
  updateControls();
}

void ComparePanel::updateControls() {
  const bool run = partner() == Partner::Run;
  choose_->setVisible(run);
  runLabel_->setVisible(run);
  compute_->setEnabled(!pending_ && (!run || !partnerRun_.isEmpty()));
}

QString ComparePanel::modelName() const {
  if (controller_->training()) return tr("the live model");
  if (!controller_->runDir().isEmpty()) return tr("run %1").arg(QFileInfo(controller_->runDir()).fileName());
  return tr("a random init (untrained)");
}

void ComparePanel::compute() {
  if (!controller_ || pending_) return;
  const Partner which = partner();
  if (which == Partner::Run && partnerRun_.isEmpty()) {
    status_->setText(tr("Choose the run to compare with first."));
    return;
  }
  pending_ = true;
  updateControls();
  status_->setText(tr("Comparing %1 with %2...").arg(modelName(), partner_->currentText()));
  const int64_t n = images_->value();
  const std::string other = partnerRun_.toStdString();
  controller_->inspect<std::shared_ptr<EncoderComparison>>(
      this,
      [which, n, other](Session& s) {
        torch::NoGradGuard ng;
        switch (which) {
          case Partner::Itself: return std::make_shared<EncoderComparison>(compareWithItself(s, n));
          case Partner::Run: return std::make_shared<EncoderComparison>(compareWithRun(s, other, n));
          case Partner::RandomInit: break;
        }
        return std::make_shared<EncoderComparison>(compareWithRandomInit(s, n));
      },
      // Named when the result arrives: a run being opened is open by then (the engine works in order).
      [this](std::shared_ptr<EncoderComparison> c) { showComparison(std::move(c), modelName()); },
      QStringLiteral("compare:%1").arg(quintptr(this)));
}

void ComparePanel::showComparison(std::shared_ptr<EncoderComparison> c, const QString& model) {
  pending_ = false;
  shown_ = true;
  updateControls();
  QStringList rows, cols;
  for (const auto& n : c->layersA) rows << QString::fromStdString(n);
  for (const auto& n : c->layersB) cols << QString::fromStdString(n);
  const auto m = c->cka.contiguous();
  const double* v = m.data_ptr<double>();
  QVector<double> values(v, v + m.numel());
  const QString partnerName =
      c->partner == "its random init" || c->partner == "itself" ? QString::fromStdString(c->partner)
                                                                 : QFileInfo(QString::fromStdString(c->partner)).fileName();
  heatmap_->setMatrix(values, rows, cols, 0, 1);
  heatmap_->setAxisTitles(model, partnerName);
  status_->setText(tr("Linear CKA of every layer of %1 (rows) against every layer of %2 (columns), on %3 test images.")
                       .arg(model, partnerName)
                       .arg(c->images));
  // The diagonal (same layer) when both have the same layers: where the two differ most.
  QString text;
  if (rows == cols && c->partner != "itself") {
    QStringList same;
    int lowest = 0;
    for (int i = 0; i < rows.size(); ++i) {
      same << QStringLiteral("%1 %2").arg(rows[i]).arg(values[i * cols.size() + i], 0, 'f', 2);
      if (values[i * cols.size() + i] < values[lowest * cols.size() + lowest]) lowest = i;
    }
    text = tr("Same layer: %1. ").arg(same.join(QStringLiteral(" · ")));
    text += c->partner == "its random init"
                ? tr("Training changed %1 most (CKA %2 with its init).")
                      .arg(rows[lowest])
                      .arg(values[lowest * cols.size() + lowest], 0, 'f', 2)
                : tr("The two differ most at %1 (CKA %2).").arg(rows[lowest]).arg(values[lowest * cols.size() + lowest], 0, 'f', 2);
  } else if (c->partner == "itself") {
    text = tr("Neighbouring layers resemble each other; the distance from the diagonal shows how far apart two "
              "layers' representations have moved.");
  }
  summary_->setText(text);
  emit computed();
}

}  // namespace pretext
