#pragma once
// A form generated from a parameter schema (core/methods/registry.h ParamSpec): the method
// parameters of the experiment panel, and any other schema-like settings (optimiser, schedule,
// augmentations). Int -> spin box, Float -> a line edit that accepts the whole range (1e-5 as
// well as 5000), Bool -> check box, Choice -> combo box. Out-of-range or malformed entries are
// not applied: the field gets a red border and the reason appears under it.
#include <QString>
#include <QWidget>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

class QFormLayout;
class QLabel;

namespace pretext {

struct ParamSpec;  // core/methods/registry.h (kept out of this header: it pulls in LibTorch)

class ParamForm : public QWidget {
  Q_OBJECT

 public:
  explicit ParamForm(QWidget* parent = nullptr);
  ~ParamForm() override;

  // Rebuilds the fields (rows added with addExtraRow stay on top); values become the defaults.
  void setSpecs(const std::vector<ParamSpec>& specs);
  const std::vector<ParamSpec>& specs() const { return specs_; }

  // Sets the fields named in `values` (an object); others keep their value, unknown keys are
  // ignored. Emits no changed().
  void setValues(const nlohmann::json& values);
  // Every field's last valid value: {"name": value, ...} typed as the schema says.
  nlohmann::json values() const;
  // False while a field holds an entry that was refused; `why` gets
  // "temperature = 50: expected a value in [0.01, 10]".
  bool valid(QString* why = nullptr) const;

  // Presentation: a label other than the generated one ("weight_decay" -> "Weight decay"),
  // a field that is shown but not editable, a fixed label column (to align stacked forms).
  void setLabel(const std::string& name, const QString& text);
  // A disabled field with a `shown` text shows that text in its editor's place (the value a
  // setting takes where the field does not apply); the editor and its value come back with it.
  void setFieldEnabled(const std::string& name, bool enabled, const QString& shown = {});
  void setLabelWidth(int pixels);
  int naturalLabelWidth() const;  // the widest label's size hint
  // A row of the caller's own (e.g. a combo with a browse button) above the generated fields.
  void addExtraRow(const QString& label, QWidget* field, const QString& toolTip = {});

  QWidget* editor(const std::string& name) const;       // the input widget (tests, focus)
  QString errorText(const std::string& name) const;     // the inline reason, empty if none
  static QString prettyLabel(const std::string& name);  // "proj_dim" -> "Proj dim"
  static QString formatNumber(double v);                // shortest text that reads back as v
  // Spin boxes and combos in a scrolled form must not change value when the wheel scrolls
  // the form past them: they take the wheel only once focused (clicked or tabbed into).
  static void guardWheel(QWidget* editor);

 signals:
  void changed();

 private:
  struct Field;
  Field* find(const std::string& name) const;
  void buildField(Field& f);
  void check(Field& f);  // re-reads a float/int entry, marks or clears the error

  QFormLayout* layout_ = nullptr;
  std::vector<ParamSpec> specs_;
  std::vector<Field*> fields_;  // owned; parallel to specs_
  int extraRows_ = 0;
  int labelWidth_ = 0;
};

}  // namespace pretext
