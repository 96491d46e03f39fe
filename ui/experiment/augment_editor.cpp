#include "ui/experiment/augment_editor.h"

#include <QComboBox>
#include <QLabel>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <iterator>

#include "core/augment/augment.h"
#include "core/methods/registry.h"
#include "ui/widgets/param_form.h"

namespace pretext {
using json = nlohmann::json;

namespace {
constexpr const char* kCustom = "custom";

struct AugField {
  const char* name;
  const char* label;
  ParamSpec::Type type;
  double min, max;
  const char* help;
};

// Ranges follow AugmentOptions::validate (open bounds become a small positive minimum).
const AugField kFields[] = {
    {"size", "Output size", ParamSpec::Type::Int, 0, 1024,
     "output side in pixels (0 keeps the input size)"},
    {"crop_prob", "Crop probability", ParamSpec::Type::Float, 0, 1,
     "probability of a random resized crop"},
    {"crop_scale_min", "Crop area min", ParamSpec::Type::Float, 1e-4, 1,
     "smallest crop area, as a fraction of the image"},
    {"crop_scale_max", "Crop area max", ParamSpec::Type::Float, 1e-4, 1,
     "largest crop area, as a fraction of the image"},
    {"crop_ratio_min", "Crop aspect min", ParamSpec::Type::Float, 1e-3, 1000,
     "smallest aspect ratio (width/height) of the crop"},
    {"crop_ratio_max", "Crop aspect max", ParamSpec::Type::Float, 1e-3, 1000,
     "largest aspect ratio (width/height) of the crop"},
    {"flip_prob", "Flip probability", ParamSpec::Type::Float, 0, 1,
     "probability of a horizontal flip"},
    {"jitter_prob", "Jitter probability", ParamSpec::Type::Float, 0, 1,
     "probability of colour jitter"},
    {"brightness", "Brightness", ParamSpec::Type::Float, 0, 100,
     "brightness factor drawn from [1-s, 1+s]"},
    {"contrast", "Contrast", ParamSpec::Type::Float, 0, 100,
     "contrast factor drawn from [1-s, 1+s]"},
    {"saturation", "Saturation", ParamSpec::Type::Float, 0, 100,
     "saturation factor drawn from [1-s, 1+s] (colour images)"},
    {"hue", "Hue", ParamSpec::Type::Float, 0, 0.5,
     "hue shift drawn from [-h, h] turns (colour images)"},
    {"grayscale_prob", "Grayscale probability", ParamSpec::Type::Float, 0, 1,
     "probability of dropping colour"},
    {"blur_prob", "Blur probability", ParamSpec::Type::Float, 0, 1,
     "probability of a Gaussian blur"},
    {"blur_sigma_min", "Blur sigma min", ParamSpec::Type::Float, 1e-3, 100,
     "smallest blur sigma (pixels)"},
    {"blur_sigma_max", "Blur sigma max", ParamSpec::Type::Float, 1e-3, 100,
     "largest blur sigma (pixels)"},
    {"solarize_prob", "Solarize probability", ParamSpec::Type::Float, 0, 1,
     "probability of solarizing (inverting bright pixels)"},
    {"solarize_threshold", "Solarize threshold", ParamSpec::Type::Float, 0, 1,
     "pixels at or above this value are inverted"},
    {"rotate_prob", "Rotate probability", ParamSpec::Type::Float, 0, 1,
     "probability of a random rotation"},
    {"rotate_degrees", "Rotate degrees", ParamSpec::Type::Float, 0, 180,
     "angle drawn from [-d, d] degrees"},
    {"cutout_prob", "Cutout probability", ParamSpec::Type::Float, 0, 1,
     "probability of a grey square cut out"},
    {"cutout_size", "Cutout size", ParamSpec::Type::Float, 1e-3, 1,
     "side of the square, as a fraction of the image side"},
    {"noise_std", "Noise std", ParamSpec::Type::Float, 0, 10,
     "standard deviation of additive Gaussian noise"},
    {"sobel", "Sobel", ParamSpec::Type::Bool, 0, 0,
     "replace the image by its Sobel gradients (dx, dy)"},
};
}  // namespace

std::vector<ParamSpec> augmentSpecs() {
  const json defaults = augmentToJson(AugmentOptions());
  std::vector<ParamSpec> specs;
  for (const auto& f : kFields) {
    ParamSpec s;
    s.name = f.name;
    s.type = f.type;
    s.min = f.min;
    s.max = f.max;
    s.help = f.help;
    s.defaultValue = defaults.value(f.name, json());
    specs.push_back(s);
  }
  return specs;
}

AugmentEditor::AugmentEditor(QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(0, 0, 0, 0);
  v->setSpacing(4);
  top_ = new ParamForm;
  preset_ = new QComboBox;
  preset_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  preset_->setMinimumContentsLength(8);
  for (const auto& p : augmentPresetNames()) preset_->addItem(QString::fromStdString(p));
  preset_->addItem(kCustom);
  preset_->setObjectName("augment_preset");
  top_->addExtraRow("Preset", preset_,
                    "A named recipe; editing any field below makes it \"custom\" (saved as the "
                    "preset plus the changed fields)");
  v->addWidget(top_);

  based_ = new QLabel;
  based_->setWordWrap(true);
  based_->setStyleSheet("color: #777;");
  v->addWidget(based_);
  note_ = new QLabel;
  note_->setWordWrap(true);
  note_->setStyleSheet("color: #1f5fa8;");
  v->addWidget(note_);

  toggle_ = new QToolButton;
  toggle_->setCheckable(true);
  toggle_->setStyleSheet("QToolButton { border: none; background: transparent; padding: 2px 0; }");
  toggle_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  toggle_->setArrowType(Qt::RightArrow);
  toggle_->setIconSize(QSize(8, 8));
  toggle_->setText(QString("All %1 fields").arg(std::size(kFields)));
  v->addWidget(toggle_);

  form_ = new ParamForm;
  form_->setSpecs(augmentSpecs());
  for (const auto& f : kFields) form_->setLabel(f.name, f.label);
  form_->hide();
  v->addWidget(form_);

  connect(toggle_, &QToolButton::toggled, this, [this](bool on) {
    toggle_->setArrowType(on ? Qt::DownArrow : Qt::RightArrow);
    form_->setVisible(on);
  });
  connect(preset_, qOverload<int>(&QComboBox::activated), this, [this](int i) {
    const QString name = preset_->itemText(i);
    if (name == kCustom) {
      refreshCustom();  // nothing to apply: the fields already are the custom values
      return;
    }
    setNote({});
    setPreset(name.toStdString());
    emit changed();
  });
  connect(form_, &ParamForm::changed, this, [this] {
    refreshCustom();
    emit changed();
  });
  setPreset("none");
}

void AugmentEditor::setPreset(const std::string& preset) {
  base_ = preset;
  explicit_ = json::object();
  form_->setValues(augmentToJson(augmentPreset(preset)));
  refreshCustom();
}

void AugmentEditor::setJson(const json& augment) {
  std::string preset = "none";
  if (augment.is_object() && augment.contains("preset") && augment["preset"].is_string())
    preset = augment["preset"].get<std::string>();
  setPreset(preset);
  if (!augment.is_object()) return;
  json fields = augment;
  fields.erase("preset");
  explicit_ = fields;
  form_->setValues(fields);
  refreshCustom();
}

nlohmann::json AugmentEditor::augmentJson() const {
  nlohmann::json out = {{"preset", base_}};
  const nlohmann::json preset = augmentToJson(augmentPreset(base_));
  const nlohmann::json values = form_->values();
  for (auto it = values.begin(); it != values.end(); ++it)
    if (explicit_.contains(it.key()) || preset.value(it.key(), nlohmann::json()) != it.value())
      out[it.key()] = it.value();
  return out;
}

bool AugmentEditor::valid(QString* why) const { return form_->valid(why); }

QString AugmentEditor::presetShown() const { return preset_->currentText(); }

void AugmentEditor::setNote(const QString& text) {
  note_->setText(text);
  note_->setVisible(!text.isEmpty());
}

void AugmentEditor::setLabelWidth(int pixels) {
  top_->setLabelWidth(pixels);
  form_->setLabelWidth(pixels);
}

int AugmentEditor::naturalLabelWidth() const {
  return std::max(top_->naturalLabelWidth(), form_->naturalLabelWidth());
}

void AugmentEditor::refreshCustom() {
  const nlohmann::json j = augmentJson();
  QStringList changedFields;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "preset") changedFields << QString::fromStdString(it.key());
  const QSignalBlocker block(preset_);
  if (changedFields.isEmpty()) {
    preset_->setCurrentText(QString::fromStdString(base_));
    based_->hide();
  } else {
    preset_->setCurrentText(kCustom);
    based_->setText(QString("Based on \"%1\"; changed: %2")
                        .arg(QString::fromStdString(base_), changedFields.join(", ")));
    based_->show();
  }
}

}  // namespace pretext
