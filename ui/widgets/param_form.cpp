#include "ui/widgets/param_form.h"

#include <QCheckBox>
#include <QComboBox>
#include <QCoreApplication>
#include <QEvent>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMap>
#include <QRegularExpressionValidator>
#include <QSpinBox>
#include <QVBoxLayout>
#include <algorithm>
#include <climits>
#include <cmath>

#include "core/methods/registry.h"

namespace pretext {
namespace {

// A spin box that lets an out-of-range integer stay in the editor (as Intermediate) instead of
// swallowing the keystroke, so the form can say why it is refused; focus-out still reverts it.
class IntSpin : public QSpinBox {
 public:
  using QSpinBox::lineEdit;  // its textChanged also reports entries the spin box holds back
  using QSpinBox::QSpinBox;

 protected:
  QValidator::State validate(QString& text, int& pos) const override {
    const QValidator::State s = QSpinBox::validate(text, pos);
    if (s != QValidator::Invalid) return s;
    bool ok = false;
    text.trimmed().toLongLong(&ok);
    return ok ? QValidator::Intermediate : s;
  }
};

// Passes wheel events of unfocused editors on to the parent (ultimately the scroll area).
class WheelGuard : public QObject {
 public:
  using QObject::QObject;
  bool eventFilter(QObject* watched, QEvent* event) override {
    auto* w = qobject_cast<QWidget*>(watched);
    if (event->type() != QEvent::Wheel || !w || w->hasFocus() || !w->parentWidget()) return false;
    QCoreApplication::sendEvent(w->parentWidget(), event);
    return true;
  }
};

int clampInt(double v) {
  return static_cast<int>(std::max<double>(INT_MIN, std::min<double>(INT_MAX, v)));
}

const char* kErrorStyle = "border: 1px solid #d03030; border-radius: 2px; padding: 1px;";

}  // namespace

struct ParamForm::Field {
  size_t index = 0;  // into specs_
  QLabel* label = nullptr;
  QWidget* row = nullptr;  // editor + inline reason
  QLineEdit* line = nullptr;
  IntSpin* spin = nullptr;
  QCheckBox* check = nullptr;
  QComboBox* combo = nullptr;
  QLabel* error = nullptr;
  QLabel* fixed = nullptr;  // shown in the editor's place while disabled with a text (lazily made)
  double value = 0;         // Float: the last accepted value
  QString reason;           // empty when the entry is accepted
};

ParamForm::ParamForm(QWidget* parent) : QWidget(parent) {
  layout_ = new QFormLayout(this);
  layout_->setContentsMargins(0, 0, 0, 0);
  layout_->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  layout_->setRowWrapPolicy(QFormLayout::DontWrapRows);
  layout_->setLabelAlignment(Qt::AlignLeft | Qt::AlignVCenter);
  layout_->setHorizontalSpacing(10);
  layout_->setVerticalSpacing(5);
}

ParamForm::~ParamForm() {
  for (Field* f : fields_) delete f;
}

QString ParamForm::prettyLabel(const std::string& name) {
  // "proj_bn" -> "Proj BN": words joined by spaces, the usual abbreviations in their usual case.
  static const QMap<QString, QString> abbreviations = {
      {"bn", "BN"}, {"lr", "LR"}, {"knn", "kNN"}, {"mlp", "MLP"}, {"ema", "EMA"}, {"id", "ID"}};
  QStringList words = QString::fromStdString(name).split('_', Qt::SkipEmptyParts);
  for (QString& w : words) w = abbreviations.value(w, w);
  QString s = words.join(' ');
  if (!s.isEmpty() && !abbreviations.values().contains(words.front())) s[0] = s[0].toUpper();
  return s;
}

QString ParamForm::formatNumber(double v) {
  // Plain decimals for everyday magnitudes (10, 5000, 0.002), exponents for the rest (1e-05).
  const double a = std::fabs(v);
  if (a == 0 || (a >= 1e-4 && a < 1e7)) {
    for (int decimals = 0; decimals <= 17; ++decimals) {
      const QString s = QString::number(v, 'f', decimals);
      if (s.toDouble() == v) return s;
    }
  }
  for (int precision = 1; precision <= 17; ++precision) {
    const QString s = QString::number(v, 'g', precision);
    if (s.toDouble() == v) return s;
  }
  return QString::number(v, 'g', 17);
}

void ParamForm::guardWheel(QWidget* editor) {
  static WheelGuard* guard = new WheelGuard(QCoreApplication::instance());
  editor->setFocusPolicy(Qt::StrongFocus);
  editor->installEventFilter(guard);
}

void ParamForm::setSpecs(const std::vector<ParamSpec>& specs) {
  while (layout_->rowCount() > extraRows_) layout_->removeRow(extraRows_);
  for (Field* f : fields_) delete f;
  fields_.clear();
  specs_ = specs;
  for (size_t i = 0; i < specs_.size(); ++i) {
    auto* f = new Field;
    f->index = i;
    fields_.push_back(f);
    buildField(*f);
  }
}

void ParamForm::buildField(Field& f) {
  const ParamSpec& s = specs_[f.index];
  QString tip = QString("<b>%1</b>").arg(QString::fromStdString(s.name));
  if (!s.help.empty()) tip += " &mdash; " + QString::fromStdString(s.help).toHtmlEscaped();
  QString range;
  switch (s.type) {
    case ParamSpec::Type::Float:
      range = QString("a number in [%1, %2]").arg(formatNumber(s.min), formatNumber(s.max));
      break;
    case ParamSpec::Type::Int:
      range = QString("an integer in [%1, %2]").arg(formatNumber(s.min), formatNumber(s.max));
      break;
    case ParamSpec::Type::Bool:
      range = "on or off";
      break;
    case ParamSpec::Type::Choice: {
      QStringList c;
      for (const auto& x : s.choices) c << QString::fromStdString(x);
      range = "one of " + c.join(", ");
      break;
    }
  }
  QString def = QString::fromStdString(s.defaultValue.dump());
  if (s.type == ParamSpec::Type::Float && s.defaultValue.is_number())
    def = formatNumber(s.defaultValue.get<double>());
  tip += QString("<br>%1; default %2").arg(range, def.remove('"'));

  f.row = new QWidget;
  auto* v = new QVBoxLayout(f.row);
  v->setContentsMargins(0, 0, 0, 0);
  v->setSpacing(1);
  QWidget* editor = nullptr;
  switch (s.type) {
    case ParamSpec::Type::Float: {
      f.line = new QLineEdit;
      // Characters of a number only; range and form are checked (and explained) by check().
      f.line->setValidator(
          new QRegularExpressionValidator(QRegularExpression("[-+0-9.eE]*"), f.line));
      connect(f.line, &QLineEdit::textEdited, this, [this, &f] {
        check(f);
        emit changed();
      });
      editor = f.line;
      break;
    }
    case ParamSpec::Type::Int: {
      f.spin = new IntSpin;
      f.spin->setRange(clampInt(s.min), clampInt(s.max));
      f.spin->setKeyboardTracking(true);
      connect(f.spin->lineEdit(), &QLineEdit::textChanged, this, [this, &f] { check(f); });
      connect(f.spin, qOverload<int>(&QSpinBox::valueChanged), this, [this] { emit changed(); });
      editor = f.spin;
      break;
    }
    case ParamSpec::Type::Bool:
      f.check = new QCheckBox;
      connect(f.check, &QCheckBox::toggled, this, [this] { emit changed(); });
      editor = f.check;
      break;
    case ParamSpec::Type::Choice:
      f.combo = new QComboBox;
      f.combo->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
      f.combo->setMinimumContentsLength(6);
      for (const auto& c : s.choices) f.combo->addItem(QString::fromStdString(c));
      connect(f.combo, qOverload<int>(&QComboBox::currentIndexChanged), this,
              [this] { emit changed(); });
      editor = f.combo;
      break;
  }
  editor->setObjectName(QString::fromStdString(s.name));
  if (f.spin || f.combo) guardWheel(editor);
  editor->setToolTip(tip);
  v->addWidget(editor);
  f.error = new QLabel;
  f.error->setWordWrap(true);
  f.error->setStyleSheet("color: #c02020;");
  f.error->hide();
  v->addWidget(f.error);

  f.label = new QLabel(prettyLabel(s.name));
  f.label->setToolTip(tip);
  if (labelWidth_ > 0) f.label->setMinimumWidth(labelWidth_);
  layout_->addRow(f.label, f.row);

  QSignalBlocker block(this);
  setValues(nlohmann::json{{s.name, s.defaultValue}});
}

void ParamForm::check(Field& f) {
  const ParamSpec& s = specs_[f.index];
  QString reason;
  const auto range = [&](const char* what) {
    return QString("expected %1 in [%2, %3]").arg(what, formatNumber(s.min), formatNumber(s.max));
  };
  if (f.line) {
    const QString text = f.line->text().trimmed();
    bool ok = false;
    const double v = QLocale::c().toDouble(text, &ok);
    if (!ok || !std::isfinite(v))
      reason = QString("\"%1\": expected a number, e.g. 0.5 or 1e-4").arg(text);
    else if (v < s.min || v > s.max)
      reason = text + ": " + range("a value");
    else
      f.value = v;
  } else if (f.spin) {
    const QString text = f.spin->text().trimmed();
    bool ok = false;
    // A special value text ("all", "off") stands for the minimum.
    const bool special =
        !f.spin->specialValueText().isEmpty() && text == f.spin->specialValueText();
    const qlonglong v = special ? f.spin->minimum() : text.toLongLong(&ok);
    ok = ok || special;
    if (!ok)
      reason = QString("\"%1\": expected a whole number").arg(text);
    else if (v < s.min || v > s.max)
      reason = text + ": " + range("an integer");
  }
  f.reason = reason.isEmpty() ? QString() : QString::fromStdString(s.name) + " = " + reason;
  QWidget* editor = f.line ? static_cast<QWidget*>(f.line) : f.spin;
  if (!editor) return;
  editor->setStyleSheet(reason.isEmpty() ? QString() : QString(kErrorStyle));
  f.error->setText(reason.isEmpty() ? QString() : reason);
  f.error->setVisible(!reason.isEmpty());
}

void ParamForm::setValues(const nlohmann::json& values) {
  if (!values.is_object()) return;
  for (Field* f : fields_) {
    const ParamSpec& s = specs_[f->index];
    if (!values.contains(s.name)) continue;
    const nlohmann::json& v = values.at(s.name);
    if (f->line && v.is_number()) {
      f->value = v.get<double>();
      const QSignalBlocker b(f->line);
      f->line->setText(formatNumber(f->value));
      check(*f);
    } else if (f->spin && v.is_number()) {
      const QSignalBlocker b(f->spin);
      f->spin->setValue(clampInt(v.get<double>()));
      check(*f);
    } else if (f->check && v.is_boolean()) {
      const QSignalBlocker b(f->check);
      f->check->setChecked(v.get<bool>());
    } else if (f->combo && v.is_string()) {
      const QSignalBlocker b(f->combo);
      const int i = f->combo->findText(QString::fromStdString(v.get<std::string>()));
      if (i >= 0) f->combo->setCurrentIndex(i);
    }
  }
}

nlohmann::json ParamForm::values() const {
  nlohmann::json out = nlohmann::json::object();
  for (const Field* f : fields_) {
    const std::string& name = specs_[f->index].name;
    if (f->line)
      out[name] = f->value;
    else if (f->spin)
      out[name] = static_cast<int64_t>(f->spin->value());
    else if (f->check)
      out[name] = f->check->isChecked();
    else if (f->combo)
      out[name] = f->combo->currentText().toStdString();
  }
  return out;
}

bool ParamForm::valid(QString* why) const {
  for (const Field* f : fields_) {
    if (f->reason.isEmpty()) continue;
    if (why) *why = f->reason;
    return false;
  }
  return true;
}

ParamForm::Field* ParamForm::find(const std::string& name) const {
  for (Field* f : fields_)
    if (specs_[f->index].name == name) return f;
  return nullptr;
}

void ParamForm::setLabel(const std::string& name, const QString& text) {
  if (Field* f = find(name)) f->label->setText(text);
}

void ParamForm::setFieldEnabled(const std::string& name, bool enabled, const QString& shown) {
  Field* f = find(name);
  if (!f) return;
  f->row->setEnabled(enabled);
  f->label->setEnabled(enabled);
  const bool showText = !enabled && !shown.isEmpty();
  if (showText && !f->fixed) {
    f->fixed = new QLabel;
    f->fixed->setObjectName(QString::fromStdString(specs_[f->index].name) + "_fixed");
    f->fixed->setToolTip(f->label->toolTip());
    static_cast<QVBoxLayout*>(f->row->layout())->insertWidget(0, f->fixed);
  }
  if (f->fixed) {
    f->fixed->setText(shown);
    f->fixed->setVisible(showText);
  }
  editor(name)->setVisible(!showText);
}

void ParamForm::setLabelWidth(int pixels) {
  labelWidth_ = pixels;
  for (int r = 0; r < layout_->rowCount(); ++r)
    if (auto* item = layout_->itemAt(r, QFormLayout::LabelRole))
      if (QWidget* w = item->widget()) w->setMinimumWidth(pixels);
}

int ParamForm::naturalLabelWidth() const {
  int w = 0;
  for (int r = 0; r < layout_->rowCount(); ++r)
    if (auto* item = layout_->itemAt(r, QFormLayout::LabelRole))
      if (QWidget* label = item->widget()) w = std::max(w, label->sizeHint().width());
  return w;
}

void ParamForm::addExtraRow(const QString& label, QWidget* field, const QString& toolTip) {
  auto* l = new QLabel(label);
  if (labelWidth_ > 0) l->setMinimumWidth(labelWidth_);
  if (!toolTip.isEmpty()) {
    l->setToolTip(toolTip);
    field->setToolTip(toolTip);
  }
  layout_->insertRow(extraRows_++, l, field);
}

QWidget* ParamForm::editor(const std::string& name) const {
  Field* f = find(name);
  if (!f) return nullptr;
  if (f->line) return f->line;
  if (f->spin) return f->spin;
  if (f->check) return f->check;
  return f->combo;
}

QString ParamForm::errorText(const std::string& name) const {
  Field* f = find(name);
  return f ? f->reason : QString();
}

}  // namespace pretext
