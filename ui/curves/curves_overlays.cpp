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

#include "core/util/error.h"
#include "ui/window/session_controller.h"

#include "ui/curves/curves_style.h"

// The curves panel: earlier runs of the runs folder overlaid for comparison.
namespace pretext {

using namespace curves;

namespace {

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

}  // namespace

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

}  // namespace pretext
