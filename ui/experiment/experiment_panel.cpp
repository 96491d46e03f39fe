#include "ui/experiment/experiment_panel.h"

#include <QSpinBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QIcon>
#include <QLabel>
#include <QLineEdit>
#include <QPainter>
#include <QPixmap>
#include <QPlainTextEdit>
#include <QRandomGenerator>
#include <QRegularExpressionValidator>
#include <QScrollArea>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>

#include "core/methods/registry.h"
#include "core/util/error.h"
#include "ui/experiment/augment_editor.h"
#include "ui/experiment/experiment_sections.h"
#include "ui/widgets/param_form.h"

namespace pretext {
using json = nlohmann::json;

namespace {

// A die face for the "random seed" button (emoji fonts are not everywhere).
QIcon diceIcon() {
  QPixmap pm(32, 32);
  pm.fill(Qt::transparent);
  QPainter p(&pm);
  p.setRenderHint(QPainter::Antialiasing);
  p.setPen(QPen(QColor(70, 70, 70), 2));
  p.setBrush(Qt::white);
  p.drawRoundedRect(QRectF(3, 3, 26, 26), 6, 6);
  p.setPen(Qt::NoPen);
  p.setBrush(QColor(40, 40, 40));
  for (const QPointF c :
       {QPointF(10, 10), QPointF(22, 10), QPointF(16, 16), QPointF(10, 22), QPointF(22, 22)})
    p.drawEllipse(c, 2.6, 2.6);
  return QIcon(pm);
}

void requireValid(const char* section, const ParamForm* form) {
  QString why;
  if (!form->valid(&why)) throw Error(std::string(section) + "." + why.toStdString());
}

}  // namespace

ExperimentPanel::ExperimentPanel(QWidget* parent) : QWidget(parent) {
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->setSpacing(0);
  auto* scroll = new QScrollArea;
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  auto* content = new QWidget;
  auto* v = new QVBoxLayout(content);
  v->setContentsMargins(8, 8, 8, 8);
  v->setSpacing(8);
  v->addWidget(buildHeader());
  buildSections(v);
  v->addStretch(1);
  scroll->setWidget(content);
  outer->addWidget(scroll, 1);

  status_ = new QLabel;
  status_->setWordWrap(true);
  status_->setObjectName("experiment_status");
  status_->setStyleSheet(
      "QLabel { color: #8a1010; background: #fdecec; border-top: 1px solid #e0b0b0; "
      "padding: 5px 8px; }");
  status_->hide();
  outer->addWidget(status_);

  // Width of the label column shared by every form, so stacked sections line up.
  // (Method forms are rebuilt per method: their labels get the same width, never wider ones.)
  const std::initializer_list<ParamForm*> forms = {
      methodTop_, dataForm_, backboneForm_, optimizerForm_, scheduleForm_, evalForm_, runForm_};
  int labelWidth = augment_->naturalLabelWidth();
  for (ParamForm* f : forms) labelWidth = std::max(labelWidth, f->naturalLabelWidth());
  for (ParamForm* f : forms) f->setLabelWidth(labelWidth);
  methodForm_->setLabelWidth(labelWidth);
  augment_->setLabelWidth(labelWidth);
  // The header sits outside the sections' indent: widen its labels so the fields line up.
  qobject_cast<ParamForm*>(editors_.front())->setLabelWidth(labelWidth + 8);

  for (QComboBox* combo : {static_cast<QComboBox*>(data_), static_cast<QComboBox*>(method_),
                           device_, augment_->findChild<QComboBox*>("augment_preset")})
    ParamForm::guardWheel(combo);
  // Zero means "no limit" or "off" for these counts: say so instead of showing 0.
  const std::vector<std::tuple<ParamForm*, const char*, QString>> zeroMeans = {
      {dataForm_, "limit", tr("all")},           {scheduleForm_, "steps", tr("use epochs")},
      {evalForm_, "knn_train_limit", tr("all")}, {evalForm_, "knn_test_limit", tr("all")},
      {evalForm_, "knn_every", tr("off")},       {runForm_, "threads", tr("every core")},
      {runForm_, "checkpoint_every", tr("every epoch")}};
  for (const auto& [form, field, text] : zeroMeans)
    if (auto* spin = qobject_cast<QSpinBox*>(form->editor(field))) spin->setSpecialValueText(text);
  setExperiment(Experiment());
}

QWidget* ExperimentPanel::buildHeader() {
  auto* form = new ParamForm;
  name_ = new QLineEdit;
  name_->setObjectName("experiment_name");
  name_->setPlaceholderText("experiment name");
  description_ = new QPlainTextEdit;
  description_->setObjectName("experiment_description");
  description_->setPlaceholderText("what this run tries (optional)");
  description_->setTabChangesFocus(true);
  description_->setFixedHeight(fontMetrics().lineSpacing() * 4 + 10);
  form->addExtraRow("Name", name_, "Used for the run folder and in comparisons");
  form->addExtraRow("Description", description_);
  connect(name_, &QLineEdit::textEdited, this, &ExperimentPanel::onEdited);
  connect(description_, &QPlainTextEdit::textChanged, this, &ExperimentPanel::onEdited);
  editors_.push_back(form);
  return form;
}

void ExperimentPanel::buildSections(QVBoxLayout* layout) {
  auto section = [&](const QString& title) {
    auto* s = new CollapsibleSection(title);
    layout->addWidget(s);
    editors_.push_back(s->bodyWidget());
    return s;
  };
  auto sectionForm = [&](CollapsibleSection* s, const char* name) {
    auto* f = new ParamForm;
    fillSectionForm(f, name);
    s->body()->addWidget(f);
    connect(f, &ParamForm::changed, this, &ExperimentPanel::onEdited);
    return f;
  };

  // Data.
  auto* data = section("Data");
  data_ = new DataSourcePicker;
  data_->setObjectName("data_source");
  dataForm_ = new ParamForm;
  dataForm_->addExtraRow("Source", data_,
                         "Built-in Fashion-MNIST, colour photos, or browse to a data set");
  fillSectionForm(dataForm_, "data");
  data->body()->addWidget(dataForm_);
  connect(dataForm_, &ParamForm::changed, this, &ExperimentPanel::onEdited);
  connect(data_, &DataSourcePicker::specChanged, this, &ExperimentPanel::onEdited);

  // Method: picker, explanation, generated parameter form.
  auto* method = section("Method");
  method_ = new MethodPicker;
  method_->setObjectName("method");
  methodTop_ = new ParamForm;
  methodTop_->addExtraRow("Method", method_, "Self-supervised methods, grouped by family");
  method->body()->addWidget(methodTop_);
  methodInfo_ = new QLabel;
  methodInfo_->setObjectName("method_info");
  methodInfo_->setWordWrap(true);
  methodInfo_->setTextFormat(Qt::RichText);
  methodInfo_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  methodInfo_->setStyleSheet(
      "QLabel#method_info { background: palette(alternate-base); border: 1px solid "
      "palette(mid); border-radius: 4px; padding: 6px; }");
  method->body()->addWidget(methodInfo_);
  methodForm_ = new ParamForm;
  methodForm_->setObjectName("method_params");
  method->body()->addWidget(methodForm_);
  connect(methodForm_, &ParamForm::changed, this, &ExperimentPanel::onEdited);
  connect(method_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    if (!loading_ && method_->method() != shownMethod_) applyMethod(method_->method(), true);
  });

  backboneForm_ = sectionForm(section("Backbone"), "backbone");

  auto* aug = section("Augmentations");
  augment_ = new AugmentEditor;
  aug->body()->addWidget(augment_);
  connect(augment_, &AugmentEditor::changed, this, &ExperimentPanel::onEdited);

  optimizerForm_ = sectionForm(section("Optimiser"), "optimizer");
  scheduleForm_ = sectionForm(section("Schedule and budget"), "schedule");
  evalForm_ = sectionForm(section("Evaluation"), "eval");

  // Run: seed with a dice button, device, then the generated rest.
  auto* run = section("Run");
  auto* seedRow = new QWidget;
  auto* h = new QHBoxLayout(seedRow);
  h->setContentsMargins(0, 0, 0, 0);
  h->setSpacing(4);
  seed_ = new QLineEdit;
  seed_->setObjectName("seed");
  seed_->setValidator(new QRegularExpressionValidator(QRegularExpression("\\d{0,20}"), seed_));
  auto* dice = new QToolButton;
  dice->setObjectName("seed_dice");
  dice->setIcon(diceIcon());
  dice->setToolTip("Draw a random seed");
  h->addWidget(seed_, 1);
  h->addWidget(dice);
  device_ = new QComboBox;
  device_->setObjectName("device");
  device_->setEditable(true);
  device_->addItems({"auto", "cpu", "cuda"});
  device_->setValidator(
      new QRegularExpressionValidator(QRegularExpression("auto|cpu|cuda(:\\d{1,2})?"), device_));
  runForm_ = new ParamForm;
  runForm_->addExtraRow("Seed", seedRow, "Same seed, same run: data order, augmentations, init");
  runForm_->addExtraRow(
      "Device", device_,
      "auto = the first CUDA device if there is one, else the CPU; cuda:N picks a GPU");
  fillSectionForm(runForm_, "run");
  run->body()->addWidget(runForm_);
  connect(runForm_, &ParamForm::changed, this, &ExperimentPanel::onEdited);
  connect(seed_, &QLineEdit::textEdited, this, &ExperimentPanel::onEdited);
  connect(device_, &QComboBox::currentTextChanged, this, &ExperimentPanel::onEdited);
  connect(dice, &QToolButton::clicked, this, [this] {
    seed_->setText(QString::number(QRandomGenerator::global()->generate()));
    onEdited();
  });
}

void ExperimentPanel::applyMethod(const QString& name, bool fromUser) {
  const std::string n = name.toStdString();
  if (!MethodRegistry::instance().has(n)) return;
  const MethodInfo& info = MethodRegistry::instance().get(n);
  shownMethod_ = name;
  methodInfo_->setText(MethodPicker::infoHtml(n));
  methodForm_->setSpecs(info.params);
  methodForm_->setVisible(!info.params.empty());
  if (!fromUser) return;
  augment_->setPreset(info.defaultAugment);
  QString note = QString("Augmentations switched to \"%1\", the default for %2.")
                     .arg(QString::fromStdString(info.defaultAugment), QString::fromStdString(info.title));
  // A method that cannot do without a backbone (MAE: the vit) gets it.
  json backbone = backboneForm_->values();
  if (!info.requiredBackbone.empty() && backbone.value("name", "") != info.requiredBackbone) {
    backbone["name"] = info.requiredBackbone;
    backboneForm_->setValues(backbone);
    note += QString(" Backbone switched to %1, which %2 needs.")
                .arg(QString::fromStdString(info.requiredBackbone), QString::fromStdString(info.title));
  }
  const QString spec = data_->spec();
  const bool clipSource = spec == "moving-fashion" || spec.startsWith("video:");
  if (info.clips && !clipSource) {
    data_->setSpec("moving-fashion");  // the built-in video
    note += " It trains on video clips: data switched to the built-in moving-fashion video.";
  } else if (info.needsColour && (spec == "fashion-mnist" || spec.startsWith("mnist:"))) {
    data_->setSpec("photos:/usr/share/backgrounds");  // the built-in colour source
    note += " It needs colour images: data switched to the colour photos.";
  }
  augment_->setNote(note);
  onEdited();
  emit methodChanged(name);
}

void ExperimentPanel::setExperiment(const Experiment& e) {
  const QString before = shownMethod_;
  loading_ = true;
  const json j = experimentToJson(e);
  name_->setText(QString::fromStdString(e.name));
  description_->setPlainText(QString::fromStdString(e.description));
  data_->setSpec(QString::fromStdString(e.data));
  dataForm_->setValues(j["data"]);
  method_->setMethod(QString::fromStdString(e.method));
  applyMethod(QString::fromStdString(e.method), false);
  methodForm_->setValues(e.methodParams);
  backboneForm_->setValues(j["backbone"]);
  initFrom_ = e.initFrom;
  augment_->setJson(e.augment.is_null()
                        ? json{{"preset", MethodRegistry::instance().get(e.method).defaultAugment}}
                        : e.augment);
  augment_->setNote({});
  optimizerForm_->setValues(j["optimizer"]);
  scheduleForm_->setValues(j["schedule"]);
  evalForm_->setValues(j["eval"]);
  runForm_->setValues(j["run"]);
  seed_->setText(QString::number(e.seed));
  device_->setCurrentText(QString::fromStdString(e.device));
  loading_ = false;
  updateEnabled();
  updateStatus();
  emit changed();
  if (shownMethod_ != before) emit methodChanged(shownMethod_);
}

Experiment ExperimentPanel::experiment() const {
  requireValid("data", dataForm_);
  requireValid("method.params", methodForm_);
  requireValid("backbone", backboneForm_);
  QString why;
  if (!augment_->valid(&why)) throw Error("augment." + why.toStdString());
  requireValid("optimizer", optimizerForm_);
  requireValid("schedule", scheduleForm_);
  requireValid("eval", evalForm_);
  requireValid("run", runForm_);
  bool ok = false;
  const qulonglong seed = seed_->text().toULongLong(&ok);
  if (!ok)
    throw Error("run.seed = \"" + seed_->text().toStdString() +
                "\": expected a whole number >= 0 (the dice button draws one)");

  json j;
  j["name"] = name_->text().toStdString();
  j["description"] = description_->toPlainText().toStdString();
  j["data"] = dataForm_->values();
  j["data"]["source"] = data_->spec().toStdString();
  j["method"] = {{"name", method_->method().toStdString()}, {"params", methodForm_->values()}};
  j["backbone"] = backboneForm_->values();
  if (!initFrom_.empty()) j["model"] = {{"init_from", initFrom_}};
  j["augment"] = augment_->augmentJson();
  j["optimizer"] = optimizerForm_->values();
  j["schedule"] = scheduleForm_->values();
  j["eval"] = evalForm_->values();
  j["run"] = runForm_->values();
  j["run"]["seed"] = static_cast<uint64_t>(seed);
  j["run"]["device"] = device_->currentText().toStdString();
  return experimentFromJson(j);
}

bool ExperimentPanel::valid(QString* why) const {
  try {
    experiment();
    return true;
  } catch (const std::exception& err) {
    if (why) *why = QString::fromStdString(err.what());
    return false;
  }
}

void ExperimentPanel::setLocked(bool locked) {
  locked_ = locked;
  for (QWidget* w : editors_) w->setEnabled(!locked);
}

ParamForm* ExperimentPanel::form(const QString& section) const {
  if (section == "data") return dataForm_;
  if (section == "method") return methodForm_;
  if (section == "backbone") return backboneForm_;
  if (section == "augment") return augment_->form();
  if (section == "optimizer") return optimizerForm_;
  if (section == "schedule") return scheduleForm_;
  if (section == "eval") return evalForm_;
  if (section == "run") return runForm_;
  return nullptr;
}

void ExperimentPanel::updateEnabled() {
  const QString spec = data_->spec();
  const QString ownSize = DataSourcePicker::ownImageSize(spec);
  dataForm_->setFieldEnabled("image_size", ownSize.isEmpty(), ownSize);
  const std::string opt = optimizerForm_->values().value("name", std::string("adam"));
  const bool sgdLike = opt == "sgd" || opt == "lars";
  optimizerForm_->setFieldEnabled("momentum", sgdLike);
  optimizerForm_->setFieldEnabled("nesterov", sgdLike);
  optimizerForm_->setFieldEnabled("lars_eta", opt == "lars");
  const bool adamLike = opt == "adam" || opt == "adamw";
  optimizerForm_->setFieldEnabled("beta1", adamLike);
  optimizerForm_->setFieldEnabled("beta2", adamLike);
}

void ExperimentPanel::updateStatus() {
  QString why;
  const bool ok = valid(&why);
  status_->setText(ok ? QString() : why);
  status_->setVisible(!ok);
}

void ExperimentPanel::onEdited() {
  if (loading_) return;
  updateEnabled();
  updateStatus();
  emit changed();
}

}  // namespace pretext
