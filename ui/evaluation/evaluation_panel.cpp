#include "ui/evaluation/evaluation_panel.h"

#include <QApplication>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextStream>
#include <QVBoxLayout>
#include <chrono>

#include "core/eval/evaluate.h"
#include "core/util/error.h"
#include "ui/evaluation/confusion_matrix_view.h"
#include "ui/evaluation/label_curve_view.h"
#include "ui/window/session_controller.h"

namespace pretext {

struct PendingEvaluation {
  EvalRequest request;
  QString runDir;  // where the result is saved ("" for an untrained model without a run)
  qint64 step = 0;
  QString title;  // "kNN", "linear probe (random init)", ...
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
};

namespace {

struct EvalOutcome {
  EvalRecord record;
  QString error;
  bool cancelled = false;
};

// Thrown from the progress callback to stop an evaluation between batches.
struct Cancelled : std::exception {};

// Accuracy early, so a narrow window still shows it.
enum Column {
  ColRun,
  ColProtocol,
  ColTop1,
  ColTop5,
  ColStep,
  ColMethod,
  ColSettings,
  ColImages,
  ColTime,
  ColCount
};

qint64 runStep(const QString& runDir) {
  if (runDir.isEmpty()) return 0;
  QFile f(runDir + QStringLiteral("/state.json"));
  if (!f.open(QIODevice::ReadOnly)) return 0;
  return QJsonDocument::fromJson(f.readAll()).object().value(QStringLiteral("step")).toInteger();
}

QString q(const std::string& s) { return QString::fromStdString(s); }

bool sameRecord(const EvalRecord& a, const EvalRecord& b) {
  return a.run == b.run && a.time == b.time && a.protocol == b.protocol &&
         a.settings == b.settings && a.randomInit == b.randomInit && a.top1 == b.top1;
}

// A table cell that sorts by number.
QTableWidgetItem* numberItem(double v, int decimals) {
  auto* item = new QTableWidgetItem;
  item->setData(Qt::DisplayRole,
                decimals < 0 ? QVariant(qint64(v)) : QVariant(QString::number(v, 'f', decimals)));
  item->setData(Qt::UserRole + 1, v);
  item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  return item;
}

}  // namespace

EvaluationPanel::EvaluationPanel(SessionController* controller, QWidget* parent)
    : QWidget(parent), controller_(controller) {
  auto tight = [](QFormLayout* f) {
    f->setFieldGrowthPolicy(QFormLayout::FieldsStayAtSizeHint);
    f->setLabelAlignment(Qt::AlignRight);
  };

  // kNN
  auto* knnBox = new QGroupBox(tr("Weighted kNN"));
  auto* knnForm = new QFormLayout(knnBox);
  tight(knnForm);
  kSpin_ = new QSpinBox;
  kSpin_->setRange(1, 10000);
  kSpin_->setValue(200);
  kSpin_->setToolTip(tr("Neighbours that vote (Wu et al. 2018: k = 200)"));
  tSpin_ = new QDoubleSpinBox;
  tSpin_->setRange(0.001, 10);
  tSpin_->setDecimals(3);
  tSpin_->setSingleStep(0.01);
  tSpin_->setValue(0.1);
  tSpin_->setToolTip(tr("Temperature: each neighbour votes with weight exp(cosine / T)"));
  knnButton_ = new QPushButton(tr("Run kNN"));
  knnForm->addRow(tr("k"), kSpin_);
  knnForm->addRow(tr("T"), tSpin_);
  knnForm->addRow(knnButton_);

  // Linear probe
  auto* linBox = new QGroupBox(tr("Linear probe"));
  auto* linLayout = new QVBoxLayout(linBox);
  auto* linHelp = new QLabel(tr("Softmax regression on frozen features (L-BFGS)."));
  linHelp->setWordWrap(true);
  linearButton_ = new QPushButton(tr("Run linear probe"));
  linLayout->addWidget(linHelp);
  linLayout->addStretch(1);
  linLayout->addWidget(linearButton_);

  // Fine-tuning
  auto* ftBox = new QGroupBox(tr("Few-label fine-tuning"));
  auto* ftForm = new QFormLayout(ftBox);
  tight(ftForm);
  fractionSpin_ = new QDoubleSpinBox;
  fractionSpin_->setRange(0.1, 100);
  fractionSpin_->setDecimals(1);
  fractionSpin_->setSuffix(QStringLiteral(" %"));
  fractionSpin_->setValue(10);
  fractionSpin_->setToolTip(
      tr("Share of the labelled training images used (class-balanced); "
         "the SimCLR paper reports 1% and 10%"));
  frozenSpin_ = new QSpinBox;
  frozenSpin_->setRange(0, 8);
  frozenSpin_->setToolTip(tr("Keep the first N encoder stages fixed"));
  epochsSpin_ = new QSpinBox;
  epochsSpin_->setRange(1, 500);
  epochsSpin_->setValue(10);
  finetuneButton_ = new QPushButton(tr("Run fine-tuning"));
  finetuneButton_->setToolTip(
      tr("Trains a copy of the encoder plus a linear classifier; the "
         "model itself is not changed"));
  ftForm->addRow(tr("Labels"), fractionSpin_);
  ftForm->addRow(tr("Frozen stages"), frozenSpin_);
  ftForm->addRow(tr("Epochs"), epochsSpin_);
  ftForm->addRow(finetuneButton_);

  // Baseline and data
  auto* baseBox = new QGroupBox(tr("Baseline and data"));
  auto* baseForm = new QFormLayout(baseBox);
  tight(baseForm);
  trainLimit_ = new QSpinBox;
  trainLimit_->setRange(0, 10000000);
  trainLimit_->setSingleStep(1000);
  trainLimit_->setSpecialValueText(tr("all"));
  trainLimit_->setToolTip(
      tr("Fit on the first N labelled training images (all = the standard "
         "protocol; fewer = quicker while training)"));
  testLimit_ = new QSpinBox;
  testLimit_->setRange(0, 10000000);
  testLimit_->setSingleStep(1000);
  testLimit_->setSpecialValueText(tr("all"));
  testLimit_->setToolTip(tr("Score on the first N test images"));
  baselineButton_ = new QPushButton(tr("Compare with random init"));
  baselineButton_->setToolTip(
      tr("kNN and linear probe of the same architecture, untrained: the "
         "baseline every method must beat"));
  baseForm->addRow(tr("Train images"), trainLimit_);
  baseForm->addRow(tr("Test images"), testLimit_);
  baseForm->addRow(baselineButton_);

  // The label curve (RotNet's semi-supervised figure)
  auto* curveBox = new QGroupBox(tr("Label curve"));
  auto* curveForm = new QFormLayout(curveBox);
  tight(curveForm);
  const LabelCurveOptions curveDefaults;
  curveCounts_ = new QLineEdit(QString::fromStdString(formatLabelCounts(curveDefaults.labelsPerClass)));
  curveCounts_->setToolTip(tr("Labelled training images per class at each point, rising"));
  curveCounts_->setMaximumWidth(130);
  curveSteps_ = new QSpinBox;
  curveSteps_->setRange(1, 100000);
  curveSteps_->setSingleStep(100);
  curveSteps_->setValue(int(curveDefaults.steps));
  curveSteps_->setToolTip(tr("Fine-tuning steps (batch 128) at every point"));
  curveFrozen_ = new QSpinBox;
  curveFrozen_->setRange(0, 8);
  curveFrozen_->setValue(int(curveDefaults.freezeStages));
  curveFrozen_->setToolTip(
      tr("Stages of the trained encoder kept fixed (the RotNet lecture: conv1 and conv2); the "
         "from-scratch network trains every layer"));
  curveButton_ = new QPushButton(tr("Run label curve"));
  curveButton_->setToolTip(
      tr("Fine-tunes the encoder and the same network from scratch at every count: does "
         "self-supervision save labels?"));
  curveForm->addRow(tr("Labels/class"), curveCounts_);
  curveForm->addRow(tr("Steps"), curveSteps_);
  curveForm->addRow(tr("Frozen stages"), curveFrozen_);
  curveForm->addRow(curveButton_);

  auto* settings = new QHBoxLayout;
  settings->addWidget(knnBox);
  settings->addWidget(linBox);
  settings->addWidget(ftBox);
  settings->addWidget(curveBox);
  settings->addWidget(baseBox);

  // Progress
  progress_ = new QProgressBar;
  progress_->setRange(0, 1000);
  progress_->setTextVisible(false);
  progress_->setMaximumWidth(220);
  stage_ = new QLabel(tr("Evaluations run on the engine thread: training pauses while one runs."));
  stage_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  cancelButton_ = new QPushButton(tr("Cancel"));
  cancelButton_->setEnabled(false);
  auto* progressRow = new QHBoxLayout;
  progressRow->addWidget(progress_);
  progressRow->addWidget(stage_, 1);
  progressRow->addWidget(cancelButton_);

  error_ = new QLabel;
  error_->setWordWrap(true);
  error_->setStyleSheet(QStringLiteral("color: #c62828;"));
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_->hide();

  // Results table
  table_ = new QTableWidget(0, ColCount);
  table_->setHorizontalHeaderLabels({tr("Run"), tr("Protocol"), tr("Top-1 %"), tr("Top-5 %"),
                                     tr("Step"), tr("Method"), tr("Settings"), tr("Train / test"),
                                     tr("When (UTC)")});
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->hide();
  table_->setAlternatingRowColors(true);
  table_->setSortingEnabled(true);
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
  table_->setWordWrap(false);
  scanButton_ = new QPushButton(tr("Scan runs folder"));
  scanButton_->setToolTip(tr("List the saved results of every run in the runs folder"));
  clearButton_ = new QPushButton(tr("Clear table"));
  clearButton_->setToolTip(tr("Empty the table (saved results stay in their run folders)"));
  exportButton_ = new QPushButton(tr("Export CSV…"));
  exportButton_->setToolTip(tr("Save the table as CSV (for a paper's table or a spreadsheet)"));
  auto* tableButtons = new QHBoxLayout;
  auto* tableTitle = new QLabel(tr("<b>Results</b> (saved in each run folder, evaluations.jsonl)"));
  tableButtons->addWidget(tableTitle, 1);
  tableButtons->addWidget(scanButton_);
  tableButtons->addWidget(clearButton_);
  tableButtons->addWidget(exportButton_);
  auto* tableSide = new QWidget;
  auto* tableLayout = new QVBoxLayout(tableSide);
  tableLayout->setContentsMargins(0, 0, 0, 0);
  tableLayout->addLayout(tableButtons);
  tableLayout->addWidget(table_, 1);

  confusion_ = new ConfusionMatrixView;
  curveView_ = new LabelCurveView;
  resultViews_ = new QTabWidget;
  resultViews_->addTab(confusion_, tr("Confusion matrix"));
  resultViews_->addTab(curveView_, tr("Label curve"));
  split_ = new QSplitter(Qt::Horizontal);
  split_->addWidget(tableSide);
  split_->addWidget(resultViews_);
  split_->setStretchFactor(0, 3);
  split_->setStretchFactor(1, 2);
  split_->setChildrenCollapsible(false);

  auto* main = new QVBoxLayout(this);
  main->addLayout(settings);
  main->addLayout(progressRow);
  main->addWidget(error_);
  main->addWidget(split_, 1);

  connect(knnButton_, &QPushButton::clicked, this, &EvaluationPanel::runKnn);
  connect(linearButton_, &QPushButton::clicked, this, &EvaluationPanel::runLinear);
  connect(finetuneButton_, &QPushButton::clicked, this, &EvaluationPanel::runFinetune);
  connect(baselineButton_, &QPushButton::clicked, this, &EvaluationPanel::runRandomInitBaseline);
  connect(curveButton_, &QPushButton::clicked, this, &EvaluationPanel::runLabelCurve);
  connect(cancelButton_, &QPushButton::clicked, this, &EvaluationPanel::cancel);
  connect(scanButton_, &QPushButton::clicked, this, &EvaluationPanel::scanRunsFolder);
  connect(clearButton_, &QPushButton::clicked, this, [this] {
    records_.clear();
    rebuildTable();
  });
  connect(exportButton_, &QPushButton::clicked, this, &EvaluationPanel::exportCsvDialog);
  connect(table_, &QTableWidget::itemSelectionChanged, this, &EvaluationPanel::showSelected);
  if (controller_) {
    connect(controller_, &SessionController::sessionChanged, this,
            &EvaluationPanel::onSessionChanged);
    connect(controller_, &SessionController::stepsArrived, this,
            [this](const QVector<StepPoint>& points) {
              // A followed run's steps: the evaluated model stays its last checkpoint's.
              if (!points.isEmpty() && controller_->training()) step_ = points.last().step;
            });
  }
}

EvaluationPanel::~EvaluationPanel() {
  // A running evaluation stops at its next batch; its result goes nowhere (context gone).
  if (running_) running_->cancel->store(true);
}

void EvaluationPanel::setKnn(int k, double temperature) {
  kSpin_->setValue(k);
  tSpin_->setValue(temperature);
}

void EvaluationPanel::setFinetune(double fraction, int frozenStages, int epochs) {
  fractionSpin_->setValue(fraction * 100);
  frozenSpin_->setValue(frozenStages);
  epochsSpin_->setValue(epochs);
}

void EvaluationPanel::setLimits(int trainImages, int testImages) {
  trainLimit_->setValue(trainImages);
  testLimit_->setValue(testImages);
}

int EvaluationPanel::queued() const { return int(queue_.size()); }

void EvaluationPanel::runKnn() { enqueue(QStringLiteral("knn"), false); }
void EvaluationPanel::runLinear() { enqueue(QStringLiteral("linear"), false); }
void EvaluationPanel::runFinetune() { enqueue(QStringLiteral("finetune"), false); }
void EvaluationPanel::runRandomInitBaseline() {
  enqueue(QStringLiteral("knn"), true);
  enqueue(QStringLiteral("linear"), true);
}

void EvaluationPanel::enqueue(const QString& protocol, bool randomInit) {
  EvalRequest r;
  r.protocol = protocol.toStdString();
  r.randomInit = randomInit;
  r.knn.k(kSpin_->value()).temperature(tSpin_->value());
  r.finetune.fraction(fractionSpin_->value() / 100.0)
      .freezeStages(frozenSpin_->value())
      .epochs(epochsSpin_->value());
  if (controller_) r.finetune.seed(controller_->experiment().seed);
  r.trainLimit = trainLimit_->value();
  r.testLimit = testLimit_->value();
  EvalRecord shape;
  shape.protocol = r.protocol;
  shape.randomInit = randomInit;
  enqueueRequest(r, q(shape.protocolTitle()));
}

void EvaluationPanel::enqueueRequest(const EvalRequest& request, const QString& title) {
  auto p = std::make_shared<PendingEvaluation>();
  p->request = request;
  p->title = title;
  queue_.push_back(p);
  error_->hide();
  startNext();
  updateBusy();
}

void EvaluationPanel::startNext() {
  if (running_ || queue_.isEmpty() || !controller_) return;
  running_ = queue_.takeFirst();
  // The model evaluated is the one the engine holds when the request is served: its run folder
  // and step are those the window knows now (between steps they can only grow by a few).
  running_->runDir = controller_->runDir();
  running_->step = running_->request.randomInit ? 0 : step_;
  progress_->setValue(0);
  stage_->setText(tr("%1: waiting for the engine…").arg(running_->title));
  updateBusy();

  const std::shared_ptr<PendingEvaluation> job = running_;
  QPointer<EvaluationPanel> self(this);
  controller_->inspect<EvalOutcome>(
      this,
      [job, self](Session& s) {
        EvalOutcome out;
        auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
        try {
          out.record = evaluateSession(s, job->request, [&](const std::string& stage, double f) {
            if (job->cancel->load()) throw Cancelled();
            // At most ~10 progress updates a second reach the window.
            const auto now = std::chrono::steady_clock::now();
            if (now - last < std::chrono::milliseconds(100) && f < 1) return;
            last = now;
            const QString text = QString::fromStdString(stage);
            QMetaObject::invokeMethod(
                qApp,
                [self, job, text, f] {
                  if (self && self->running_ == job) self->onProgress(text, f);
                },
                Qt::QueuedConnection);
          });
        } catch (const Cancelled&) {
          out.cancelled = true;
        } catch (const std::exception& e) {
          out.error = QString::fromUtf8(e.what());
        }
        return out;
      },
      [this, job](EvalOutcome out) {
        if (running_ != job) return;
        running_.reset();
        progress_->setValue(0);
        if (out.cancelled) {
          stage_->setText(tr("%1 cancelled.").arg(job->title));
        } else if (!out.error.isEmpty()) {
          stage_->setText(tr("%1 failed.").arg(job->title));
          error_->setText(tr("%1: %2").arg(job->title, out.error));
          error_->show();
          emit evaluationFailed(out.error);
        } else {
          EvalRecord rec = out.record;
          rec.run = job->runDir.toStdString();
          rec.step = job->step;
          if (!job->runDir.isEmpty()) {
            try {
              appendEvalRecord(rec.run, rec);
            } catch (const std::exception& e) {
              error_->setText(
                  tr("The result could not be saved: %1").arg(QString::fromUtf8(e.what())));
              error_->show();
            }
          }
          stage_->setText(tr("%1: top-1 %2% (%3 s)")
                              .arg(job->title)
                              .arg(rec.top1, 0, 'f', 2)
                              .arg(rec.seconds, 0, 'f', 1));
          addRecords({rec});
          selectRow(int(records_.size()) - 1);
          emit evaluationFinished(rec);
        }
        startNext();
        updateBusy();
      },
      QString());  // no key: evaluations queue, they never replace each other
}

void EvaluationPanel::onProgress(const QString& stage, double fraction) {
  progress_->setValue(int(fraction * 1000));
  const bool training = controller_ && controller_->training();
  stage_->setText(QStringLiteral("%1: %2%3")
                      .arg(running_ ? running_->title : QString(), stage,
                           training ? tr(" (training paused)") : QString()));
}

void EvaluationPanel::cancel() {
  for (auto& p : queue_) p->cancel->store(true);
  queue_.clear();
  if (running_) {
    running_->cancel->store(true);
    stage_->setText(tr("%1: cancelling…").arg(running_->title));
  }
  updateBusy();
}

void EvaluationPanel::updateBusy() {
  const bool b = busy();
  cancelButton_->setEnabled(b);
  if (b) {
    progress_->setRange(0, 1000);
    if (!queue_.isEmpty())
      cancelButton_->setText(tr("Cancel (%1 queued)").arg(queue_.size()));
    else
      cancelButton_->setText(tr("Cancel"));
  } else {
    cancelButton_->setText(tr("Cancel"));
  }
  emit busyChanged(b);
}

void EvaluationPanel::onSessionChanged() {
  if (!controller_) return;
  const QString dir = controller_->runDir();
  step_ = controller_->following() ? controller_->modelStep() : runStep(dir);
  if (dir.isEmpty()) {
    updateLabelCurve();
    return;
  }
  // Reopening a run shows what was measured on it before.
  QVector<EvalRecord> past;
  for (auto& r : readEvalRecords(dir.toStdString())) past.push_back(r);
  addRecords(past);
  updateLabelCurve();
}

void EvaluationPanel::scanRunsFolder() {
  if (!controller_) return;
  const QString folder = controller_->runsFolder();
  if (!QFileInfo(folder).isDir()) {
    error_->setText(tr("The runs folder %1 does not exist yet: train or open a run first.")
                        .arg(QDir(folder).absolutePath()));
    error_->show();
    return;
  }
  QVector<EvalRecord> all;
  for (auto& r : scanEvalRecords(folder.toStdString())) all.push_back(r);
  addRecords(all);
  error_->hide();
  stage_->setText(all.isEmpty() ? tr("No saved results in %1.").arg(folder)
                                : tr("%1 saved results in %2.").arg(all.size()).arg(folder));
}

void EvaluationPanel::addRecords(const QVector<EvalRecord>& records) {
  bool added = false;
  for (const auto& r : records) {
    bool known = false;
    for (const auto& have : records_) known |= sameRecord(have, r);
    if (!known) {
      records_.push_back(r);
      added = true;
    }
  }
  if (added) rebuildTable();
}

void EvaluationPanel::rebuildTable() {
  const int selected = selectedRow();
  table_->setSortingEnabled(false);
  table_->clearContents();
  table_->setRowCount(int(records_.size()));
  for (int i = 0; i < records_.size(); ++i) {
    const EvalRecord& r = records_[i];
    const QString run = r.run.empty() ? tr("(untrained, no run)") : QFileInfo(q(r.run)).fileName();
    auto* runItem = new QTableWidgetItem(run);
    runItem->setToolTip(q(r.run));
    runItem->setData(Qt::UserRole, i);  // the record behind the row, whatever the sort order
    table_->setItem(i, ColRun, runItem);
    table_->setItem(i, ColMethod, new QTableWidgetItem(q(r.method)));
    table_->setItem(i, ColStep, numberItem(double(r.step), -1));
    auto* proto = new QTableWidgetItem(q(r.protocolTitle()));
    if (r.randomInit) proto->setForeground(QColor(120, 120, 120));
    table_->setItem(i, ColProtocol, proto);
    table_->setItem(i, ColSettings, new QTableWidgetItem(q(r.settings)));
    auto* top1 = numberItem(r.top1, 2);
    QFont bold = top1->font();
    bold.setBold(true);
    top1->setFont(bold);
    table_->setItem(i, ColTop1, top1);
    table_->setItem(i, ColTop5,
                    r.top5 > 0 ? numberItem(r.top5, 2) : new QTableWidgetItem(QStringLiteral("–")));
    table_->setItem(
        i, ColImages,
        new QTableWidgetItem(QStringLiteral("%1 / %2").arg(r.trainImages).arg(r.testImages)));
    QString when = q(r.time);
    when.replace(QLatin1Char('T'), QLatin1Char(' ')).remove(QLatin1Char('Z'));
    table_->setItem(i, ColTime, new QTableWidgetItem(when));
  }
  table_->setSortingEnabled(true);
  table_->resizeColumnsToContents();
  if (selected >= 0 && selected < records_.size())
    selectRow(selected);
  else
    showSelected();
}

int EvaluationPanel::selectedRow() const {
  const auto rows = table_->selectionModel()->selectedRows();
  if (rows.isEmpty()) return -1;
  const auto* item = table_->item(rows.first().row(), ColRun);
  return item ? item->data(Qt::UserRole).toInt() : -1;
}

void EvaluationPanel::selectRow(int record) {
  for (int row = 0; row < table_->rowCount(); ++row) {
    const auto* item = table_->item(row, ColRun);
    if (item && item->data(Qt::UserRole).toInt() == record) {
      table_->selectRow(row);
      table_->scrollToItem(item);
      break;
    }
  }
  showSelected();
}

void EvaluationPanel::showSelected() {
  updateLabelCurve();
  const int i = selectedRow();
  if (i < 0 || i >= records_.size()) {
    confusion_->clear(records_.isEmpty()
                          ? tr("Run an evaluation: its confusion matrix appears here.")
                          : tr("Select a result to see its confusion matrix."));
    return;
  }
  const EvalRecord& r = records_[i];
  if (r.confusion.empty()) {
    confusion_->clear(tr("This result has no confusion matrix (saved by pretext-cli eval)."));
    return;
  }
  QVector<qint64> counts(r.confusion.begin(), r.confusion.end());
  QStringList names;
  for (const auto& n : r.classNames) names << q(n);
  const QString run = r.run.empty() ? tr("untrained") : QFileInfo(q(r.run)).fileName();
  confusion_->setMatrix(counts, names,
                        tr("%1 · %2 · step %3 · top-1 %4%")
                            .arg(q(r.protocolTitle()), run)
                            .arg(r.step)
                            .arg(r.top1, 0, 'f', 1));
}

void EvaluationPanel::exportCsvDialog() {
  const QString path = QFileDialog::getSaveFileName(
      this, tr("Export the results"), QStringLiteral("evaluations.csv"), tr("CSV files (*.csv)"));
  if (!path.isEmpty()) exportCsv(path);
}

bool EvaluationPanel::exportCsv(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) {
    error_->setText(tr("%1: cannot write (%2)").arg(path, f.errorString()));
    error_->show();
    return false;
  }
  // Quote every text field; numbers stay bare so spreadsheets read them as numbers.
  auto text = [](const std::string& v) {
    return QLatin1Char('"') + q(v).replace(QLatin1Char('"'), QStringLiteral("\"\"")) +
           QLatin1Char('"');
  };
  QTextStream out(&f);
  out << "run,method,data,protocol,random_init,settings,step,top1,top5,train_images,test_images,"
         "seconds,time,labels_per_class\n";
  for (const EvalRecord& r : records_)
    out << text(r.run) << ',' << text(r.method) << ',' << text(r.data) << ',' << text(r.protocol)
        << ',' << (r.randomInit ? "true" : "false") << ',' << text(r.settings) << ',' << r.step
        << ',' << QString::number(r.top1, 'f', 4) << ',' << QString::number(r.top5, 'f', 4) << ','
        << r.trainImages << ',' << r.testImages << ',' << QString::number(r.seconds, 'f', 2) << ','
        << text(r.time) << ',' << r.labelsPerClass << '\n';
  out.flush();
  if (f.error() != QFile::NoError) {
    error_->setText(tr("%1: writing failed (%2)").arg(path, f.errorString()));
    error_->show();
    return false;
  }
  error_->hide();
  stage_->setText(tr("%1 results saved to %2").arg(records_.size()).arg(path));
  return true;
}

}  // namespace pretext
