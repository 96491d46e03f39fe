#pragma once
// The experiment panel (left dock): every setting of an Experiment (core/config/experiment.h)
// as a scrollable, sectioned form. Data, method (grouped by family, with its idea, loss and
// paper, and a parameter form generated from its schema), backbone, augmentations, optimiser,
// schedule, evaluation, run. What it shows is exactly the JSON the CLI runs.
#include <QString>
#include <QWidget>
#include <vector>

#include "core/config/experiment.h"

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QComboBox;
class QVBoxLayout;

namespace pretext {

class AugmentEditor;
class CollapsibleSection;
class DataSourcePicker;
class MethodPicker;
class ParamForm;

class ExperimentPanel : public QWidget {
  Q_OBJECT

 public:
  explicit ExperimentPanel(QWidget* parent = nullptr);

  // Shows `e` (a validated experiment, e.g. from loadExperiment or a preset). Emits changed(),
  // and methodChanged() when the method differs from the one shown before.
  void setExperiment(const Experiment& e);
  // What the panel shows, validated; throws pretext::Error naming the field
  // ("optimizer.lr = 500: expected a value in ...") when something is invalid.
  Experiment experiment() const;
  bool valid(QString* why = nullptr) const;

  // Disables every editor while a run trains (the sections still fold and scroll).
  void setLocked(bool locked);
  bool locked() const { return locked_; }

  // Access for the window and tests.
  ParamForm* methodForm() const { return methodForm_; }
  AugmentEditor* augmentEditor() const { return augment_; }
  DataSourcePicker* dataPicker() const { return data_; }
  MethodPicker* methodPicker() const { return method_; }
  ParamForm* form(const QString& section) const;  // "data", "backbone", "optimizer", ...

 signals:
  void changed();  // any edit (and setExperiment)
  void methodChanged(const QString& name);

 private:
  QWidget* buildHeader();
  void buildSections(QVBoxLayout* layout);
  void applyMethod(const QString& name, bool fromUser);
  void updateEnabled();  // fields that only apply to some choices (image size, momentum, ...)
  void updateStatus();
  void onEdited();

  QLineEdit* name_ = nullptr;
  QPlainTextEdit* description_ = nullptr;
  DataSourcePicker* data_ = nullptr;
  MethodPicker* method_ = nullptr;
  QLabel* methodInfo_ = nullptr;
  ParamForm* methodTop_ = nullptr;
  ParamForm* methodForm_ = nullptr;
  AugmentEditor* augment_ = nullptr;
  ParamForm* dataForm_ = nullptr;
  ParamForm* backboneForm_ = nullptr;
  ParamForm* optimizerForm_ = nullptr;
  ParamForm* scheduleForm_ = nullptr;
  ParamForm* evalForm_ = nullptr;
  ParamForm* runForm_ = nullptr;
  QLineEdit* seed_ = nullptr;
  std::string initFrom_;  // model.init_from: kept as the experiment had it (set with --set or JSON)
  QComboBox* device_ = nullptr;
  QLabel* status_ = nullptr;
  std::vector<QWidget*> editors_;  // what setLocked disables
  QString shownMethod_;
  bool locked_ = false;
  bool loading_ = false;
};

}  // namespace pretext
