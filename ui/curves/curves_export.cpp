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


// The curves panel: PNG, PDF and CSV export.
namespace pretext {

namespace {

QString csvField(const QString& s) {
  if (!s.contains(',') && !s.contains('"') && !s.contains('\n')) return s;
  QString q = s;
  q.replace('"', QStringLiteral("\"\""));
  return '"' + q + '"';
}

}  // namespace

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
