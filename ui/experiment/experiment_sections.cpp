#include "ui/experiment/experiment_sections.h"

#include <QFileDialog>
#include <QFrame>
#include <QHBoxLayout>
#include <QLabel>
#include <QStandardItemModel>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>

#include "core/augment/augment.h"
#include "core/config/experiment.h"
#include "core/data/dataset.h"
#include "core/methods/registry.h"
#include "core/models/backbone.h"
#include "core/util/error.h"
#include "ui/widgets/param_form.h"

namespace pretext {
using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
CollapsibleSection::CollapsibleSection(const QString& title, QWidget* parent) : QWidget(parent) {
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->setSpacing(2);
  auto* head = new QHBoxLayout;
  head->setSpacing(6);
  header_ = new QToolButton;
  header_->setText(title);
  header_->setCheckable(true);
  header_->setChecked(true);
  // A flat heading, not a button face: the arrow tells that it folds.
  header_->setStyleSheet("QToolButton { border: none; background: transparent; padding: 2px 0; }");
  header_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  header_->setArrowType(Qt::DownArrow);
  header_->setIconSize(QSize(10, 10));
  QFont f = header_->font();
  f.setBold(true);
  header_->setFont(f);
  auto* line = new QFrame;
  line->setFrameShape(QFrame::HLine);
  line->setFrameShadow(QFrame::Sunken);
  head->addWidget(header_);
  head->addWidget(line, 1);
  outer->addLayout(head);
  body_ = new QWidget;
  bodyLayout_ = new QVBoxLayout(body_);
  bodyLayout_->setContentsMargins(8, 2, 2, 8);
  bodyLayout_->setSpacing(6);
  outer->addWidget(body_);
  connect(header_, &QToolButton::toggled, this, &CollapsibleSection::setExpanded);
}

void CollapsibleSection::setExpanded(bool expanded) {
  header_->setChecked(expanded);
  header_->setArrowType(expanded ? Qt::DownArrow : Qt::RightArrow);
  body_->setVisible(expanded);
}

bool CollapsibleSection::expanded() const { return header_->isChecked(); }

// ---------------------------------------------------------------------------------------------
namespace {
constexpr int kSpecRole = Qt::UserRole;
constexpr int kKindRole = Qt::UserRole + 1;

struct Browse {
  const char* kind;
  const char* text;
};
const Browse kBrowse[] = {{"cifar10", "CIFAR-10 folder…"},
                          {"cifar100", "CIFAR-100 folder…"},
                          {"stl10", "STL-10 folder…"},
                          {"folder", "Image folder (one sub-folder per class)…"},
                          {"video", "Video file (MP4, AVI, WebM)…"}};
}  // namespace

DataSourcePicker::DataSourcePicker(QWidget* parent) : QComboBox(parent) {
  setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  setMinimumContentsLength(12);
  for (const QString spec : {"fashion-mnist", "photos:/usr/share/backgrounds", "moving-fashion"}) addSpec(spec);
  insertSeparator(count());
  firstBrowse_ = count();
  for (const auto& b : kBrowse) {
    addItem(b.text);
    setItemData(count() - 1, QString(b.kind), kKindRole);
    setItemData(count() - 1,
                QString(b.kind) == "video" ? QString("Choose a video file: its clips train the video methods")
                                           : QString("Choose the directory that holds the data set"),
                Qt::ToolTipRole);
  }
  chooser_ = [this](const QString& kind, const QString& title) {
    if (kind == "video")
      return QFileDialog::getOpenFileName(this, title, {}, "Videos (*.mp4 *.avi *.webm *.mkv *.mov);;All files (*)");
    return QFileDialog::getExistingDirectory(this, title);
  };
  connect(this, qOverload<int>(&QComboBox::activated), this, &DataSourcePicker::onActivated);
}

QString DataSourcePicker::describe(const QString& spec) {
  if (spec == "fashion-mnist") return "Fashion-MNIST (built-in)";
  if (spec == "moving-fashion") return "Moving Fashion-MNIST video (built-in)";
  const int colon = spec.indexOf(':');
  if (colon < 0) return spec;
  const QString kind = spec.left(colon), dir = spec.mid(colon + 1);
  static const QList<QPair<QString, QString>> names = {
      {"photos", "Colour photos"}, {"cifar10", "CIFAR-10"},    {"cifar100", "CIFAR-100"},
      {"stl10", "STL-10"},         {"folder", "Image folder"}, {"mnist", "MNIST"},
      {"video", "Video"}};
  for (const auto& [k, title] : names)
    if (k == kind) return title + " — " + dir;
  return spec;
}

QString DataSourcePicker::ownImageSize(const QString& spec) {
  const int64_t side = sourceImageSize(spec.toStdString());
  if (side == 0) return {};
  return side > 0 ? QString("%1 x %1 px (fixed)").arg(side) : QString("the files' own (fixed)");
}

int DataSourcePicker::indexOfSpec(const QString& spec) const {
  for (int i = 0; i < count(); ++i)
    if (itemData(i, kSpecRole).toString() == spec) return i;
  return -1;
}

int DataSourcePicker::addSpec(const QString& spec) {
  int i = indexOfSpec(spec);
  if (i >= 0) return i;
  // New entries go above the separator that precedes the "Browse" entries.
  i = firstBrowse_ > 0 ? firstBrowse_ - 1 : count();
  insertItem(i, describe(spec), spec);
  setItemData(i, spec, Qt::ToolTipRole);
  if (firstBrowse_ > 0) ++firstBrowse_;
  return i;
}

void DataSourcePicker::setSpec(const QString& spec) {
  const QSignalBlocker block(this);
  last_ = addSpec(spec);
  setCurrentIndex(last_);
}

QString DataSourcePicker::spec() const { return itemData(last_, kSpecRole).toString(); }

void DataSourcePicker::onActivated(int index) {
  const QString kind = itemData(index, kKindRole).toString();
  const QString before = spec();
  if (!kind.isEmpty()) {
    const QString dir = chooser_ ? chooser_(kind, itemText(index).remove("…")) : QString();
    if (dir.isEmpty()) {
      const QSignalBlocker block(this);
      setCurrentIndex(last_);
      return;
    }
    setSpec(kind + ":" + dir);
  } else if (index >= 0 && !itemData(index, kSpecRole).toString().isEmpty()) {
    last_ = index;
  }
  if (spec() != before) emit specChanged(spec());
}

// ---------------------------------------------------------------------------------------------
MethodPicker::MethodPicker(QWidget* parent) : QComboBox(parent) {
  setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  setMinimumContentsLength(12);
  auto* model = qobject_cast<QStandardItemModel*>(this->model());
  const auto& all = MethodRegistry::instance().all();
  // Families in the order of the course: pretext tasks first, the supervised ceiling last.
  std::vector<std::string> families = {"pretext task", "autoencoder", "contrastive",
                                       "siamese",      "masked",      "supervised"};
  for (const auto& m : all)
    if (std::find(families.begin(), families.end(), m.family) == families.end())
      families.push_back(m.family);
  for (const auto& family : families) {
    bool any = false;
    for (const auto& m : all) any = any || m.family == family;
    if (!any) continue;
    QString title = QString::fromStdString(family);
    title[0] = title[0].toUpper();
    auto* header = new QStandardItem(title);
    header->setFlags(Qt::NoItemFlags);  // a group title, never the current item
    QFont f = font();
    f.setBold(true);
    header->setFont(f);
    model->appendRow(header);
    for (const auto& m : all) {
      if (m.family != family) continue;
      auto* item = new QStandardItem(QString::fromStdString(m.title));
      // Shown (an imported run's method must be displayable) but never chosen to train.
      if (!m.trainable) item->setEnabled(false);
      item->setData(QString::fromStdString(m.name), kSpecRole);
      item->setToolTip(QString::fromStdString(m.summary));
      model->appendRow(item);
    }
  }
}

void MethodPicker::setMethod(const QString& name) {
  const int i = findData(name, kSpecRole);
  if (i >= 0) setCurrentIndex(i);
}

QString MethodPicker::method() const { return currentData(kSpecRole).toString(); }

QString MethodPicker::infoHtml(const std::string& name) {
  if (!MethodRegistry::instance().has(name)) return {};
  const MethodInfo& m = MethodRegistry::instance().get(name);
  const auto esc = [](const std::string& s) { return QString::fromStdString(s).toHtmlEscaped(); };
  QString html =
      QString("<b>%1</b> <span style='color:#777'>&middot; %2%3</span>")
          .arg(esc(m.title), esc(m.family), m.needsLabels ? " &middot; uses labels" : "");
  html += "<p style='margin-top:4px'>" + esc(m.summary) + "</p>";
  if (!m.formula.empty())
    html +=
        "<p style='margin-top:4px'><span style='color:#777'>Loss</span><br>"
        "<span style='font-family:monospace'>" +
        esc(m.formula) + "</span></p>";
  if (!m.paper.empty())
    html += "<p style='margin-top:4px; color:#777'><i>" + esc(m.paper) + "</i></p>";
  return html;
}

// ---------------------------------------------------------------------------------------------
namespace {
struct SectionField {
  const char* section;
  const char* name;
  const char* label;
  ParamSpec::Type type;
  double min, max;
  std::vector<std::string> choices;
  const char* help;
};

// Ranges as experimentFromJson checks them; open bounds become a small positive minimum.
const std::vector<SectionField>& sectionFields() {
  using T = ParamSpec::Type;
  static const std::vector<SectionField> fields = {
      {"data",
       "image_size",
       "Image size",
       T::Int,
       8,
       1024,
       {},
       "side in pixels of images read from folders and photos (other sources keep their own size)"},
      {"data",
       "limit",
       "Training images",
       T::Int,
       0,
       1e9,
       {},
       "keep at most this many training images (0 = all)"},
      {"backbone", "name", "Backbone", T::Choice, 0, 0, backboneNames(),
       "encoder: small ConvNet (fast on CPU), ResNet with a small-image stem, or Vision "
       "Transformer (vit, for MAE)"},
      {"backbone",
       "width",
       "Width",
       T::Int,
       1,
       1024,
       {},
       "channels of the first stage (later stages multiply it); for vit: the embedding "
       "dimension (a multiple of 4 and of the heads)"},
      {"backbone",
       "patch_size",
       "Patch size",
       T::Int,
       1,
       256,
       {},
       "vit only: side in pixels of the square patches, one token each (must divide the image "
       "size)"},
      {"backbone", "depth", "Depth", T::Int, 1, 64, {}, "vit only: transformer blocks"},
      {"backbone",
       "heads",
       "Heads",
       T::Int,
       1,
       64,
       {},
       "vit only: attention heads per block (must divide the width)"},
      {"backbone", "stem", "Stem", T::Choice, 0, 0, {"small", "imagenet"},
       "resnets only: small (a 3x3 first convolution, no max-pool: for 28-32 px images) or "
       "imagenet (torchvision's 7x7 stride-2 convolution and max-pool)"},
      {"backbone", "norm", "Normalisation", T::Choice, 0, 0, {"batch", "layer", "none"},
       "convnet only: batch norm after each convolution, layer norm (each image on its own: a "
       "WGAN-GP critic) or none"},
      {"optimizer",
       "name",
       "Optimiser",
       T::Choice,
       0,
       0,
       {"sgd", "adam", "adamw", "lars", "rmsprop"},
       "SGD with momentum, Adam, AdamW (decoupled weight decay), LARS (layer-wise trust ratio, "
       "for large batches) or RMSprop (the WGAN paper's)"},
      {"optimizer",
       "lr",
       "Learning rate",
       T::Float,
       1e-9,
       100,
       {},
       "peak learning rate, reached after the warm-up"},
      {"optimizer", "momentum", "Momentum", T::Float, 0, 0.9999, {}, "momentum of SGD and LARS"},
      {"optimizer", "nesterov", "Nesterov", T::Bool, 0, 0, {}, "Nesterov momentum (SGD and LARS)"},
      {"optimizer",
       "beta1",
       "Beta 1",
       T::Float,
       0,
       0.9999,
       {},
       "Adam and AdamW: decay of the gradient's running mean (0.9; DCGAN 0.5, WGAN-GP 0)"},
      {"optimizer",
       "beta2",
       "Beta 2",
       T::Float,
       0,
       0.9999,
       {},
       "Adam and AdamW: decay of the squared gradient's running mean (0.999; WGAN-GP 0.9)"},
      {"optimizer",
       "weight_decay",
       "Weight decay",
       T::Float,
       0,
       1,
       {},
       "L2 penalty (decoupled for AdamW)"},
      {"optimizer",
       "exclude_bias_norm",
       "Skip bias/norm",
       T::Bool,
       0,
       0,
       {},
       "no weight decay (and no LARS adaptation) on biases and normalisation layers"},
      {"optimizer",
       "grad_clip",
       "Gradient clip",
       T::Float,
       0,
       1e6,
       {},
       "maximum global gradient norm (0 = off)"},
      {"optimizer", "lars_eta", "LARS eta", T::Float, 1e-6, 1, {}, "LARS trust coefficient"},
      {"optimizer",
       "lr_scaling",
       "LR scaling",
       T::Choice,
       0,
       0,
       {"none", "linear", "sqrt"},
       "the paper's rule: the learning rate is for the reference batch, scaled to the batch size "
       "(linear: x batch/reference, sqrt: x sqrt(batch/reference))"},
      {"optimizer",
       "lr_reference_batch",
       "LR reference batch",
       T::Int,
       1,
       65536,
       {},
       "the batch size the learning rate is given for (256 in most papers)"},
      {"schedule", "epochs", "Epochs", T::Int, 1, 100000, {}, "passes over the training set"},
      {"schedule",
       "steps",
       "Step budget",
       T::Int,
       0,
       1e9,
       {},
       "train for this many steps instead (0 = use epochs)"},
      {"schedule", "batch_size", "Batch size", T::Int, 2, 65536, {}, "images per step"},
      {"schedule",
       "warmup_epochs",
       "Warm-up epochs",
       T::Float,
       0,
       1e5,
       {},
       "linear learning-rate warm-up before the schedule"},
      {"schedule",
       "lr_schedule",
       "LR schedule",
       T::Choice,
       0,
       0,
       {"cosine", "constant"},
       "learning rate after the warm-up"},
      {"eval",
       "knn_every",
       "kNN every",
       T::Int,
       0,
       100000,
       {},
       "online kNN accuracy every N epochs (0 = off)"},
      {"eval", "knn_k", "kNN k", T::Int, 1, 10000, {}, "neighbours that vote"},
      {"eval",
       "knn_temperature",
       "kNN temperature",
       T::Float,
       1e-4,
       100,
       {},
       "temperature of the similarity-weighted vote"},
      {"eval",
       "knn_train_limit",
       "kNN bank size",
       T::Int,
       0,
       1e9,
       {},
       "training images in the memory bank (0 = all)"},
      {"eval",
       "knn_test_limit",
       "kNN test images",
       T::Int,
       0,
       1e9,
       {},
       "test images scored (0 = all)"},
      {"run",
       "precision",
       "Precision",
       T::Choice,
       0,
       0,
       {"auto", "fp32", "bf16"},
       "bf16 mixed precision: convolutions and matrix products in bf16, the weights in fp32 "
       "(auto = bf16 on CUDA, fp32 on CPU; bf16 on a CPU with AVX512-BF16 or AMX trains "
       "SimCLR's ConvNet ~1.7x faster, see BENCHMARKS.md)"},
      {"run",
       "threads",
       "CPU threads",
       T::Int,
       0,
       1024,
       {},
       "threads for CPU training (0 = every core)"},
      {"run",
       "checkpoint_every",
       "Checkpoint every",
       T::Int,
       0,
       1e9,
       {},
       "steps between checkpoints (0 = every epoch)"},
      {"run", "log_every", "Log every", T::Int, 1, 1e6, {}, "steps between metric rows"},
      {"run", "tensorboard", "TensorBoard", T::Bool, 0, 0, {},
       "also write the scalars as a TensorBoard event file in the run's tb/ folder"},
  };
  return fields;
}
}  // namespace

void fillSectionForm(ParamForm* form, const std::string& section) {
  const json defaults = experimentToJson(Experiment());
  std::vector<ParamSpec> specs;
  for (const auto& f : sectionFields()) {
    if (section != f.section) continue;
    ParamSpec s;
    s.name = f.name;
    s.type = f.type;
    s.min = f.min;
    s.max = f.max;
    s.choices = f.choices;
    s.help = f.help;
    s.defaultValue = defaults.at(section).at(f.name);
    specs.push_back(s);
  }
  form->setSpecs(specs);
  for (const auto& f : sectionFields())
    if (section == f.section) form->setLabel(f.name, f.label);
}

}  // namespace pretext
