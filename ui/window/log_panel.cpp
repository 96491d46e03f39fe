#include "ui/window/log_panel.h"

#include <QDateTime>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QVBoxLayout>

#include "ui/window/session_controller.h"

namespace pretext {

LogPanel::LogPanel(SessionController* controller, QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(2, 2, 2, 2);
  view_ = new QPlainTextEdit(this);
  view_->setReadOnly(true);
  view_->setMaximumBlockCount(5000);
  view_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  layout->addWidget(view_);
  connect(controller, &SessionController::logLines, this, &LogPanel::appendLines);
  connect(controller, &SessionController::failed, this, &LogPanel::appendError);
  connect(controller, &SessionController::inspectionFailed, this,
          [this](const QString& m) { appendError(tr("inspection failed: %1").arg(m)); });
}

QString LogPanel::text() const { return view_->toPlainText(); }

void LogPanel::appendLines(const QStringList& lines) {
  const QString time = QTime::currentTime().toString("HH:mm:ss");
  for (const QString& line : lines) view_->appendPlainText(time + "  " + line);
}

void LogPanel::appendError(const QString& message) {
  const QString time = QTime::currentTime().toString("HH:mm:ss");
  view_->appendHtml(QString("<span style='color:#c62828'>%1  error: %2</span>")
                        .arg(time, message.toHtmlEscaped()));
}

}  // namespace pretext
