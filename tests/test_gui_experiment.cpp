// The experiment panel and the schema-generated parameter form: widget kinds, ranges,
// tooltips, refusal of invalid entries, round trips through the panel and through a file.
#include "test_main.h"
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QSignalSpy>
#include <QSpinBox>
#include <QToolButton>
#include <QtTest>

#include "core/augment/augment.h"
#include "core/config/experiment.h"
#include "core/methods/registry.h"
#include "core/util/error.h"
#include "test_support.h"
#include "ui/experiment/augment_editor.h"
#include "ui/experiment/experiment_panel.h"
#include "ui/experiment/experiment_sections.h"
#include "ui/widgets/param_form.h"

using namespace pretext;
using json = nlohmann::json;
Q_DECLARE_METATYPE(json)

namespace {

std::vector<ParamSpec> handMadeSchema() {
  using T = ParamSpec::Type;
  return {
      {"temperature", T::Float, 0.5, 0.01, 10.0, {}, "softmax temperature"},
      {"proj_dim", T::Int, 128, 2, 4096, {}, "projection size"},
      {"use_bn", T::Bool, true, 0, 0, {}, "batch norm in the head"},
      {"head", T::Choice, "mlp", 0, 0, {"linear", "mlp"}, "classifier kind"},
      {"lr", T::Float, 1e-3, 1e-6, 1e4, {}, "learning rate"},
  };
}

// Types `text` into a form's editor the way a user does (replacing what is there).
void typeInto(QWidget* editor, const QString& text) {
  if (auto* line = qobject_cast<QLineEdit*>(editor)) line->selectAll();
  if (auto* spin = qobject_cast<QSpinBox*>(editor)) spin->selectAll();
  QTest::keyClicks(editor, text);
}

// An experiment in which every field differs from Experiment{} (catches fields the panel drops).
Experiment everythingChanged() {
  json j = experimentToJson(Experiment());
  j["name"] = "all-changed";
  j["description"] = "line one\nline two";
  j["data"] = {{"source", "cifar10:/tmp/nowhere"}, {"image_size", 48}, {"limit", 1234}};
  j["method"] = {{"name", "rotation"}, {"params", {{"head", "linear"}, {"all_rotations", false}}}};
  j["backbone"] = {
      {"name", "resnet18"}, {"width", 16}, {"patch_size", 7}, {"depth", 3}, {"heads", 2}};
  j["augment"] = {{"preset", "weak"}, {"flip_prob", 0.5}, {"noise_std", 0.05}};
  j["optimizer"] = {{"name", "lars"},         {"lr", 0.3},
                    {"momentum", 0.95},       {"nesterov", true},
                    {"weight_decay", 1.5e-6}, {"exclude_bias_norm", false},
                    {"grad_clip", 2.5},       {"lars_eta", 0.02}};
  j["schedule"] = {{"epochs", 7},
                   {"steps", 321},
                   {"batch_size", 64},
                   {"warmup_epochs", 0.3},
                   {"lr_schedule", "constant"}};
  j["eval"] = {{"knn_every", 3},
               {"knn_k", 20},
               {"knn_temperature", 0.07},
               {"knn_train_limit", 500},
               {"knn_test_limit", 100}};
  j["run"] = {{"seed", 18446744073709551615ull},
              {"device", "cuda:1"},
              {"precision", "bf16"},
              {"threads", 3},
              {"checkpoint_every", 50},
              {"log_every", 5}};
  return experimentFromJson(j);
}

}  // namespace

class TestGuiExperiment : public QObject {
  Q_OBJECT

 private slots:
  void formFromSchema() {
    ParamForm form;
    form.setSpecs(handMadeSchema());
    auto* temp = qobject_cast<QLineEdit*>(form.editor("temperature"));
    auto* dim = qobject_cast<QSpinBox*>(form.editor("proj_dim"));
    auto* bn = qobject_cast<QCheckBox*>(form.editor("use_bn"));
    auto* head = qobject_cast<QComboBox*>(form.editor("head"));
    QVERIFY(temp && dim && bn && head);
    QCOMPARE(dim->minimum(), 2);
    QCOMPARE(dim->maximum(), 4096);
    QCOMPARE(head->count(), 2);
    QCOMPARE(head->itemText(0), QString("linear"));
    // Defaults shown.
    QCOMPARE(temp->text(), QString("0.5"));
    QCOMPARE(dim->value(), 128);
    QVERIFY(bn->isChecked());
    QCOMPARE(head->currentText(), QString("mlp"));
    QCOMPARE(qobject_cast<QLineEdit*>(form.editor("lr"))->text(), QString("0.001"));
    // Tooltips: help, range, default.
    QVERIFY2(temp->toolTip().contains("softmax temperature"), qPrintable(temp->toolTip()));
    QVERIFY(temp->toolTip().contains("[0.01, 10]"));
    QVERIFY(temp->toolTip().contains("default 0.5"));
    QVERIFY(dim->toolTip().contains("[2, 4096]"));
    QVERIFY(head->toolTip().contains("one of linear, mlp"));
    // Values typed by the schema.
    const json v = form.values();
    QCOMPARE(v, (json{{"temperature", 0.5},
                      {"proj_dim", 128},
                      {"use_bn", true},
                      {"head", "mlp"},
                      {"lr", 1e-3}}));
    QVERIFY(v["proj_dim"].is_number_integer());
    QVERIFY(form.valid());
    // Rebuilding replaces the fields.
    form.setSpecs({handMadeSchema()[2]});
    QVERIFY(!form.editor("temperature"));
    QCOMPARE(form.values().size(), size_t(1));
  }

  void floatAcceptsWholeRange_data() {
    QTest::addColumn<QString>("typed");
    QTest::addColumn<double>("expected");
    QTest::newRow("tiny") << "1e-5" << 1e-5;
    QTest::newRow("large") << "5000" << 5000.0;
    QTest::newRow("minimum") << "1e-6" << 1e-6;
    QTest::newRow("maximum") << "10000" << 1e4;
    QTest::newRow("plain") << "0.25" << 0.25;
  }
  void floatAcceptsWholeRange() {
    QFETCH(QString, typed);
    QFETCH(double, expected);
    ParamForm form;
    form.setSpecs(handMadeSchema());
    QSignalSpy spy(&form, &ParamForm::changed);
    typeInto(form.editor("lr"), typed);
    QVERIFY(spy.count() > 0);
    QString why;
    QVERIFY2(form.valid(&why), qPrintable(why));
    QCOMPARE(form.values()["lr"].get<double>(), expected);
    QVERIFY(form.errorText("lr").isEmpty());
  }

  void refusesInvalid_data() {
    QTest::addColumn<QString>("field");
    QTest::addColumn<QString>("typed");
    QTest::addColumn<QString>("reason");
    QTest::addColumn<double>("kept");  // the last valid entry while typing (or the default)
    QTest::newRow("above") << "temperature"
                           << "50"
                           << "temperature = 50: expected a value in [0.01, 10]" << 5.0;
    QTest::newRow("below") << "temperature"
                           << "0.001"
                           << "temperature = 0.001: expected a value in [0.01, 10]" << 0.5;
    QTest::newRow("negative") << "lr"
                              << "-1"
                              << "lr = -1: expected a value in [1e-06, 10000]" << 1e-3;
    QTest::newRow("malformed") << "temperature"
                               << "1e"
                               << "temperature = \"1e\": expected a number" << 1.0;
    QTest::newRow("empty") << "temperature"
                           << ""
                           << "expected a number" << 0.5;
    QTest::newRow("int above") << "proj_dim"
                               << "9999"
                               << "proj_dim = 9999: expected an integer in [2, 4096]" << 999.0;
  }
  void refusesInvalid() {
    QFETCH(QString, field);
    QFETCH(QString, typed);
    QFETCH(QString, reason);
    QFETCH(double, kept);
    ParamForm form;
    form.setSpecs(handMadeSchema());
    const json before = form.values();
    QWidget* editor = form.editor(field.toStdString());
    if (typed.isEmpty()) {
      qobject_cast<QLineEdit*>(editor)->selectAll();
      QTest::keyClick(editor, Qt::Key_Backspace);
    } else {
      typeInto(editor, typed);
    }
    QString why;
    QVERIFY(!form.valid(&why));
    QVERIFY2(why.contains(reason), qPrintable(why));
    QCOMPARE(form.errorText(field.toStdString()), why);
    QVERIFY(editor->styleSheet().contains("border"));  // marked
    auto* inline_ = editor->parentWidget()->findChild<QLabel*>();
    QVERIFY(inline_ && inline_->isVisibleTo(&form) && !inline_->text().isEmpty());
    // Not applied: the field keeps its last valid value; the others are untouched.
    json expected = before;
    expected[field.toStdString()] = kept;
    QCOMPARE(form.values(), expected);
    // Fixing it clears the mark.
    typeInto(editor, field == "proj_dim" ? "64" : "0.5");
    QVERIFY2(form.valid(&why), qPrintable(why));
    QVERIFY(editor->styleSheet().isEmpty());
    QVERIFY(!inline_->isVisibleTo(&form));
  }

  void setValuesRoundTrip() {
    ParamForm form;
    form.setSpecs(handMadeSchema());
    const json v = {{"temperature", 0.07},
                    {"proj_dim", 2048},
                    {"use_bn", false},
                    {"head", "linear"},
                    {"lr", 3.3e-5}};
    QSignalSpy spy(&form, &ParamForm::changed);
    form.setValues(v);
    QCOMPARE(spy.count(), 0);
    QCOMPARE(form.values(), v);
    QCOMPARE(ParamForm::formatNumber(0.1), QString("0.1"));
    QCOMPARE(ParamForm::formatNumber(1e-6), QString("1e-06"));
    QCOMPARE(ParamForm::prettyLabel("proj_dim"), QString("Proj dim"));
    QCOMPARE(ParamForm::prettyLabel("proj_bn"), QString("Proj BN"));
    QCOMPARE(ParamForm::prettyLabel("knn_k"), QString("kNN k"));
  }

  void augmentSpecsCoverEveryField() {
    json keys = augmentToJson(AugmentOptions());
    std::vector<std::string> fromCore, fromForm;
    for (auto it = keys.begin(); it != keys.end(); ++it) fromCore.push_back(it.key());
    for (const auto& s : augmentSpecs()) fromForm.push_back(s.name);
    std::sort(fromForm.begin(), fromForm.end());
    QCOMPARE(fromForm, fromCore);
    // Each preset's values lie inside the form's ranges (the form would refuse them otherwise).
    for (const auto& preset : augmentPresetNames()) {
      AugmentEditor editor;
      editor.setPreset(preset);
      QString why;
      QVERIFY2(editor.valid(&why), qPrintable(QString::fromStdString(preset) + ": " + why));
    }
  }

  void roundTrip_data() {
    QTest::addColumn<json>("source");
    for (const auto& name : presetNames())
      QTest::newRow(name.c_str()) << experimentToJson(experimentFromJson(loadPresetJson(name)));
    QVERIFY(!presetNames().empty());
    QTest::newRow("defaults") << experimentToJson(experimentFromJson(json::object()));
    QTest::newRow("everything changed") << experimentToJson(everythingChanged());
  }
  void roundTrip() {
    QFETCH(json, source);
    ExperimentPanel panel;
    panel.setExperiment(experimentFromJson(source));
    QString why;
    QVERIFY2(panel.valid(&why), qPrintable(why));
    const json shown = experimentToJson(panel.experiment());
    QVERIFY2(shown == source, (shown.dump(1) + "\n!=\n" + source.dump(1)).c_str());
  }

  void methodChangeRebuildsForm_data() {
    QTest::addColumn<QString>("method");
    for (const auto& m : MethodRegistry::instance().all())
      if (m.trainable) QTest::newRow(m.name.c_str()) << QString::fromStdString(m.name);
  }
  void methodChangeRebuildsForm() {
    QFETCH(QString, method);
    const MethodInfo& info = MethodRegistry::instance().get(method.toStdString());
    // Start from another method, with an augmentation that is none of the defaults.
    Experiment e = experimentFromJson(loadPresetJson("simclr-fashion"));
    if (info.name == "simclr") e = experimentFromJson(loadPresetJson("rotation-fashion"));
    e.augment = {{"preset", "byol-asym-2"}, {"noise_std", 0.1}};
    ExperimentPanel panel;
    panel.setExperiment(e);
    QSignalSpy methodSpy(&panel, &ExperimentPanel::methodChanged);
    QSignalSpy changedSpy(&panel, &ExperimentPanel::changed);

    MethodPicker* picker = panel.methodPicker();
    picker->setCurrentIndex(picker->findData(method));
    QCOMPARE(methodSpy.count(), 1);
    QCOMPARE(methodSpy.at(0).at(0).toString(), method);
    QVERIFY(changedSpy.count() >= 1);
    // The form now holds exactly this method's parameters, at their defaults.
    std::vector<std::string> names;
    for (const auto& s : panel.methodForm()->specs()) names.push_back(s.name);
    std::vector<std::string> expected;
    json defaults = json::object();
    for (const auto& p : info.params) {
      expected.push_back(p.name);
      defaults[p.name] = p.defaultValue;
      QVERIFY(panel.methodForm()->editor(p.name));
    }
    QCOMPARE(names, expected);
    QCOMPARE(panel.methodForm()->values(), defaults);
    // The augmentation follows the method, and the panel says so.
    QCOMPARE(panel.augmentEditor()->presetShown(), QString::fromStdString(info.defaultAugment));
    const Experiment out = panel.experiment();
    QCOMPARE(out.method, info.name);
    // A method that trains on video gets the built-in video in place of the still images.
    if (info.clips) QCOMPARE(QString::fromStdString(out.data), QString("moving-fashion"));
    QCOMPARE(out.augment, (json{{"preset", info.defaultAugment}}));
    auto* info_ = panel.findChild<QLabel*>("method_info");
    QVERIFY(info_->text().contains(QString::fromStdString(info.title)));
    bool noted = false;
    for (auto* l : panel.augmentEditor()->findChildren<QLabel*>())
      noted = noted || (l->text().contains("switched") && l->isVisibleTo(&panel));
    QVERIFY(noted);
    // A method that needs a particular backbone gets it (MAE: the vit).
    if (!info.requiredBackbone.empty())
      QCOMPARE(panel.form("backbone")->values()["name"].get<std::string>(), info.requiredBackbone);
  }

  void methodsGroupedByFamily() {
    MethodPicker picker;
    QString family;
    int methods = 0;
    for (int i = 0; i < picker.count(); ++i) {
      const QString name = picker.itemData(i).toString();
      const auto flags = picker.model()->flags(picker.model()->index(i, 0));
      if (name.isEmpty()) {  // a family heading: never selectable
        QVERIFY(!(flags & Qt::ItemIsSelectable) && !(flags & Qt::ItemIsEnabled));
        family = picker.itemText(i).toLower();
        continue;
      }
      ++methods;
      const MethodInfo& info = MethodRegistry::instance().get(name.toStdString());
      QCOMPARE(family, QString::fromStdString(info.family));
      QCOMPARE(picker.itemText(i), QString::fromStdString(info.title));
      QVERIFY(MethodPicker::infoHtml(info.name).contains(
          QString::fromStdString(info.paper).toHtmlEscaped()));
    }
    QCOMPARE(methods, int(MethodRegistry::instance().all().size()));
  }

  void editedAugmentationBecomesCustom() {
    ExperimentPanel panel;
    panel.setExperiment(experimentFromJson(loadPresetJson("simclr-fashion")));
    AugmentEditor* aug = panel.augmentEditor();
    QCOMPARE(aug->presetShown(), QString("simclr-gray"));
    typeInto(aug->form()->editor("flip_prob"), "0.3");
    QCOMPARE(aug->presetShown(), QString("custom"));
    QCOMPARE(panel.experiment().augment, (json{{"preset", "simclr-gray"}, {"flip_prob", 0.3}}));
    // Choosing a preset again resets the fields.
    auto* combo = aug->findChild<QComboBox*>("augment_preset");
    const int i = combo->findText("weak");
    combo->setCurrentIndex(i);
    emit combo->activated(i);
    QCOMPARE(aug->presetShown(), QString("weak"));
    QCOMPARE(panel.experiment().augment, (json{{"preset", "weak"}}));
    QCOMPARE(aug->form()->values()["crop_scale_min"].get<double>(), 0.6);
  }

  void invalidEntriesNameTheField_data() {
    QTest::addColumn<QString>("section");
    QTest::addColumn<QString>("field");
    QTest::addColumn<QString>("typed");
    QTest::addColumn<QString>("path");
    QTest::newRow("lr") << "optimizer"
                        << "lr"
                        << "500"
                        << "optimizer.lr = 500";
    QTest::newRow("temperature") << "method"
                                 << "temperature"
                                 << "99"
                                 << "method.params.temperature";
    QTest::newRow("hue") << "augment"
                         << "hue"
                         << "0.9"
                         << "augment.hue";
    QTest::newRow("warm-up") << "schedule"
                             << "warmup_epochs"
                             << "x"
                             << "";  // letters refused
  }
  void invalidEntriesNameTheField() {
    QFETCH(QString, section);
    QFETCH(QString, field);
    QFETCH(QString, typed);
    QFETCH(QString, path);
    ExperimentPanel panel;
    panel.setExperiment(experimentFromJson(loadPresetJson("simclr-fashion")));
    typeInto(panel.form(section)->editor(field.toStdString()), typed);
    QString why;
    if (path.isEmpty()) {  // the keystroke itself was refused
      QVERIFY2(panel.valid(&why), qPrintable(why));
      return;
    }
    QVERIFY(!panel.valid(&why));
    QVERIFY2(why.startsWith(path), qPrintable(why));
    PRETEXT_VERIFY_THROWS_WITH(panel.experiment(), path.toStdString());
    auto* status = panel.findChild<QLabel*>("experiment_status");
    QVERIFY(status->isVisibleTo(&panel));
    QCOMPARE(status->text(), why);
  }

  void crossFieldRuleIsReported() {
    ExperimentPanel panel;
    panel.setExperiment(everythingChanged());  // lars + nesterov: fine
    auto* name = qobject_cast<QComboBox*>(panel.form("optimizer")->editor("name"));
    name->setCurrentText("adam");
    QString why;
    QVERIFY(!panel.valid(&why));
    QVERIFY2(why.startsWith("optimizer.nesterov"), qPrintable(why));
    QVERIFY(!panel.form("optimizer")->editor("momentum")->isEnabledTo(&panel));
  }

  void saveAndLoadRoundTrip() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("exp.json").toStdString();
    ExperimentPanel panel;
    panel.setExperiment(everythingChanged());
    typeInto(panel.form("optimizer")->editor("lr"), "0.0125");
    panel.findChild<QLineEdit*>("experiment_name")->setText("saved-run");
    const Experiment shown = panel.experiment();
    saveExperiment(shown, path);
    ExperimentPanel other;
    other.setExperiment(loadExperiment(path));
    QCOMPARE(experimentToJson(other.experiment()), experimentToJson(shown));
    QCOMPARE(other.experiment().lr, 0.0125);
    QCOMPARE(other.experiment().name, std::string("saved-run"));
  }

  void dataSourceBrowse() {
    ExperimentPanel panel;
    DataSourcePicker* picker = panel.dataPicker();
    QString answer = "/data/cifar-10-batches-bin";
    QString askedKind;
    picker->setDirectoryChooser([&](const QString& kind, const QString&) {
      askedKind = kind;
      return answer;
    });
    QSignalSpy spy(&panel, &ExperimentPanel::changed);
    int browse = -1;
    for (int i = 0; i < picker->count(); ++i)
      if (picker->itemText(i).startsWith("CIFAR-10 ")) browse = i;
    QVERIFY(browse >= 0);
    picker->setCurrentIndex(browse);
    emit picker->activated(browse);
    QCOMPARE(askedKind, QString("cifar10"));
    QCOMPARE(picker->spec(), QString("cifar10:/data/cifar-10-batches-bin"));
    QVERIFY(spy.count() >= 1);
    QVERIFY(picker->currentText().contains("/data/cifar-10-batches-bin"));
    // Cancelling keeps the source.
    answer.clear();
    picker->setCurrentIndex(browse + 1);
    emit picker->activated(browse + 1);
    QCOMPARE(picker->spec(), QString("cifar10:/data/cifar-10-batches-bin"));
    // Photos enable the image size; CIFAR-10 and Fashion-MNIST keep their own, and the field
    // shows that size in place of the setting's value.
    auto* sizeEditor = panel.form("data")->editor("image_size");
    auto fixedSize = [&] { return panel.form("data")->findChild<QLabel*>("image_size_fixed"); };
    QVERIFY(!sizeEditor->isEnabledTo(&panel));
    QVERIFY(!sizeEditor->isVisibleTo(&panel));
    QVERIFY(fixedSize() && fixedSize()->isVisibleTo(&panel));
    QCOMPARE(fixedSize()->text(), QString("32 x 32 px (fixed)"));
    picker->setSpec("photos:/usr/share/backgrounds");
    emit picker->specChanged(picker->spec());
    QVERIFY(sizeEditor->isEnabledTo(&panel));
    QVERIFY(sizeEditor->isVisibleTo(&panel));
    QVERIFY(!fixedSize()->isVisibleTo(&panel));
    picker->setSpec("fashion-mnist");
    emit picker->specChanged(picker->spec());
    QCOMPARE(fixedSize()->text(), QString("28 x 28 px (fixed)"));
    QVERIFY(fixedSize()->isVisibleTo(&panel) && !sizeEditor->isVisibleTo(&panel));
    // A video file: the chooser is asked for kind "video", the spec is video:FILE, and its frames
    // take the image size setting.
    int video = -1;
    for (int i = 0; i < picker->count(); ++i)
      if (picker->itemText(i).startsWith("Video file")) video = i;
    QVERIFY(video >= 0);
    answer = "/films/street.mp4";
    picker->setCurrentIndex(video);
    emit picker->activated(video);
    QCOMPARE(askedKind, QString("video"));
    QCOMPARE(picker->spec(), QString("video:/films/street.mp4"));
    QVERIFY(picker->currentText().contains("Video"));
    QVERIFY(sizeEditor->isEnabledTo(&panel));
  }

  void lockDisablesEditing() {
    ExperimentPanel panel;
    panel.setExperiment(experimentFromJson(loadPresetJson("simclr-fashion")));
    panel.setLocked(true);
    QVERIFY(!panel.findChild<QLineEdit*>("experiment_name")->isEnabledTo(&panel));
    QVERIFY(!panel.methodPicker()->isEnabledTo(&panel));
    QVERIFY(!panel.methodForm()->editor("temperature")->isEnabledTo(&panel));
    QVERIFY(!panel.findChild<QLineEdit*>("seed")->isEnabledTo(&panel));
    panel.setLocked(false);
    QVERIFY(panel.methodPicker()->isEnabledTo(&panel));
    QVERIFY(panel.findChild<QLineEdit*>("seed")->isEnabledTo(&panel));
    // A field disabled for its own reason stays disabled.
    QVERIFY(!panel.form("data")->editor("image_size")->isEnabledTo(&panel));
  }

  void wheelScrollsPastUnfocusedEditors() {
    ExperimentPanel panel;
    panel.resize(360, 500);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    auto* epochs = qobject_cast<QSpinBox*>(panel.form("schedule")->editor("epochs"));
    const int before = epochs->value();
    const QPoint at(epochs->width() / 2, epochs->height() / 2);
    QWheelEvent wheel(at, epochs->mapToGlobal(at), QPoint(), QPoint(0, 120), Qt::NoButton,
                      Qt::NoModifier, Qt::NoScrollPhase, false);
    QApplication::sendEvent(epochs, &wheel);
    QCOMPARE(epochs->value(), before);  // the form scrolled instead
    epochs->setFocus();
    QWheelEvent again(at, epochs->mapToGlobal(at), QPoint(), QPoint(0, 120), Qt::NoButton,
                      Qt::NoModifier, Qt::NoScrollPhase, false);
    QApplication::sendEvent(epochs, &again);
    if (epochs->hasFocus()) QCOMPARE(epochs->value(), before + 1);  // focused: it takes the wheel
  }

  void diceDrawsASeed() {
    ExperimentPanel panel;
    QSignalSpy spy(&panel, &ExperimentPanel::changed);
    auto* dice = panel.findChild<QToolButton*>("seed_dice");
    QSet<quint64> seen;
    for (int i = 0; i < 4; ++i) {
      dice->click();
      seen.insert(panel.experiment().seed);
    }
    QVERIFY(seen.size() >= 3);
    QCOMPARE(spy.count(), 4);
  }

  // Not a check: PRETEXT_SCREENSHOTS=DIR saves the panel as it looks (docs, layout review).
  void screenshot() {
    const QByteArray dir = qgetenv("PRETEXT_SCREENSHOTS");
    if (dir.isEmpty()) QSKIP("set PRETEXT_SCREENSHOTS=DIR to save screenshots");
    ExperimentPanel panel;
    panel.setExperiment(experimentFromJson(loadPresetJson("simclr-fashion")));
    panel.resize(360, 1750);
    panel.show();
    QTest::qWait(50);
    panel.grab().save(QString(dir) + "/experiment_panel.png");
    panel.resize(360, 700);
    QTest::qWait(50);
    panel.grab().save(QString(dir) + "/experiment_panel_docked.png");
    for (auto* b : panel.augmentEditor()->findChildren<QToolButton*>()) b->click();  // all fields
    panel.resize(360, 2350);
    QTest::qWait(50);
    panel.grab().save(QString(dir) + "/experiment_panel_augment.png");
    typeInto(panel.form("optimizer")->editor("lr"), "500");
    panel.resize(360, 1400);
    QTest::qWait(50);
    panel.grab().save(QString(dir) + "/experiment_panel_invalid.png");
  }
};

PRETEXT_TEST_AREA(TestGuiExperiment, "gui_experiment")
#include "test_gui_experiment.moc"
