#include "ui/curves_panel.h"

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

#include "core/util/error.h"
#include "ui/session_controller.h"

namespace pretext {

namespace {

// matplotlib's tab10 (as viz::categoricalColors, without pulling LibTorch headers into ui/).
const QColor kPalette[] = {QColor(31, 119, 180),  QColor(255, 127, 14),  QColor(44, 160, 44),
                           QColor(214, 39, 40),   QColor(148, 103, 189), QColor(140, 86, 75),
                           QColor(227, 119, 194), QColor(127, 127, 127), QColor(188, 189, 34),
                           QColor(23, 190, 207)};
constexpr int kPaletteSize = 10;
const QColor kLiveColor = kPalette[0];
// Method metrics get their own colours, away from the live run's blue and the first overlays'.
const int kMetricColors[] = {2, 4, 9, 5, 6, 8};

QIcon swatch(const QColor& c) {
  QPixmap pm(12, 12);
  pm.fill(Qt::transparent);
  QPainter p(&pm);
  p.setRenderHint(QPainter::Antialiasing);
  p.setPen(Qt::NoPen);
  p.setBrush(c);
  p.drawRoundedRect(QRectF(1, 1, 10, 10), 2, 2);
  return QIcon(pm);
}

QColor faded(QColor c, int alpha) {
  c.setAlpha(alpha);
  return c;
}

// One line of "method · backbone · data · N epochs" from a run's experiment.json.
QString describeRun(const QString& dir) {
  QFile f(QDir(dir).filePath("experiment.json"));
  if (!f.open(QIODevice::ReadOnly)) return {};
  const QJsonObject o = QJsonDocument::fromJson(f.readAll()).object();
  QStringList parts;
  auto sub = [&](const char* section, const char* key) {
    return o.value(section).toObject().value(key);
  };
  if (const QString m = sub("method", "name").toString(); !m.isEmpty()) parts << m;
  if (const QString b = sub("backbone", "name").toString(); !b.isEmpty()) parts << b;
  if (const QString d = sub("data", "source").toString(); !d.isEmpty()) parts << d;
  if (const int e = sub("schedule", "epochs").toInt(); e > 0)
    parts << QObject::tr("%n epoch(s)", nullptr, e);
  return parts.join(QStringLiteral(" · "));
}

QString csvField(const QString& s) {
  if (!s.contains(',') && !s.contains('"') && !s.contains('\n')) return s;
  QString q = s;
  q.replace('"', QStringLiteral("\"\""));
  return '"' + q + '"';
}

}  // namespace

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
    g.raw =
        plot_->addCurve(CurvesPlot::MetricsRow, name + tr(" (raw)"), QPen(faded(g.color, 70), 1));
    g.raw->setProperty("raw", true);
    g.smooth = plot_->addCurve(CurvesPlot::MetricsRow, name, QPen(g.color, 2), name);
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

// ---- comparison runs --------------------------------------------------------------------------

QColor CurvesPanel::nextOverlayColor() const {
  // The first palette colour not in use (blue is the live run's).
  for (int i = 1; i < kPaletteSize * 3; ++i) {
    const QColor c = kPalette[i % kPaletteSize];
    if (i % kPaletteSize == 0) continue;
    bool used = false;
    for (const auto& o : overlays_) used = used || o->color == c;
    if (!used) return c;
  }
  return kPalette[1 + overlays_.size() % (kPaletteSize - 1)];
}

void CurvesPanel::setOverlay(const QString& runDir, bool shown) {
  auto it = std::find_if(overlays_.begin(), overlays_.end(),
                         [&](const auto& o) { return o->dir == runDir; });
  if (!shown) {
    if (it == overlays_.end()) return;
    plot_->removeCurve((*it)->loss);
    plot_->removeCurve((*it)->knn);
    overlays_.erase(it);
    syncRunItem(runDir);
    updatePlot();
    return;
  }
  if (it != overlays_.end()) return;
  auto o = std::make_unique<Overlay>();
  o->dir = runDir;
  o->name = QFileInfo(runDir).fileName();
  try {
    o->curves.load(runDir, smoothing_);
  } catch (const Error& e) {
    showMessage(QString::fromStdString(e.what()));
    syncRunItem(runDir);
    return;
  }
  o->color = nextOverlayColor();
  o->loss = plot_->addCurve(CurvesPlot::LossRow, o->name, QPen(o->color, 1.6), o->name);
  o->knn = plot_->addCurve(CurvesPlot::KnnRow, o->name, QPen(o->color, 1.6), o->name);
  o->knn->setScatterStyle(
      QCPScatterStyle(QCPScatterStyle::ssDiamond, QPen(o->color, 1.5), Qt::white, 6));
  overlays_.push_back(std::move(o));
  syncRunItem(runDir);
  updatePlot();
}

void CurvesPanel::syncRunItem(const QString& runDir) {
  const Overlay* overlay = nullptr;
  for (const auto& o : overlays_)
    if (o->dir == runDir) overlay = o.get();
  for (int i = 0; i < runList_->count(); ++i) {
    QListWidgetItem* item = runList_->item(i);
    if (item->data(Qt::UserRole).toString() != runDir) continue;
    updatingRuns_ = true;
    item->setCheckState(overlay ? Qt::Checked : Qt::Unchecked);
    item->setIcon(overlay ? swatch(overlay->color) : swatch(Qt::transparent));
    updatingRuns_ = false;
  }
}

QVector<QCPGraph*> CurvesPanel::overlayGraphs(const QString& runDir) const {
  for (const auto& o : overlays_)
    if (o->dir == runDir) return {o->loss, o->knn};
  return {};
}

QStringList CurvesPanel::listedRuns() const {
  QStringList out;
  for (int i = 0; i < runList_->count(); ++i)
    out << runList_->item(i)->data(Qt::UserRole).toString();
  return out;
}

void CurvesPanel::refreshRuns() {
  const QString folder = controller_ ? controller_->runsFolder() : QString();
  scannedFolder_ = folder;
  updatingRuns_ = true;
  runList_->clear();
  QFileInfoList runs;
  if (!folder.isEmpty()) {
    const QDir dir(folder);
    for (const QFileInfo& fi : dir.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot)) {
      const QDir run(fi.absoluteFilePath());
      if (run.exists("experiment.json") && run.exists("metrics.csv")) runs << fi;
    }
  }
  // Newest first: the run you just finished is the one you want to compare against.
  std::sort(runs.begin(), runs.end(), [](const QFileInfo& a, const QFileInfo& b) {
    return QFileInfo(QDir(a.absoluteFilePath()).filePath("metrics.csv")).lastModified() >
           QFileInfo(QDir(b.absoluteFilePath()).filePath("metrics.csv")).lastModified();
  });
  const QString liveCanonical = QFileInfo(liveDir_).canonicalFilePath();
  for (const QFileInfo& fi : runs) {
    const QString path = fi.absoluteFilePath();
    if (!liveCanonical.isEmpty() && fi.canonicalFilePath() == liveCanonical) continue;
    auto* item = new QListWidgetItem(fi.fileName(), runList_);
    item->setData(Qt::UserRole, path);
    item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable);
    const QString about = describeRun(path);
    const QString when = QFileInfo(QDir(path).filePath("metrics.csv"))
                             .lastModified()
                             .toString(QStringLiteral("yyyy-MM-dd hh:mm"));
    item->setToolTip(QStringLiteral("%1\n%2\nlast written %3").arg(path, about, when));
    item->setCheckState(Qt::Unchecked);
    item->setIcon(swatch(Qt::transparent));
  }
  updatingRuns_ = false;
  // Overlays stay even when their folder went missing from the list; keep the checks true.
  for (const auto& o : overlays_) syncRunItem(o->dir);
  // The folder's own name reads better than a long path; the tooltip has the path.
  const QString shortName = QFileInfo(folder).fileName();
  runsHint_->setToolTip(QDir::toNativeSeparators(QFileInfo(folder).absoluteFilePath()));
  if (folder.isEmpty())
    runsHint_->setText(tr("No runs folder."));
  else if (runList_->count() == 0)
    runsHint_->setText(tr("No earlier runs in \u201c%1\u201d yet.").arg(shortName));
  else
    runsHint_->setText(
        tr("%n run(s) in \u201c%1\u201d", nullptr, runList_->count()).arg(shortName));
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
  bool anyMetric = false;
  for (auto& [name, g] : metricGraphs_) {
    const Curve* c = live_.metric(name);
    const bool shown = c && metricShown(name);
    g.raw->setVisible(shown && smoothing);
    g.smooth->setVisible(shown);
    if (!c) continue;
    setCurveData(g.raw, c->raw, live_, lo, hi, maxPoints);
    setCurveData(g.smooth, smoothing ? c->smoothed : c->raw, live_, lo, hi, maxPoints);
    anyMetric = anyMetric || (shown && !c->raw.empty());
  }
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
  for (QCPLegend* l : {lossLegend, knnLegend, metricLegend}) l->clearItems();
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
      it->second.smooth->addToLegend(metricLegend);
  }
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

QString CurvesPanel::message() const { return message_->isHidden() ? QString() : message_->text(); }

// ---- export ---------------------------------------------------------------------------------

void CurvesPanel::exportPng(const QString& path, int width, int height) const {
  if (width <= 0 || height <= 0) {
    width = plot_->width() > 50 ? plot_->width() : 1200;
    height = plot_->height() > 50 ? plot_->height() : 900;
  }
  // Twice the pixels: sharp when pasted into a paper or slide.
  if (!plot_->savePng(path, width, height, 2.0))
    throw Error(path.toStdString() + ": could not write the PNG (is the folder writable?)");
}

void CurvesPanel::exportPdf(const QString& path, int width, int height) const {
  if (width <= 0 || height <= 0) {
    width = plot_->width() > 50 ? plot_->width() : 1200;
    height = plot_->height() > 50 ? plot_->height() : 900;
  }
  if (!plot_->savePdf(path, width, height, QCP::epNoCosmetic, QStringLiteral("Pretext"),
                      tr("Training curves")))
    throw Error(path.toStdString() + ": could not write the PDF (is the folder writable?)");
}

void CurvesPanel::exportCsv(const QString& path) const {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text))
    throw Error(path.toStdString() + ": cannot write the CSV (" + f.errorString().toStdString() +
                ")");
  QTextStream out(&f);
  out << "run,series,step,epoch,wall_s,value\n";
  auto write = [&](const QString& run, const QString& series, const MetricSeries& s,
                   const RunCurves& curves) {
    const QString r = csvField(run), n = csvField(series);
    for (size_t i = 0; i < s.size(); ++i) {
      const double step = s.x(i);
      out << r << ',' << n << ',' << static_cast<qint64>(step) << ','
          << QString::number(curves.toX(step, CurveX::Epochs), 'g', 8) << ','
          << QString::number(curves.toX(step, CurveX::WallTime), 'g', 8) << ','
          << QString::number(s.y(i), 'g', 8) << '\n';
    }
  };
  const bool smoothing = smoothing_ > 0;
  write(liveName_, QStringLiteral("loss"), live_.loss().raw, live_);
  if (smoothing) write(liveName_, QStringLiteral("loss_smoothed"), live_.loss().smoothed, live_);
  write(liveName_, QStringLiteral("lr"), live_.lr().raw, live_);
  write(liveName_, QStringLiteral("knn_top1"), live_.knn().raw, live_);
  for (const QString& name : live_.metricNames()) {
    if (!metricShown(name)) continue;
    const Curve* c = live_.metric(name);
    write(liveName_, name, c->raw, live_);
    if (smoothing) write(liveName_, name + QStringLiteral("_smoothed"), c->smoothed, live_);
  }
  for (const auto& o : overlays_) {
    write(o->name, QStringLiteral("loss"), o->curves.loss().raw, o->curves);
    if (smoothing)
      write(o->name, QStringLiteral("loss_smoothed"), o->curves.loss().smoothed, o->curves);
    write(o->name, QStringLiteral("knn_top1"), o->curves.knn().raw, o->curves);
  }
  out.flush();
  if (out.status() != QTextStream::Ok || !f.flush())
    throw Error(path.toStdString() + ": write failed (disk full?)");
}

void CurvesPanel::exportWithDialog(const QString& kind) {
  const QString base = QFileInfo(liveDir_).isDir() ? liveDir_ : QDir::homePath();
  const QString suggested = QDir(base).filePath(
      (liveDir_.isEmpty() ? QStringLiteral("curves") : liveName_ + "-curves") + "." + kind);
  const QString filter = kind == "png"   ? tr("PNG image (*.png)")
                         : kind == "pdf" ? tr("PDF document (*.pdf)")
                                         : tr("CSV table (*.csv)");
  QString path = QFileDialog::getSaveFileName(this, tr("Export curves"), suggested, filter);
  if (path.isEmpty()) return;
  if (!path.endsWith("." + kind, Qt::CaseInsensitive)) path += "." + kind;
  try {
    if (kind == "png")
      exportPng(path);
    else if (kind == "pdf")
      exportPdf(path);
    else
      exportCsv(path);
  } catch (const Error& e) {
    QMessageBox::warning(this, tr("Export failed"), QString::fromStdString(e.what()));
  }
}

}  // namespace pretext
