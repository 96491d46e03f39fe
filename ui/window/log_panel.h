#pragma once
// The log: the trainer's lines, and errors (engine failures, failed inspections) in red.
#include <QWidget>

class QPlainTextEdit;

namespace pretext {

class SessionController;

class LogPanel : public QWidget {
  Q_OBJECT

 public:
  explicit LogPanel(SessionController* controller, QWidget* parent = nullptr);
  QString text() const;

 public slots:
  void appendLines(const QStringList& lines);
  void appendError(const QString& message);

 private:
  QPlainTextEdit* view_;
};

}  // namespace pretext
