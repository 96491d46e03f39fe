#include "ui/sweep/sweep_panel.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <fstream>

#include "ui/sweep/sweep_plot.h"
#include "ui/window/session_controller.h"

namespace pretext {

namespace {

QString probeName(const std::string& probe) {
  return probe == "knn"      ? QStringLiteral("kNN")
         : probe == "linear" ? QStringLiteral("linear probe")
                             : QString::fromStdString(probe);
}

QString settingCell(const nlohmann::json& v) {
  if (v.is_string()) return QString::fromStdString(v.get<std::string>());
  if (v.is_number_float()) return QString::number(v.get<double>(), 'g', 4);
  return QString::fromStdString(v.dump());
}

// The probes a sweep's results hold, the chosen one first.
QStringList probesOf(const SweepResults& r) {
  QStringList probes{QString::fromStdString(r.probe)};
  for (const auto& p : r.points)
    for (const auto& [key, value] : p.results) {
      const QString k = QString::fromStdString(key);
      if (k.endsWith("_top1") && !probes.contains(k.chopped(5))) probes << k.chopped(5);
    }
  return probes;
}

}  // namespace

SweepPanel::SweepPanel(SessionController* controller, QWidget* parent)
    : QWidget(parent), controller_(controller) {
  setObjectName("sweepPanel");
  auto* layout = new QVBoxLayout(this);
  auto* bar = new QHBoxLayout;
  auto* run = new QPushButton(tr("Run sweep file..."), this);
  run->setToolTip(tr(
      "Train a sweep file's points one after another here (pretext-cli sweep FILE runs the same)"));
  auto* open = new QPushButton(tr("Open sweep folder..."), this);
  open->setToolTip(tr("Show a sweep's results, also one that pretext-cli sweep is running"));
  continue_ = new QPushButton(tr("Continue"), this);
  continue_->setToolTip(tr("Run the open sweep's remaining points (finished ones are kept)"));
  stop_ = new QPushButton(tr("Stop"), this);
  stop_->setToolTip(
      tr("Stop the sweep; its point keeps a checkpoint and Continue goes on from there"));
  probeBox_ = new QComboBox(this);
  probeBox_->setObjectName("sweepProbe");
  probeBox_->setToolTip(tr("The probe the heat map and the ranking show"));
  xLabel_ = new QLabel(tr("across:"), this);
  xBox_ = new QComboBox(this);
  xBox_->setObjectName("sweepAcross");
  xBox_->setToolTip(tr("A random search: the setting on the horizontal axis"));
  bar->addWidget(run);
  bar->addWidget(open);
  bar->addWidget(continue_);
  bar->addWidget(stop_);
  bar->addSpacing(16);
  bar->addWidget(new QLabel(tr("probe:"), this));
  bar->addWidget(probeBox_);
  bar->addWidget(xLabel_);
  bar->addWidget(xBox_);
  bar->addStretch(1);
  layout->addLayout(bar);
  title_ = new QLabel(this);
  title_->setObjectName("sweepTitle");
  title_->setWordWrap(true);
  title_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(title_);
  auto* split = new QSplitter(Qt::Vertical, this);
  plot_ = new SweepPlot(split);
  plot_->setMinimumHeight(240);
  table_ = new QTableWidget(split);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->verticalHeader()->hide();
  table_->setToolTip(tr("Double-click a point to open its run"));
  split->addWidget(plot_);
  split->addWidget(table_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  layout->addWidget(split, 1);

  connect(run, &QPushButton::clicked, this, &SweepPanel::chooseAndRun);
  connect(open, &QPushButton::clicked, this, &SweepPanel::chooseAndOpen);
  connect(continue_, &QPushButton::clicked, this, [this] { runSweep(folder_); });
  connect(stop_, &QPushButton::clicked, controller_, &SessionController::stop);
  connect(probeBox_, &QComboBox::currentTextChanged, this, [this] { rebuild(); });
  connect(xBox_, &QComboBox::currentTextChanged, this, [this] { rebuild(); });
  connect(table_, &QTableWidget::cellDoubleClicked, this, [this](int row, int) {
    const QTableWidgetItem* item = table_->item(row, 1);
    if (item && QFile::exists(QDir(folder_).filePath(item->text() + "/experiment.json")))
      emit openPointRequested(QDir(folder_).filePath(item->text()));
  });
  connect(controller_, &SessionController::sweepStarted, this,
          [this](const QString& folder) { openSweep(folder); });
  connect(controller_, &SessionController::sweepEnded, this, [this] { refresh(); });
  connect(controller_, &SessionController::stateChanged, this, [this] { updateButtons(); });
  poll_.setInterval(1000);
  connect(&poll_, &QTimer::timeout, this, &SweepPanel::refresh);
  title_->setText(
      tr("No sweep open. A sweep trains one experiment at a grid of settings (or at "
         "random ones), one run after another: <b>Run sweep file...</b> here, or "
         "<tt>pretext-cli sweep FILE</tt> in a terminal and <b>Open sweep folder...</b> "
         "to watch it (README, \"Sweeps\")."));
  updateButtons();
}

QString SweepPanel::probe() const { return probeBox_->currentText().section(' ', 0, 0); }

void SweepPanel::setProbe(const QString& probe) {
  for (int i = 0; i < probeBox_->count(); ++i)
    if (probeBox_->itemText(i).section(' ', 0, 0) == probe) probeBox_->setCurrentIndex(i);
}

void SweepPanel::chooseAndRun() {
  const QString path =
      QFileDialog::getOpenFileName(this, tr("Run a sweep file"), {}, tr("Sweeps (*.json)"));
  if (!path.isEmpty()) runSweep(path);
}

void SweepPanel::chooseAndOpen() {
  const QString dir = QFileDialog::getExistingDirectory(
      this, tr("Open a sweep folder (it holds sweep_results.json)"),
      QDir(controller_->runsFolder()).filePath("sweeps"));
  if (!dir.isEmpty()) openSweep(dir);
}

void SweepPanel::runSweep(const QString& path) {
  // The controller says sweepStarted (which opens the folder here), or failed with the reason.
  controller_->runSweep(path);
}

bool SweepPanel::openSweep(const QString& folder) {
  folder_ = folder;
  lastText_.clear();
  logKeys_.clear();
  std::ifstream plan(QDir(folder).filePath("sweep.json").toStdString());
  try {
    const nlohmann::json j = nlohmann::json::parse(plan);
    for (const auto& [key, spec] : j.at("random").at("space").items())
      if (spec.contains("log_uniform")) logKeys_.push_back(key);
  } catch (const std::exception&) {
    // A grid, or no plan to read: no log axis.
  }
  probeBox_->blockSignals(true);
  probeBox_->clear();
  probeBox_->blockSignals(false);
  refresh();
  poll_.start();
  updateButtons();
  if (results_.points.empty()) return false;
  emit sweepOpened(folder);
  return true;
}

void SweepPanel::refresh() {
  if (folder_.isEmpty()) return;
  QFile file(QDir(folder_).filePath("sweep_results.json"));
  if (!file.open(QIODevice::ReadOnly)) {
    results_ = {};
    title_->setText(
        tr("%1: no sweep_results.json (yet); a sweep writes it when it starts").arg(folder_));
    plot_->clearResults();
    table_->setRowCount(0);
    return;
  }
  const QByteArray text = file.readAll();
  if (text == lastText_) return;  // nothing new since the last poll
  try {
    // The writer replaces the file by a rename: what is read is a whole version of it.
    results_ = sweepResultsFromJson(nlohmann::json::parse(text.toStdString()));
  } catch (const std::exception& e) {
    title_->setText(tr("%1: %2").arg(file.fileName(), QString::fromUtf8(e.what())));
    return;
  }
  lastText_ = text;
  const QString chosen = probe();
  probeBox_->blockSignals(true);
  probeBox_->clear();
  for (const QString& p : probesOf(results_))
    probeBox_->addItem(p + " (" + probeName(p.toStdString()) + ")");
  probeBox_->blockSignals(false);
  if (!chosen.isEmpty()) setProbe(chosen);
  const QString x = xBox_->currentText();
  xBox_->blockSignals(true);
  xBox_->clear();
  if (results_.random)
    for (const auto& k : results_.keys) xBox_->addItem(QString::fromStdString(k));
  const int xi = xBox_->findText(x);
  if (xi >= 0) xBox_->setCurrentIndex(xi);
  xBox_->blockSignals(false);
  xLabel_->setVisible(results_.random);
  xBox_->setVisible(results_.random);
  rebuild();
  updateButtons();
}

void SweepPanel::rebuild() {
  if (results_.points.empty() && results_.name.empty()) return;
  const std::string p = probe().isEmpty() ? results_.probe : probe().toStdString();
  const std::string x = xBox_->currentText().toStdString();
  const bool logX = std::find(logKeys_.begin(), logKeys_.end(), x) != logKeys_.end();
  plot_->showResults(results_, p, x, logX);

  const auto rows = sweepTable(results_, p);
  const QStringList probes = probesOf(results_);
  QStringList header{tr("rank"), tr("point")};
  for (const auto& k : results_.keys) header << QString::fromStdString(k);
  for (const QString& q : probes) header << probeName(q.toStdString()) + " %";
  header << tr("status") << tr("steps") << tr("time");
  table_->clear();
  table_->setColumnCount(header.size());
  table_->setHorizontalHeaderLabels(header);
  table_->setRowCount(int(rows.size()));
  int rank = 0;
  for (int r = 0; r < int(rows.size()); ++r) {
    const SweepPointResult& point = rows[size_t(r)];
    int c = 0;
    auto put = [&](const QString& text) { table_->setItem(r, c++, new QTableWidgetItem(text)); };
    const double v = results_.value(point, p);
    put(std::isnan(v) ? QStringLiteral("-") : QString::number(++rank));
    put(QString::fromStdString(point.name));
    for (const auto& [key, value] : point.settings) put(settingCell(value));
    for (const QString& q : probes) {
      const double pv = results_.value(point, q.toStdString());
      put(std::isnan(pv) ? QString() : QString::number(pv, 'f', 2));
    }
    put(QString::fromStdString(point.status) +
        (point.error.empty() ? QString() : ": " + QString::fromStdString(point.error)));
    put(point.totalSteps > 0 ? QString("%1 / %2").arg(point.step).arg(point.totalSteps)
                             : QString::number(point.step));
    put(QString("%1 s").arg(point.seconds, 0, 'f', 0));
  }
  table_->resizeColumnsToContents();

  const int done = results_.finishedCount();
  QString running;
  for (const auto& point : results_.points)
    if (point.status == "running") running = QString::fromStdString(point.name);
  QString text = tr("<b>%1</b>: %2 of %3 points done")
                     .arg(QString::fromStdString(results_.name))
                     .arg(done)
                     .arg(results_.points.size());
  if (!running.isEmpty()) text += tr("; training %1").arg(running);
  if (!rows.empty() && !std::isnan(results_.value(rows.front(), p))) {
    text +=
        tr("; best %1 %2% at").arg(probeName(p)).arg(results_.value(rows.front(), p), 0, 'f', 2);
    for (const auto& [key, value] : rows.front().settings)
      text += QString(" %1=%2").arg(QString::fromStdString(key), settingCell(value));
  }
  title_->setText(text + QString("<br><small>%1</small>").arg(folder_.toHtmlEscaped()));
}

void SweepPanel::updateButtons() {
  const bool idle = controller_->state() == SessionState::Idle;
  const bool mine = !controller_->sweepFolder().isEmpty();
  stop_->setEnabled(mine && (controller_->state() == SessionState::Running ||
                             controller_->state() == SessionState::Paused));
  const bool unfinished = hasSweep() && results_.finishedCount() < int(results_.points.size());
  continue_->setEnabled(idle && unfinished && QFile::exists(QDir(folder_).filePath("sweep.json")));
}

}  // namespace pretext
