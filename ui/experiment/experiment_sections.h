#pragma once
// Building blocks of the experiment panel (ui/experiment/experiment_panel.h): a collapsible section, the
// data-source picker, the grouped method picker with its explanation, and the augmentation
// editor (preset + every field). Kept apart so that the panel itself stays short.
#include <QComboBox>
#include <QString>
#include <QWidget>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

class QLabel;
class QToolButton;
class QVBoxLayout;

namespace pretext {

class ParamForm;

// A titled section whose body folds away (the header is a flat arrow button).
class CollapsibleSection : public QWidget {
  Q_OBJECT
 public:
  CollapsibleSection(const QString& title, QWidget* parent = nullptr);
  QVBoxLayout* body() const { return bodyLayout_; }
  QWidget* bodyWidget() const { return body_; }
  void setExpanded(bool expanded);
  bool expanded() const;

 private:
  QToolButton* header_ = nullptr;
  QWidget* body_ = nullptr;
  QVBoxLayout* bodyLayout_ = nullptr;
};

// Data source: the built-in sets and "Browse..." entries that ask for a directory and become
// `cifar10:DIR`, `cifar100:DIR`, `stl10:DIR` or `folder:DIR`. Any other spec set from outside
// (e.g. `mnist:DIR`) is kept as its own entry.
class DataSourcePicker : public QComboBox {
  Q_OBJECT
 public:
  explicit DataSourcePicker(QWidget* parent = nullptr);
  void setSpec(const QString& spec);
  QString spec() const;
  // Asks for a directory (kind = "cifar10", ...); empty = cancelled. Default: QFileDialog.
  // Tests replace it.
  using DirectoryChooser = std::function<QString(const QString& kind, const QString& title)>;
  void setDirectoryChooser(DirectoryChooser chooser) { chooser_ = std::move(chooser); }
  static QString describe(const QString& spec);  // "CIFAR-10 — /data/cifar"
  // What the disabled image-size field shows for a source with a size of its own
  // (sourceImageSize: "28 x 28 px (fixed)" for Fashion-MNIST); empty for folder: and photos:,
  // which take data.image_size.
  static QString ownImageSize(const QString& spec);

 signals:
  void specChanged(const QString& spec);

 private:
  void onActivated(int index);
  int indexOfSpec(const QString& spec) const;
  int addSpec(const QString& spec);
  DirectoryChooser chooser_;
  int last_ = 0;
  int firstBrowse_ = 0;  // index of the first "Browse..." entry
};

// Methods grouped by family: family headers are bold and not selectable.
class MethodPicker : public QComboBox {
  Q_OBJECT
 public:
  explicit MethodPicker(QWidget* parent = nullptr);
  void setMethod(const QString& name);
  QString method() const;
  static QString infoHtml(const std::string& name);  // title, family, idea, loss, paper
};

// Fills `form` with the fields of one Experiment JSON section ("data", "backbone", "optimizer",
// "schedule", "eval", "run"; the custom rows such as data.source and run.seed are the panel's),
// with ranges as experimentFromJson checks them and defaults from Experiment{}.
void fillSectionForm(ParamForm* form, const std::string& section);

}  // namespace pretext
