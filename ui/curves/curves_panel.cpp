#include "ui/curves/curves_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QListWidget>
#include <QMenu>
#include <QMessageBox>
#include <QPainter>
#include <QPushButton>
#include <QSlider>
#include <QSplitter>
#include <QTextStream>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>
#include <cmath>

#include "core/train/events.h"
#include "core/util/error.h"
#include "ui/curves/curves_style.h"
#include "ui/window/session_controller.h"

namespace pretext {

using namespace curves;

CurvesPanel::CurvesPanel(SessionController* controller, QWidget* parent)
    : QWidget(parent), controller_(controller) {
  plot_ = new CurvesPlot(this);
  liveName_ = tr("current run");
  message_ = new QLabel(this);
  message_->setWordWrap(true);
  message_->setStyleSheet(
      QStringLiteral("QLabel { color: #8a1f11; background: #fdecea; border: 1px solid #f5c6c0;"
                     " border-radius: 3px; padding: 4px 6px; }"));
  message_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  message_->hide();
  status_ = new QLabel(this);
  status_->setTextFormat(Qt::RichText);
  status_->setStyleSheet(QStringLiteral("QLabel { color: #555; }"));
  status_->setMinimumWidth(50);
  status_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  status_->setWordWrap(true);  // two lines in a narrow window rather than a clipped one

  auto* plotColumn = new QWidget(this);
  auto* pv = new QVBoxLayout(plotColumn);
  pv->setContentsMargins(0, 0, 0, 0);
  pv->setSpacing(4);
  pv->addWidget(message_);
  collapseAlarm_ = new QLabel(this);
  collapseAlarm_->setObjectName("collapseAlarm");
  collapseAlarm_->setWordWrap(true);
  collapseAlarm_->setTextFormat(Qt::RichText);
  collapseAlarm_->setStyleSheet(QStringLiteral(
      "QLabel { color: white; background: #c0392b; border-radius: 3px; padding: 6px 8px; }"));
  collapseAlarm_->hide();
  pv->addWidget(collapseAlarm_);
  pv->addWidget(plot_, 1);
  pv->addWidget(status_);

  auto* splitter = new QSplitter(Qt::Horizontal, this);
  splitter->addWidget(plotColumn);
  splitter->addWidget(buildSidebar());
  splitter->setStretchFactor(0, 1);
  splitter->setStretchFactor(1, 0);
  splitter->setCollapsible(0, false);
  splitter->setSizes({720, 200});

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);
  layout->setSpacing(6);
  layout->addWidget(buildToolbar());
  layout->addWidget(splitter, 1);

  // The live run's graphs always exist; their data comes and goes.
  const QColor c = kLiveColor;
  lossRaw_ = plot_->addCurve(CurvesPlot::LossRow, tr("loss (raw)"), QPen(faded(c, 60), 1));
  lossRaw_->setProperty("raw", true);
  lossSmooth_ = plot_->addCurve(CurvesPlot::LossRow, tr("loss"), QPen(c, 2), tr("current run"));
  lossSmooth_->setProperty("rawGraph", QVariant::fromValue<QObject*>(lossRaw_));
  knn_ = plot_->addCurve(CurvesPlot::KnnRow, tr("kNN top-1"), QPen(c, 2), tr("current run"));
  knn_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(c, 1.5), Qt::white, 6));
  lr_ = plot_->addCurve(CurvesPlot::LrRow, tr("learning rate"), QPen(c, 1.5));
  healthy_ = plot_->addCurve(CurvesPlot::CollapseRow, tr("healthy std 1/√D"),
                             QPen(QColor(90, 90, 90), 1.2, Qt::DashLine));
  live_.setSmoothing(smoothing_);

  connect(plot_, &CurvesPlot::userChangedView, this, [this] { autoFit_ = false; });
  connect(plot_, &CurvesPlot::xRangeChanged, this, [this] {
    if (!autoFit_) scheduleUpdate();  // re-decimate for the new window
  });
  connect(plot_, &CurvesPlot::resetRequested, this, &CurvesPanel::resetView);

  if (controller_) {
    connect(controller_, &SessionController::started, this, &CurvesPanel::onStarted);
    connect(controller_, &SessionController::stepsArrived, this, &CurvesPanel::addSteps);
    connect(controller_, &SessionController::evaluationsArrived, this,
            &CurvesPanel::addEvaluations);
    connect(controller_, &SessionController::runOpened, this, &CurvesPanel::loadRun);
    // A followed run that was resumed cut its metrics back: its curves are read again.
    connect(controller_, &SessionController::followRewound, this, &CurvesPanel::loadRun);
    connect(controller_, &SessionController::finished, this, [this] { refreshRuns(); });
  }
  fitMetricList();
  refreshRuns();
  updatePlot();
}

CurvesPanel::~CurvesPanel() = default;

QWidget* CurvesPanel::buildToolbar() {
  auto* bar = new QWidget(this);
  auto* h = new QHBoxLayout(bar);
  h->setContentsMargins(0, 0, 0, 0);
  h->setSpacing(6);

  xCombo_ = new QComboBox(bar);
  xCombo_->addItem(tr("Steps"), static_cast<int>(CurveX::Steps));
  xCombo_->addItem(tr("Epochs"), static_cast<int>(CurveX::Epochs));
  xCombo_->addItem(tr("Wall time"), static_cast<int>(CurveX::WallTime));
  xCombo_->setToolTip(tr("Unit of the shared x axis"));
  connect(xCombo_, QOverload<int>::of(&QComboBox::currentIndexChanged), this,
          [this](int i) { setXMode(static_cast<CurveX>(xCombo_->itemData(i).toInt())); });

  smoothSlider_ = new QSlider(Qt::Horizontal, bar);
  smoothSlider_->setRange(0, 999);
  smoothSlider_->setValue(static_cast<int>(std::lround(smoothing_ * 1000)));
  smoothSlider_->setMinimumWidth(70);
  smoothSlider_->setMaximumWidth(160);
  smoothSlider_->setToolTip(
      tr("Exponential moving average of the loss and method metrics, as TensorBoard's "
         "(debiased, so the start is not pulled towards 0). 0 = raw values."));
  smoothValue_ = new QLabel(bar);
  smoothValue_->setMinimumWidth(smoothValue_->fontMetrics().horizontalAdvance("0.000") + 4);
  smoothValue_->setText(QString::number(smoothing_, 'f', 3));
  connect(smoothSlider_, &QSlider::valueChanged, this, [this](int v) { setSmoothing(v / 1000.0); });

  logCheck_ = new QCheckBox(tr("Log loss"), bar);
  logCheck_->setToolTip(tr("Logarithmic y axis for the loss"));
  connect(logCheck_, &QCheckBox::toggled, this, &CurvesPanel::setLogScale);

  auto* reset = new QToolButton(bar);
  reset->setText(tr("Reset view"));
  reset->setToolTip(
      tr("Fit all curves and follow new points again (or double-click the plot).\n"
         "Drag to pan, wheel to zoom."));
  connect(reset, &QToolButton::clicked, this, &CurvesPanel::resetView);

  auto* exportButton = new QToolButton(bar);
  exportButton->setText(tr("Export"));
  exportButton->setPopupMode(QToolButton::InstantPopup);
  auto* menu = new QMenu(exportButton);
  menu->addAction(tr("Image (PNG)…"), this, [this] { exportWithDialog("png"); });
  menu->addAction(tr("Vector (PDF)…"), this, [this] { exportWithDialog("pdf"); });
  menu->addAction(tr("Data (CSV)…"), this, [this] { exportWithDialog("csv"); });
  exportButton->setMenu(menu);

  h->addWidget(new QLabel(tr("X axis"), bar));
  h->addWidget(xCombo_);
  h->addSpacing(8);
  h->addWidget(new QLabel(tr("Smoothing"), bar));
  h->addWidget(smoothSlider_, 1);
  h->addWidget(smoothValue_);
  h->addSpacing(8);
  h->addWidget(logCheck_);
  h->addStretch(1);
  h->addWidget(reset);
  h->addWidget(exportButton);
  return bar;
}

QWidget* CurvesPanel::buildSidebar() {
  auto* side = new QWidget(this);
  side->setMinimumWidth(150);
  auto* v = new QVBoxLayout(side);
  v->setContentsMargins(4, 0, 0, 0);
  v->setSpacing(4);

  auto heading = [side](const QString& text) {
    auto* l = new QLabel(text, side);
    QFont f = l->font();
    f.setBold(true);
    l->setFont(f);
    return l;
  };

  metricList_ = new QListWidget(side);
  metricList_->setToolTip(tr("The method's own metrics, as the method reports them each step"));
  metricList_->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);
  connect(metricList_, &QListWidget::itemChanged, this, [this](QListWidgetItem* item) {
    setMetricShown(item->data(Qt::UserRole).toString(), item->checkState() == Qt::Checked);
  });

  runList_ = new QListWidget(side);
  runList_->setToolTip(tr("Check a run to overlay its loss and kNN curves"));
  runList_->setTextElideMode(Qt::ElideMiddle);
  runList_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  connect(runList_, &QListWidget::itemChanged, this, [this](QListWidgetItem* item) {
    if (updatingRuns_) return;
    setOverlay(item->data(Qt::UserRole).toString(), item->checkState() == Qt::Checked);
  });
  runsHint_ = new QLabel(side);
  runsHint_->setWordWrap(true);
  runsHint_->setStyleSheet(QStringLiteral("QLabel { color: #777; }"));

  auto* refresh = new QPushButton(tr("Refresh"), side);
  refresh->setToolTip(tr("Scan the runs folder again"));
  connect(refresh, &QPushButton::clicked, this, &CurvesPanel::refreshRuns);
  auto* runsHeader = new QHBoxLayout;
  runsHeader->setContentsMargins(0, 6, 0, 0);
  runsHeader->addWidget(heading(tr("Compare runs")));
  runsHeader->addStretch(1);
  runsHeader->addWidget(refresh);

  metricsHeading_ = heading(tr("Method metrics"));
  v->addWidget(metricsHeading_);
  v->addWidget(metricList_);
  v->addLayout(runsHeader);
  v->addWidget(runList_, 1);
  v->addWidget(runsHint_);
  return side;
}

// ---- data in ---------------------------------------------------------------------------

void CurvesPanel::clear() {
  live_.clear();
  removeMetricGraphs();
  metricList_->clear();
  fitMetricList();
  metricShown_.clear();
  autoFit_ = true;
  message_->hide();
  collapsed_ = false;
  collapseAlarm_->hide();
  updatePlot();
}

void CurvesPanel::onStarted(const RunInfo& info) {
  clear();
  setLiveName(info.runDir);
  // A resumed run continues its own history: show it before the new points arrive.
  if (info.startStep > 0 && !info.runDir.isEmpty()) {
    try {
      live_.load(info.runDir, smoothing_, info.startStep);
    } catch (const Error&) {
      // No history to show is fine; the live points still come.
    }
    ensureMetricGraphs();
  }
  refreshRuns();
  scheduleUpdate();
}

void CurvesPanel::setLiveName(const QString& runDir) {
  liveDir_ = runDir;
  liveName_ = runDir.isEmpty() ? tr("current run") : QFileInfo(runDir).fileName();
  lossSmooth_->setName(liveName_);
  knn_->setName(liveName_);
  // The live run is not also an overlay of itself.
  if (!runDir.isEmpty()) setOverlay(runDir, false);
}

void CurvesPanel::addSteps(const QVector<StepPoint>& points) {
  if (points.isEmpty()) return;
  const int before = live_.metricNames().size();
  for (const StepPoint& p : points) live_.addStep(p);
  if (live_.metricNames().size() != before) ensureMetricGraphs();
  scheduleUpdate();
}

void CurvesPanel::addEvaluations(const QVector<EvalPoint>& points) {
  if (points.isEmpty()) return;
  for (const EvalPoint& p : points) live_.addEval(p);
  scheduleUpdate();
}

void CurvesPanel::loadRun(const QString& runDir) {
  RunCurves loaded;
  try {
    loaded.load(runDir, smoothing_);
  } catch (const Error& e) {
    showMessage(QString::fromStdString(e.what()));
    return;
  }
  clear();
  live_ = std::move(loaded);
  setLiveName(runDir);
  ensureMetricGraphs();
  refreshRuns();
  updatePlot();
}

void CurvesPanel::ensureMetricGraphs() {
  for (const QString& name : live_.metricNames()) {
    if (metricGraphs_.count(name)) continue;
    const int index = static_cast<int>(metricGraphs_.size());
    MetricGraphs g;
    g.color = kPalette[kMetricColors[index % 6]];
    // The collapse measures get their own row: std (left scale) and effective rank (right).
    const bool collapse = isCollapseMetric(name);
    const auto row = collapse ? CurvesPlot::CollapseRow : CurvesPlot::MetricsRow;
    const bool right = name == QLatin1String("eff_rank");
    g.raw = plot_->addCurve(row, name + tr(" (raw)"), QPen(faded(g.color, 70), 1), {}, right);
    g.raw->setProperty("raw", true);
    g.smooth = plot_->addCurve(row, name, QPen(g.color, 2), name, right);
    g.smooth->setProperty("rawGraph", QVariant::fromValue<QObject*>(g.raw));
    metricGraphs_[name] = g;
    if (!metricShown_.count(name)) metricShown_[name] = true;

    QSignalBlocker block(metricList_);
    auto* item = new QListWidgetItem(swatch(g.color), name, metricList_);
    item->setData(Qt::UserRole, name);
    item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable);
    item->setCheckState(metricShown_[name] ? Qt::Checked : Qt::Unchecked);
  }
  fitMetricList();
}

void CurvesPanel::fitMetricList() {
  // As tall as its entries (up to six), so the runs list below gets the rest.
  const int rows = std::clamp(metricList_->count(), 1, 6);
  const int rowHeight = std::max(metricList_->sizeHintForRow(0), fontMetrics().height() + 4);
  metricList_->setFixedHeight(rows * rowHeight + 2 * metricList_->frameWidth() + 4);
  // No metrics (yet): no empty box.
  metricList_->setVisible(metricList_->count() > 0);
  metricsHeading_->setVisible(metricList_->count() > 0);
}

void CurvesPanel::removeMetricGraphs() {
  for (auto& [name, g] : metricGraphs_) {
    plot_->removeCurve(g.raw);
    plot_->removeCurve(g.smooth);
  }
  metricGraphs_.clear();
}

QCPGraph* CurvesPanel::metricGraph(const QString& name, bool smoothed) const {
  auto it = metricGraphs_.find(name);
  if (it == metricGraphs_.end()) return nullptr;
  return smoothed ? it->second.smooth : it->second.raw;
}

bool CurvesPanel::metricShown(const QString& name) const {
  auto it = metricShown_.find(name);
  return it != metricShown_.end() && it->second;
}

void CurvesPanel::setMetricShown(const QString& name, bool shown) {
  metricShown_[name] = shown;
  for (int i = 0; i < metricList_->count(); ++i) {
    QListWidgetItem* item = metricList_->item(i);
    if (item->data(Qt::UserRole).toString() != name) continue;
    QSignalBlocker block(metricList_);
    item->setCheckState(shown ? Qt::Checked : Qt::Unchecked);
  }
  updatePlot();
}

// ---- settings ----------------------------------------------------------------------------

void CurvesPanel::setSmoothing(double weight) {
  weight = std::clamp(weight, 0.0, 0.999);
  if (weight == smoothing_) return;
  smoothing_ = weight;
  {
    QSignalBlocker block(smoothSlider_);
    smoothSlider_->setValue(static_cast<int>(std::lround(weight * 1000)));
  }
  smoothValue_->setText(QString::number(weight, 'f', 3));
  live_.setSmoothing(weight);
  for (auto& o : overlays_) o->curves.setSmoothing(weight);
  updatePlot();
}

void CurvesPanel::setXMode(CurveX mode) {
  if (mode == plot_->xMode()) return;
  // Keep a zoomed window on the same steps in the new unit.
  const QCPRange old = plot_->xRange();
  const CurveX before = plot_->xMode();
  const double s0 = live_.toStep(old.lower, before), s1 = live_.toStep(old.upper, before);
  plot_->setXMode(mode);
  {
    QSignalBlocker block(xCombo_);
    xCombo_->setCurrentIndex(xCombo_->findData(static_cast<int>(mode)));
  }
  updatePlot();
  if (!autoFit_ && !live_.empty()) {
    plot_->rect(CurvesPlot::LossRow)
        ->axis(QCPAxis::atBottom)
        ->setRange(QCPRange(live_.toX(s0, mode), live_.toX(s1, mode)));
    autoFit_ = false;  // that range change was ours, but the view stays the user's
    updatePlot();
  }
}

void CurvesPanel::setLogScale(bool log) {
  if (log == plot_->logLoss()) return;
  {
    QSignalBlocker block(logCheck_);
    logCheck_->setChecked(log);
  }
  plot_->setLogLoss(log);
  // A linear window makes no sense on a log axis (it may include 0): refit.
  autoFit_ = true;
  updatePlot();
}

void CurvesPanel::resetView() {
  autoFit_ = true;
  updatePlot();
}


// ---- plotting -----------------------------------------------------------------------------

void CurvesPanel::scheduleUpdate() {
  if (!isVisible()) {
    stale_ = true;  // plotted when shown: a hidden panel spends nothing per drain
    return;
  }
  if (updatePending_) return;
  updatePending_ = true;
  // Steps and evaluations of one drain arrive back to back: one rebuild and replot for both.
  // A rebuild that got expensive (a huge run) waits ten times its cost, so the panel never
  // takes more than about a tenth of the GUI thread whatever the number of points.
  const int delay = static_cast<int>(std::min<qint64>(250, lastUpdateMs_ * 10));
  QTimer::singleShot(delay, this, [this] {
    updatePending_ = false;
    updatePlot();
  });
}

void CurvesPanel::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (controller_ && controller_->runsFolder() != scannedFolder_) refreshRuns();
  if (stale_) scheduleUpdate();
}

bool CurvesPanel::isCollapseMetric(const QString& name) {
  return name == QLatin1String("emb_std") || name == QLatin1String("eff_rank");
}

void CurvesPanel::setCurveData(QCPGraph* g, const MetricSeries& byStep, const RunCurves& run,
                               double stepLo, double stepHi, int maxPoints) const {
  // Copy only the window (when zoomed); the whole series is decimated in place.
  MetricSeries sliced;
  const MetricSeries* window = &byStep;
  if (std::isfinite(stepLo)) {
    sliced = byStep.slice(stepLo, stepHi);
    window = &sliced;
  }
  const MetricSeries shown = window->decimated(maxPoints);
  QVector<double> keys(static_cast<int>(shown.size())), values(keys.size());
  const CurveX mode = plot_->xMode();
  for (int i = 0; i < keys.size(); ++i) {
    keys[i] = run.toX(shown.x(i), mode);
    values[i] = shown.y(i);
  }
  g->setData(keys, values, true);
}

void CurvesPanel::updatePlot() {
  QElapsedTimer cost;
  cost.start();
  stale_ = false;
  const CurveX mode = plot_->xMode();
  // About two points per pixel column keeps min/max spikes visible at any zoom.
  const int maxPoints = std::max(400, 2 * plot_->rect(CurvesPlot::LossRow)->width());
  const QCPRange view = plot_->xRange();
  auto stepWindow = [&](const RunCurves& run, double* lo, double* hi) {
    if (autoFit_) {
      *lo = *hi = std::nan("");  // everything: the view is about to fit the data
    } else {
      *lo = run.toStep(view.lower, mode);
      *hi = run.toStep(view.upper, mode);
    }
  };

  const bool smoothing = smoothing_ > 0;
  double lo = 0, hi = 0;
  stepWindow(live_, &lo, &hi);
  setCurveData(lossRaw_, live_.loss().raw, live_, lo, hi, maxPoints);
  setCurveData(lossSmooth_, smoothing ? live_.loss().smoothed : live_.loss().raw, live_, lo, hi,
               maxPoints);
  lossRaw_->setVisible(smoothing);
  setCurveData(lr_, live_.lr().raw, live_, lo, hi, maxPoints);
  setCurveData(knn_, live_.knn().raw, live_, -INFINITY, INFINITY, maxPoints);
  bool anyMetric = false, anyCollapse = false;
  for (auto& [name, g] : metricGraphs_) {
    const Curve* c = live_.metric(name);
    const bool shown = c && metricShown(name);
    g.raw->setVisible(shown && smoothing);
    g.smooth->setVisible(shown);
    if (!c) continue;
    setCurveData(g.raw, c->raw, live_, lo, hi, maxPoints);
    setCurveData(g.smooth, smoothing ? c->smoothed : c->raw, live_, lo, hi, maxPoints);
    (isCollapseMetric(name) ? anyCollapse : anyMetric) |= shown && !c->raw.empty();
  }
  updateCollapse(lo, hi);
  bool anyKnn = !live_.knn().raw.empty();
  for (const auto& o : overlays_) {
    double olo = 0, ohi = 0;
    stepWindow(o->curves, &olo, &ohi);
    const Curve& loss = o->curves.loss();
    setCurveData(o->loss, smoothing ? loss.smoothed : loss.raw, o->curves, olo, ohi, maxPoints);
    setCurveData(o->knn, o->curves.knn().raw, o->curves, -INFINITY, INFINITY, maxPoints);
    anyKnn = anyKnn || !o->curves.knn().raw.empty();
  }
  rebuildLegends();
  plot_->setRowVisible(CurvesPlot::KnnRow, anyKnn);
  plot_->setRowVisible(CurvesPlot::MetricsRow, anyMetric);
  plot_->setRowVisible(CurvesPlot::CollapseRow, anyCollapse);
  plot_->setRowVisible(CurvesPlot::LrRow, !live_.lr().raw.empty());
  plot_->setPlaceholder(live_.empty() && overlays_.empty()
                            ? tr("No curves yet: start training, or open a run.\n"
                                 "Earlier runs can be overlaid from the list on the right.")
                            : QString());
  if (autoFit_) plot_->fitToData();
  updateStatus();
  plot_->replot(QCustomPlot::rpQueuedReplot);
  lastUpdateMs_ = cost.elapsed();
}

void CurvesPanel::rebuildLegends() {
  // Rebuilt rather than patched: the order (live run first, then overlays in the order they
  // were checked) stays right whatever was toggled, and it is a handful of items.
  QCPLegend* lossLegend = plot_->rowLegend(CurvesPlot::LossRow);
  QCPLegend* knnLegend = plot_->rowLegend(CurvesPlot::KnnRow);
  QCPLegend* metricLegend = plot_->rowLegend(CurvesPlot::MetricsRow);
  QCPLegend* collapseLegend = plot_->rowLegend(CurvesPlot::CollapseRow);
  for (QCPLegend* l : {lossLegend, knnLegend, metricLegend, collapseLegend}) l->clearItems();
  // Run names are long ("simclr-fashion-20261122-0955"): in a narrow plot keep their start and
  // their timestamp, so two entries still fit on one line.
  const bool narrow = plot_->width() < 720;
  auto label = [narrow](const QString& name) {
    constexpr int kMax = 22;
    if (!narrow || name.size() <= kMax) return name;
    return name.left(9) + QChar(0x2026) + name.right(kMax - 10);
  };
  lossSmooth_->setName(label(liveName_));
  knn_->setName(label(liveName_));
  for (const auto& o : overlays_) {
    o->loss->setName(label(o->name));
    o->knn->setName(label(o->name));
  }
  // The live run's entry only means something next to an overlay.
  if (!overlays_.empty()) {
    if (!live_.loss().raw.empty()) lossSmooth_->addToLegend(lossLegend);
    if (!live_.knn().raw.empty()) knn_->addToLegend(knnLegend);
  }
  for (const auto& o : overlays_) {
    o->loss->addToLegend(lossLegend);
    if (!o->curves.knn().raw.empty()) o->knn->addToLegend(knnLegend);
  }
  for (const QString& name : live_.metricNames()) {
    auto it = metricGraphs_.find(name);
    if (it != metricGraphs_.end() && it->second.smooth->visible())
      it->second.smooth->addToLegend(isCollapseMetric(name) ? collapseLegend : metricLegend);
  }
  if (healthy_->visible() && !healthy_->data()->isEmpty()) healthy_->addToLegend(collapseLegend);
  // Run names are long: fewer legend entries per line in a narrow plot.
  const int perLine = narrow ? 2 : std::clamp(plot_->width() / 340, 1, 4);
  for (int r = 0; r < CurvesPlot::RowCount; ++r) {
    QCPLegend* legend = plot_->rowLegend(static_cast<CurvesPlot::Row>(r));
    if (legend->wrap() != perLine) legend->setWrap(perLine);
    legend->setVisible(legend->itemCount() > 0);
  }
}

void CurvesPanel::updateStatus() {
  if (live_.empty()) {
    status_->setText(QString());
    return;
  }
  QLocale loc;
  QStringList parts;
  parts << QStringLiteral("<b>%1</b>").arg(liveName_.toHtmlEscaped());
  QString step = tr("step %1").arg(loc.toString(live_.lastStep()));
  if (live_.totalSteps() > 0) step += QStringLiteral(" / ") + loc.toString(live_.totalSteps());
  parts << step;
  const MetricSeries& loss = live_.loss().raw;
  if (!loss.empty()) {
    QString l = tr("loss %1").arg(QString::number(loss.y(loss.size() - 1), 'g', 4));
    const MetricSeries& sm = live_.loss().smoothed;
    if (smoothing_ > 0 && !sm.empty())
      l += tr(" (smoothed %1)").arg(QString::number(sm.y(sm.size() - 1), 'g', 4));
    parts << l;
  }
  const MetricSeries& knn = live_.knn().raw;
  if (!knn.empty()) {
    double best = knn.y(0);
    for (size_t i = 1; i < knn.size(); ++i) best = std::max(best, knn.y(i));
    parts << tr("kNN %1% (best %2%)")
                 .arg(QString::number(knn.y(knn.size() - 1), 'f', 2),
                      QString::number(best, 'f', 2));
  }
  if (live_.lastImgPerSec() > 0)
    parts << tr("%1 img/s").arg(QString::number(live_.lastImgPerSec(), 'f', 0));
  status_->setText(parts.join(QStringLiteral(" &nbsp;·&nbsp; ")));
}

void CurvesPanel::showMessage(const QString& text) {
  message_->setText(text);
  message_->setVisible(!text.isEmpty());
}

void CurvesPanel::updateCollapse(double stepLo, double stepHi) {
  // The reference line: emb_std of embeddings spread evenly over the sphere, 1/sqrt(D).
  const Curve* std = live_.metric(QStringLiteral("emb_std"));
  const qint64 dim = live_.embeddingDim();
  const bool reference = std && !std->raw.empty() && dim > 0 && metricShown(QStringLiteral("emb_std"));
  healthy_->setVisible(reference);
  if (reference) {
    const double level = 1.0 / std::sqrt(double(dim));
    double a = std->raw.x(0), b = std->raw.x(std->raw.size() - 1);
    if (std::isfinite(stepLo)) a = std::max(a, stepLo), b = std::min(b, stepHi);
    const CurveX mode = plot_->xMode();
    healthy_->setData({live_.toX(a, mode), live_.toX(b, mode)}, {level, level}, true);
    healthy_->setName(tr("healthy 1/√%1 = %2").arg(dim).arg(QString::number(level, 'g', 3)));
  }
  // The alarm, by the trainer's rule (CollapseWatch): on below kCollapseSpread once the
  // embeddings have been healthy or after the grace steps, off above twice it.
  const size_t n = std ? std->raw.size() : 0;
  const double last = n ? std->raw.y(n - 1) : -1;
  const double spread = embeddingSpread(last, dim);
  if (spread < 0) {
    collapsed_ = false;
  } else {
    CollapseWatch watch{collapsed_, false};
    for (size_t i = 0; i + 1 < n && !watch.wasHealthy; ++i)
      watch.wasHealthy = embeddingSpread(std->raw.y(i), dim) > 2 * kCollapseSpread;
    watch.update(static_cast<int64_t>(std->raw.x(n - 1)), spread);
    collapsed_ = watch.collapsed;
  }
  if (collapsed_) {
    const Curve* rank = live_.metric(QStringLiteral("eff_rank"));
    const double r = rank && !rank->raw.empty() ? rank->raw.y(rank->raw.size() - 1) : std::nan("");
    collapseAlarm_->setText(
        tr("<b>Collapse detected.</b> The embeddings have shrunk toward a single point: the std of "
           "the normalised embeddings is %1 (healthy ≈ 1/√%2 = %3), the effective rank %4 of %2 "
           "dimensions. Features of a collapsed encoder carry little information about the image.")
            .arg(QString::number(last, 'g', 2))
            .arg(dim)
            .arg(QString::number(1.0 / std::sqrt(double(dim)), 'g', 3))
            .arg(std::isfinite(r) ? QString::number(r, 'f', 1) : QStringLiteral("?")));
  }
  collapseAlarm_->setVisible(collapsed_);
}

QString CurvesPanel::collapseAlarm() const {
  return collapseAlarm_->isHidden() ? QString() : collapseAlarm_->text();
}

QString CurvesPanel::message() const { return message_->isHidden() ? QString() : message_->text(); }

}  // namespace pretext
