#include "ui/window/start_page.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QFrame>
#include <QGridLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QVBoxLayout>
#include <algorithm>
#include <map>

#include "core/config/experiment.h"
#include "core/methods/registry.h"
#include "core/train/examples.h"
#include "core/train/lesson.h"

namespace pretext {

namespace {

// What each family of methods teaches, in the order a course meets them.
struct FamilyLesson {
  const char* family;
  const char* title;
  const char* lesson;
};
constexpr FamilyLesson kFamilyLessons[] = {
    {"supervised", "The ceiling", "What labels buy: the same encoder trained on the classes."},
    {"pretext task", "Pretext tasks",
     "Labels made from the image itself: which way it was turned, where a patch sat, what colour "
     "it had. The features are a by-product of solving the task."},
    {"autoencoder", "Autoencoders", "Reconstruct the input through a bottleneck (or from noise)."},
    {"generative", "Generative models",
     "A GAN's discriminator learns features while it judges; PixelCNN learns them predicting "
     "each pixel from the ones before it."},
    {"contrastive", "Contrastive learning",
     "Two views of one image attract, other images repel: the recipe that closed the gap."},
    {"clustering", "Clustering",
     "Group the images into prototypes and predict one view's cluster from the other; sharing "
     "the batch equally among the clusters is what keeps them from collapsing into one."},
    {"siamese", "Without negatives",
     "Predict the other view's embedding; what keeps it from collapsing to a constant?"},
    {"masked", "Masked image modelling", "Hide most patches of the image and reconstruct them."},
};

QLabel* heading(const QString& text) {
  auto* label = new QLabel(QString("<h2>%1</h2>").arg(text));
  label->setTextFormat(Qt::RichText);
  return label;
}

QLabel* paragraph(const QString& text) {
  auto* label = new QLabel(text);
  label->setWordWrap(true);
  label->setTextFormat(Qt::RichText);
  return label;
}

QString percent(double v) { return v < 0 ? QStringLiteral("-") : QString::number(v, 'f', 1) + "%"; }

void clearLayout(QLayout* layout) {
  while (QLayoutItem* item = layout->takeAt(0)) {
    delete item->widget();
    delete item;
  }
}

QJsonObject readJsonObject(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QJsonDocument::fromJson(f.readAll()).object();
}

}  // namespace

StartPage::StartPage(QWidget* parent) : QWidget(parent) {
  setObjectName("startPage");
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  auto* scroll = new QScrollArea(this);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  outer->addWidget(scroll);
  auto* content = new QWidget;
  scroll->setWidget(content);
  auto* layout = new QVBoxLayout(content);
  layout->setContentsMargins(24, 16, 24, 16);

  layout->addWidget(heading(tr("Pretext: watch a network learn to see without labels")));
  layout->addWidget(paragraph(
      tr("Pretext trains the methods that took vision from pretext tasks to contrastive and masked "
         "learning, shows what they learn while they learn it, and evaluates their features as the "
         "field does (kNN, linear probe, few-label fine-tuning). Open a trained example to look "
         "inside one now, or pick a preset on the left and press <b>Start</b> (F5) to train "
         "your own.")));

  layout->addWidget(heading(tr("Trained examples: open one and look")));
  layout->addWidget(paragraph(
      tr("Models trained by Pretext's own presets, shipped with it (half precision). kNN and "
         "linear-probe accuracy on the test set, against the same encoder untrained.")));
  examples_ = new QGridLayout;
  examples_->setHorizontalSpacing(12);
  examples_->setVerticalSpacing(12);
  layout->addLayout(examples_);

  layout->addWidget(heading(tr("Lessons: the lectures' figures, live")));
  layout->addWidget(paragraph(
      tr("Each lesson trains what a figure of the lecture notes shows, at a budget that fits a "
         "class, and opens in presentation mode with the claim and what to look at.")));
  fillLessons(layout);

  layout->addWidget(heading(tr("Train one yourself: the presets by what they teach")));
  presets_ = new QVBoxLayout;
  layout->addLayout(presets_);

  layout->addWidget(heading(tr("Last runs")));
  lastRuns_ = new QVBoxLayout;
  layout->addLayout(lastRuns_);
  layout->addStretch(1);

  fillExamples();
  fillPresets();
}

void StartPage::refresh(const QString& runsFolder) {
  clearLayout(examples_);
  fillExamples();
  clearLayout(lastRuns_);
  fillLastRuns(runsFolder);
}

void StartPage::fillExamples() {
  const auto examples = exampleRuns();
  if (examples.empty()) {
    examples_->addWidget(
        paragraph(tr("No examples found in %1 (scripts/make_examples.sh makes them).")
                      .arg(QString::fromStdString(examplesDirectory()))),
        0, 0);
    return;
  }
  constexpr int kColumns = 3;
  for (size_t i = 0; i < examples.size(); ++i) {
    const ExampleRun& e = examples[i];
    auto* card = new QFrame;
    card->setObjectName("exampleCard");
    card->setFrameShape(QFrame::StyledPanel);
    auto* v = new QVBoxLayout(card);
    v->addWidget(
        paragraph(QString("<b>%1</b>").arg(QString::fromStdString(e.title).toHtmlEscaped())));
    v->addWidget(paragraph(QString::fromStdString(e.summary).toHtmlEscaped()));
    QString probes = tr("kNN %1, linear %2").arg(percent(e.knnTop1), percent(e.linearTop1));
    if (e.randomKnnTop1 >= 0)
      probes += tr("<br><span style='color:gray'>untrained: %1, %2</span>")
                    .arg(percent(e.randomKnnTop1), percent(e.randomLinearTop1));
    if (!e.probeData.empty() && e.probeData != e.data)
      probes += tr("<br><span style='color:gray'>probed on %1</span>")
                    .arg(QString::fromStdString(e.probeData).toHtmlEscaped());
    v->addWidget(paragraph(probes));
    v->addStretch(1);
    auto* open = new QPushButton(
        tr("Open (%1 steps of %2)").arg(e.steps).arg(QString::fromStdString(e.method)));
    open->setObjectName("openExample_" + QString::fromStdString(e.name));
    const QString name = QString::fromStdString(e.name);
    connect(open, &QPushButton::clicked, this, [this, name] { emit exampleRequested(name); });
    v->addWidget(open);
    examples_->addWidget(card, static_cast<int>(i) / kColumns, static_cast<int>(i) % kColumns);
  }
}

void StartPage::fillLessons(QVBoxLayout* layout) {
  auto* grid = new QGridLayout;
  grid->setHorizontalSpacing(12);
  int row = 0;
  for (const Lesson& l : allLessons()) {
    const QString name = QString::fromStdString(l.name);
    auto* open = new QPushButton(QString::fromStdString(l.title));
    open->setObjectName("lesson_" + name);
    open->setToolTip(QString::fromStdString(l.claim));
    connect(open, &QPushButton::clicked, this, [this, name] { emit lessonRequested(name); });
    grid->addWidget(open, row, 0);
    QString what = QString::fromStdString(l.claim).toHtmlEscaped();
    if (what.size() > 150) what = what.left(what.lastIndexOf(' ', 147)) + "...";
    grid->addWidget(paragraph(tr("<span style='color:gray'>%1 min:</span> %2")
                                  .arg(l.minutes)
                                  .arg(what)),
                    row, 1);
    ++row;
  }
  if (row == 0) grid->addWidget(paragraph(tr("No lessons found in %1.").arg(QString::fromStdString(lessonDirectory()))), 0, 0);
  grid->setColumnStretch(1, 1);
  layout->addLayout(grid);
}

void StartPage::fillPresets() {
  std::map<std::string, std::vector<std::pair<QString, QString>>>
      byFamily;  // family -> (name, tip)
  for (const std::string& name : presetNames()) {
    try {
      const auto j = loadPresetJson(name);
      const std::string method = j.value("/method/name"_json_pointer, std::string());
      const auto& registry = MethodRegistry::instance();
      const std::string family = registry.has(method) ? registry.get(method).family : "other";
      byFamily[family].emplace_back(QString::fromStdString(name),
                                    QString::fromStdString(j.value("description", std::string())));
    } catch (const std::exception&) {
      // A preset that does not parse is reported when it is loaded, not here.
    }
  }
  for (const FamilyLesson& lesson : kFamilyLessons) {
    const auto found = byFamily.find(lesson.family);
    if (found == byFamily.end()) continue;
    auto* row = new QHBoxLayout;
    auto* text = paragraph(QString("<b>%1</b><br>%2").arg(tr(lesson.title), tr(lesson.lesson)));
    text->setMinimumWidth(320);
    text->setMaximumWidth(420);
    row->addWidget(text);
    // The family's presets, three to a row, so that the page never needs to scroll sideways.
    auto* buttons = new QGridLayout;
    constexpr int kButtonsPerRow = 3;
    int i = 0;
    for (const auto& [name, tip] : found->second) {
      auto* button = new QPushButton(name);
      button->setToolTip(tip);
      button->setObjectName("preset_" + name);
      connect(button, &QPushButton::clicked, this,
              [this, name = name] { emit presetRequested(name); });
      buttons->addWidget(button, i / kButtonsPerRow, i % kButtonsPerRow);
      ++i;
    }
    row->addLayout(buttons);
    row->addStretch(1);
    presets_->addLayout(row);
  }
}

void StartPage::fillLastRuns(const QString& runsFolder) {
  QFileInfoList runs;
  for (const QString& root : {runsFolder, QDir(runsFolder).filePath("examples")})
    for (const QFileInfo& fi : QDir(root).entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot))
      if (QFileInfo::exists(QDir(fi.absoluteFilePath()).filePath("experiment.json")) &&
          QFileInfo::exists(QDir(fi.absoluteFilePath()).filePath("state.json")))
        runs << fi;
  // Newest first, by when each run last saved its state (read once per run).
  std::vector<std::pair<QDateTime, QFileInfo>> byTime;
  for (const QFileInfo& fi : runs)
    byTime.emplace_back(
        QFileInfo(QDir(fi.absoluteFilePath()).filePath("state.json")).lastModified(), fi);
  std::sort(byTime.begin(), byTime.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  runs.clear();
  for (const auto& [when, fi] : byTime) runs << fi;
  if (runs.isEmpty()) {
    lastRuns_->addWidget(paragraph(tr("No runs yet in %1.").arg(QDir(runsFolder).absolutePath())));
    return;
  }
  constexpr int kShown = 8;
  for (int i = 0; i < std::min<int>(kShown, runs.size()); ++i) {
    const QString dir = runs[i].absoluteFilePath();
    const QJsonObject state = readJsonObject(QDir(dir).filePath("state.json"));
    const QJsonObject experiment = readJsonObject(QDir(dir).filePath("experiment.json"));
    const QString when =
        QFileInfo(QDir(dir).filePath("state.json")).lastModified().toString("yyyy-MM-dd hh:mm");
    auto* row = new QHBoxLayout;
    auto* open = new QPushButton(tr("Open"));
    connect(open, &QPushButton::clicked, this, [this, dir] { emit runRequested(dir); });
    row->addWidget(open);
    row->addWidget(
        paragraph(tr("<b>%1</b> &nbsp; %2, step %3%4 &nbsp; <span style='color:gray'>%5</span>")
                      .arg(runs[i].fileName().toHtmlEscaped(),
                           experiment.value("method").toObject().value("name").toString(),
                           QString::number(state.value("step").toInteger()),
                           state.value("finished").toBool() ? tr(", finished") : QString(), when)),
        1);
    lastRuns_->addLayout(row);
  }
}

}  // namespace pretext
