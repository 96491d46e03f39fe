#include "ui/evaluation/runs_panel.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QCoreApplication>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPointer>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSplitter>
#include <QTableWidget>
#include <QThreadPool>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/eval/runs_table.h"
#include "ui/window/session_controller.h"
#include "viz/colormap.h"

namespace pretext {

namespace {

// A cell that sorts by number (missing values last whichever way) or by text.
class RunsTableItem : public QTableWidgetItem {
 public:
  explicit RunsTableItem(const QString& text) : QTableWidgetItem(text) {}
  RunsTableItem(double value, int decimals) : QTableWidgetItem(QString::number(value, 'f', decimals)), number_(value) {
    setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  }
  bool operator<(const QTableWidgetItem& other) const override {
    const auto* o = dynamic_cast<const RunsTableItem*>(&other);
    if (!o) return QTableWidgetItem::operator<(other);
    if (std::isnan(number_) || std::isnan(o->number_)) {
      // Numbers before text and gaps, in both orders: gaps compare as the largest.
      if (std::isnan(number_) != std::isnan(o->number_)) {
        const bool ascending = !tableWidget() || tableWidget()->horizontalHeader()->sortIndicatorOrder() == Qt::AscendingOrder;
        return std::isnan(number_) ? !ascending : ascending;
      }
      return text() < o->text();
    }
    return number_ < o->number_;
  }
  double number() const { return number_; }

 private:
  double number_ = std::nan("");
};

// A setting's value as a number when it is one (for sorting and for the scatter's axis).
bool settingNumber(const RunsTableRow& row, const std::string& key, double* out) {
  const auto it = row.settings.find(key);
  if (it == row.settings.end() || !it->second.is_number()) return false;
  *out = it->second.get<double>();
  return true;
}

}  // namespace

RunsPanel::RunsPanel(SessionController* controller, QWidget* parent) : QWidget(parent), controller_(controller) {
  folder_ = controller_ ? controller_->runsFolder() : QStringLiteral("runs");
  folderLabel_ = new QLabel(this);
  folderLabel_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  choose_ = new QPushButton(tr("Folder..."), this);
  choose_->setToolTip(tr("Show the runs of another folder (a sweep's folder, a colleague's runs)"));
  refresh_ = new QPushButton(tr("Refresh"), this);
  all_ = new QCheckBox(tr("all settings"), this);
  all_->setToolTip(tr("Show every setting, not only those that differ between the runs"));
  status_ = new QLabel(this);
  status_->setWordWrap(true);

  table_ = new QTableWidget(this);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setAlternatingRowColors(true);
  table_->verticalHeader()->setVisible(false);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->setToolTip(tr("Click a header to sort; double-click a run to open it"));

  x_ = new QComboBox(this);
  y_ = new QComboBox(this);
  x_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  y_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  plot_ = new QCustomPlot(this);
  plot_->setMinimumHeight(220);
  plot_->legend->setVisible(true);
  // The legend to the right of the axes, where it hides no point.
  plot_->axisRect()->insetLayout()->take(plot_->legend);
  plot_->plotLayout()->addElement(0, 1, plot_->legend);
  plot_->plotLayout()->setColumnStretchFactor(1, 0.001);
  plot_->legend->setFillOrder(QCPLegend::foRowsFirst);
  plotInfo_ = new QLabel(this);
  plotInfo_->setWordWrap(true);

  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Runs in"), this));
  bar->addWidget(folderLabel_, 1);
  bar->addWidget(all_);
  bar->addWidget(choose_);
  bar->addWidget(refresh_);
  auto* axes = new QHBoxLayout;
  axes->addWidget(new QLabel(tr("Plot"), this));
  axes->addWidget(y_);
  axes->addWidget(new QLabel(tr("against"), this));
  axes->addWidget(x_);
  axes->addStretch(1);
  auto* bottom = new QWidget(this);
  auto* bl = new QVBoxLayout(bottom);
  bl->setContentsMargins(0, 0, 0, 0);
  bl->addLayout(axes);
  bl->addWidget(plot_, 1);
  bl->addWidget(plotInfo_);
  auto* split = new QSplitter(Qt::Vertical, this);
  split->addWidget(table_);
  split->addWidget(bottom);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  split->setChildrenCollapsible(false);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(bar);
  layout->addWidget(status_);
  layout->addWidget(split, 1);

  connect(refresh_, &QPushButton::clicked, this, &RunsPanel::refresh);
  connect(choose_, &QPushButton::clicked, this, &RunsPanel::chooseFolder);
  connect(all_, &QCheckBox::toggled, this, [this] { fillTable(); });
  connect(x_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] { plot(); });
  connect(x_, &QComboBox::activated, this, [this] { chosenX_ = true; });
  connect(y_, &QComboBox::activated, this, [this] { chosenY_ = true; });
  connect(y_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] { plot(); });
  connect(table_, &QTableWidget::cellDoubleClicked, this, [this](int row, int) {
    if (auto* item = table_->item(row, 0)) emit runActivated(item->data(Qt::UserRole).toString());
  });
  if (controller_)
    connect(controller_, &SessionController::finished, this, [this] {
      stale_ = true;
      if (isVisible()) refresh();
    });
}

RunsPanel::~RunsPanel() = default;

void RunsPanel::setFolder(const QString& folder) {
  folder_ = folder;
  chosenFolder_ = true;
  refresh();
}

void RunsPanel::setAllSettings(bool all) { all_->setChecked(all); }

void RunsPanel::chooseFolder() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Runs of which folder?"), folder_);
  if (!dir.isEmpty()) setFolder(dir);
}

void RunsPanel::showEvent(QShowEvent* e) {
  QWidget::showEvent(e);
  if (stale_) refresh();
}

QString RunsPanel::status() const { return status_->text(); }

void RunsPanel::refresh() {
  stale_ = false;
  if (!chosenFolder_ && controller_) folder_ = controller_->runsFolder();
  folderLabel_->setText(QDir::toNativeSeparators(QFileInfo(folder_).absoluteFilePath()));
  // A scan reads a few small files per run and the tail of its metrics: off the GUI thread, so
  // that showing the tab never stalls the window (42 ms for 30 runs, more for hundreds).
  scanning_ = true;
  status_->setText(tr("Reading the runs in %1…").arg(QDir::toNativeSeparators(folder_)));
  const quint64 generation = ++scanGeneration_;
  const std::string folder = folder_.toStdString();
  QPointer<RunsPanel> guard(this);
  QThreadPool::globalInstance()->start([guard, generation, folder] {
    auto table = std::make_shared<RunsTable>();
    QString error;
    try {
      *table = scanRunsTable(folder);
    } catch (const std::exception& e) {
      error = QString::fromUtf8(e.what());
    }
    // Back on the GUI thread; a panel closed meanwhile, or a newer scan, drops this one.
    QMetaObject::invokeMethod(
        QCoreApplication::instance(),
        [guard, generation, table, error] {
          if (guard && generation == guard->scanGeneration_) guard->applyScan(table, error);
        },
        Qt::QueuedConnection);
  });
}

void RunsPanel::applyScan(std::shared_ptr<RunsTable> table, const QString& error) {
  scanning_ = false;
  data_ = std::move(table);
  error_ = error.isEmpty() ? QString() : tr("No runs to show: %1").arg(error);
  fillTable();
  fillAxes();
  plot();
  emit refreshed();
}

void RunsPanel::fillTable() {
  const RunsTable& t = *data_;
  settingColumns_.clear();
  resultColumns_.clear();
  std::vector<std::string> settings = t.differingSettings;
  if (all_->isChecked()) {
    std::set<std::string> keys;
    for (const auto& r : t.rows)
      for (const auto& [k, v] : r.settings) keys.insert(k);
    settings.assign(keys.begin(), keys.end());
  }
  for (const auto& s : settings) settingColumns_ << QString::fromStdString(s);
  for (const auto& r : t.resultNames)
    if (r != "steps") resultColumns_ << QString::fromStdString(r);
  columns_ = resultColumns_ + settingColumns_;  // the results first: what a reader compares
  table_->setSortingEnabled(false);
  table_->clear();
  table_->setColumnCount(2 + columns_.size());
  table_->setHorizontalHeaderLabels(QStringList{tr("run"), tr("step")} + columns_);
  table_->setRowCount(static_cast<int>(t.rows.size()));
  int problems = 0;
  for (int i = 0; i < static_cast<int>(t.rows.size()); ++i) {
    const RunsTableRow& r = t.rows[static_cast<size_t>(i)];
    auto* name = new RunsTableItem(QString::fromStdString(r.name));
    name->setData(Qt::UserRole, QString::fromStdString(r.dir));
    name->setToolTip(QString::fromStdString(r.problem.empty() ? r.dir : r.dir + "\n" + r.problem));
    if (!r.problem.empty()) {
      name->setForeground(QColor(200, 40, 40));
      ++problems;
    }
    table_->setItem(i, 0, name);
    auto* step = new RunsTableItem(double(r.step), 0);
    if (!r.finished) step->setText(step->text() + tr(" (unfinished)"));
    table_->setItem(i, 1, step);
    for (int c = 0; c < resultColumns_.size(); ++c) {
      const auto it = r.results.find(resultColumns_[c].toStdString());
      auto* item = it != r.results.end() ? new RunsTableItem(it->second, 2) : new RunsTableItem(QString());
      table_->setItem(i, 2 + c, item);
    }
    for (int c = 0; c < settingColumns_.size(); ++c) {
      const std::string key = settingColumns_[c].toStdString();
      double v = 0;
      RunsTableItem* item = nullptr;
      if (settingNumber(r, key, &v)) {
        item = new RunsTableItem(v, 0);
        item->setText(QString::fromStdString(settingText(r, key)));  // as written: 0.2, 1e-06
      } else {
        item = new RunsTableItem(QString::fromStdString(settingText(r, key)));
      }
      table_->setItem(i, 2 + resultColumns_.size() + c, item);
    }
  }
  table_->setSortingEnabled(true);
  // Best first by the main probe.
  for (const char* key : {"linear probe", "kNN", "online kNN"}) {
    const int c = columns_.indexOf(key);
    if (c < 0) continue;
    table_->sortByColumn(2 + c, Qt::DescendingOrder);
    break;
  }
  QString text = tr("%n run(s); ", "", static_cast<int>(t.rows.size()));
  text += settingColumns_.isEmpty() ? tr("no setting differs between them.")
                                    : tr("%n setting(s) %1.", "", settingColumns_.size())
                                          .arg(all_->isChecked() ? tr("shown") : tr("differ between them"));
  if (problems) text += tr(" %n run(s) could not be read fully (in red; the tooltip says why).", "", problems);
  status_->setText(!error_.isEmpty() ? error_
                   : t.rows.empty()   ? tr("No runs in this folder yet: train one, or choose another folder.")
                                      : text);
}

void RunsPanel::fillAxes() {
  const QString oldX = x_->currentText(), oldY = y_->currentText();
  const QSignalBlocker bx(x_), by(y_);
  x_->clear();
  y_->clear();
  x_->addItems(settingColumns_ + resultColumns_ + QStringList{tr("steps")});
  y_->addItems(resultColumns_ + QStringList{tr("steps")});
  // Keep the user's choice (when they made one); else the method (when it differs), or the first setting that is a
  // number, against the main probe.
  if (chosenX_ && x_->findText(oldX) >= 0) {
    x_->setCurrentText(oldX);
  } else if (settingColumns_.contains("method.name")) {
    x_->setCurrentText("method.name");
  } else {
    for (const QString& key : settingColumns_) {
      double v = 0;
      const bool numeric = std::any_of(data_->rows.begin(), data_->rows.end(), [&](const RunsTableRow& r) {
        return settingNumber(r, key.toStdString(), &v);
      });
      if (numeric) {
        x_->setCurrentText(key);
        break;
      }
    }
  }
  if (chosenY_ && y_->findText(oldY) >= 0) {
    y_->setCurrentText(oldY);
  } else {
    for (const char* key : {"linear probe", "kNN", "online kNN"})
      if (y_->findText(key) >= 0) {
        y_->setCurrentText(key);
        break;
      }
  }
}

void RunsPanel::setScatterAxes(const QString& x, const QString& y) {
  chosenX_ = chosenY_ = true;
  if (x_->findText(x) >= 0) x_->setCurrentText(x);
  if (y_->findText(y) >= 0) y_->setCurrentText(y);
  plot();
}

QPair<QString, QString> RunsPanel::scatterAxes() const { return {x_->currentText(), y_->currentText()}; }

int RunsPanel::plottedPoints() const {
  int n = 0;
  for (int i = 0; i < plot_->graphCount(); ++i) n += plot_->graph(i)->dataCount();
  return n;
}

void RunsPanel::plot() {
  plot_->clearGraphs();
  plot_->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  const QString xKey = x_->currentText(), yKey = y_->currentText();
  if (!data_ || xKey.isEmpty() || yKey.isEmpty()) {
    plotInfo_->clear();
    plot_->replot();
    return;
  }
  const std::string xk = xKey.toStdString(), yk = yKey.toStdString();
  auto valueOf = [](const RunsTableRow& r, const std::string& key, double* out) {
    if (const auto it = r.results.find(key); it != r.results.end()) {
      *out = it->second;
      return true;
    }
    return settingNumber(r, key, out);
  };
  // A setting that is not a number (a method's name, an augmentation preset): categories.
  std::map<std::string, int> categories;
  bool categorical = false;
  for (const auto& r : data_->rows) {
    double v;
    if (!valueOf(r, xk, &v) && r.settings.count(xk)) categorical = true;
  }
  if (categorical)
    for (const auto& r : data_->rows)
      if (r.settings.count(xk)) categories.emplace(settingText(r, xk), 0);
  int next = 0;
  for (auto& [name, index] : categories) index = next++;
  // One graph per method, coloured.
  std::map<std::string, QCPGraph*> graphs;
  std::map<std::string, int> methodIndex;
  for (const auto& r : data_->rows) methodIndex.emplace(settingText(r, "method.name"), 0);
  next = 0;
  for (auto& [m, i] : methodIndex) i = next++;
  const auto colours = categoricalColors(std::max(1, next));
  int shown = 0, missing = 0;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const auto& r : data_->rows) {
    double x = 0, y = 0;
    bool hasX = categorical ? r.settings.count(xk) > 0 : valueOf(r, xk, &x);
    if (categorical && hasX) x = categories[settingText(r, xk)];
    if (!hasX || !valueOf(r, yk, &y)) {
      ++missing;
      continue;
    }
    const std::string method = settingText(r, "method.name");
    QCPGraph*& g = graphs[method];
    if (!g) {
      g = plot_->addGraph();
      g->setName(QString::fromStdString(method));
      g->setLineStyle(QCPGraph::lsNone);
      const QColor c = colours[static_cast<size_t>(methodIndex[method]) % colours.size()];
      g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, c, c, 9));
    }
    g->addData(x, y);
    xmin = std::min(xmin, x);
    xmax = std::max(xmax, x);
    ymin = std::min(ymin, y);
    ymax = std::max(ymax, y);
    ++shown;
  }
  if (categorical) {
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    for (const auto& [name, index] : categories) ticker->addTick(index, QString::fromStdString(name));
    plot_->xAxis->setTicker(ticker);
  }
  plot_->xAxis->setLabel(xKey);
  plot_->yAxis->setLabel(yKey);
  if (shown > 0) {
    const double padX = categorical ? 0.5 : xmax > xmin ? (xmax - xmin) * 0.08 : 0.5, padY = ymax > ymin ? (ymax - ymin) * 0.1 : 1.0;
    plot_->xAxis->setRange(xmin - padX, xmax + padX);
    plot_->yAxis->setRange(ymin - padY, ymax + padY);
  }
  plot_->legend->setVisible(graphs.size() > 0);
  plot_->replot();
  plotInfo_->setText(shown == 0 ? tr("No run has both %1 and %2.").arg(xKey, yKey)
                     : missing ? tr("%n run(s) without both values are left out.", "", missing)
                               : QString());
}

}  // namespace pretext
