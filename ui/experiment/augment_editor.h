#pragma once
// The augmentation section of the experiment panel: a preset and every field of
// augmentToJson (core/augment/augment.h) as a form.
#include <QString>
#include <QWidget>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

class QComboBox;
class QLabel;
class QToolButton;

namespace pretext {

class ParamForm;
struct ParamSpec;

// The augmentation preset plus each field of augmentToJson as a form. Editing a field makes
// the preset "custom"; augmentJson() is {"preset": BASE, fields that differ from BASE, ...}.
class AugmentEditor : public QWidget {
  Q_OBJECT
 public:
  explicit AugmentEditor(QWidget* parent = nullptr);
  void setJson(const nlohmann::json& augment);  // as in Experiment::augment (validated)
  nlohmann::json augmentJson() const;
  bool valid(QString* why) const;
  void setPreset(const std::string& preset);  // resets the fields to the preset
  QString presetShown() const;                // the combo's text ("custom" after edits)
  void setNote(const QString& text);          // e.g. "switched to simclr for SimCLR"
  void setLabelWidth(int pixels);
  int naturalLabelWidth() const;
  ParamForm* form() const { return form_; }

 signals:
  void changed();

 private:
  void refreshCustom();
  QComboBox* preset_ = nullptr;
  QLabel* note_ = nullptr;
  QLabel* based_ = nullptr;
  QToolButton* toggle_ = nullptr;
  ParamForm* form_ = nullptr;
  ParamForm* top_ = nullptr;
  std::string base_ = "none";
  nlohmann::json explicit_ = nlohmann::json::object();  // overrides given by setJson
};

// The fields of augmentToJson with ranges and help, in the order of AugmentOptions.
std::vector<ParamSpec> augmentSpecs();

}  // namespace pretext
