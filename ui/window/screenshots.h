#pragma once
// A guided tour that takes the pictures for docs/ and the README: trains a few steps, pauses,
// shows every panel in turn and saves the window as DIR/<panel>.png (plus presentation mode),
// then stops the run. Used by `pretext --screenshots DIR` and by the window test.
#include <QObject>
#include <QString>
#include <QStringList>

#include <functional>
#include <vector>

namespace pretext {

class MainWindow;

class ScreenshotTour : public QObject {
  Q_OBJECT

 public:
  ScreenshotTour(MainWindow* window, QString dir, int steps, int settleMs = 4000);
  QStringList saved() const { return saved_; }
  // Only these panels (tab names) and, when listed, "presentation"; all of them by default.
  void setPanels(const QStringList& panels) { panels_ = panels; }

 public slots:
  void run();

 signals:
  void done(bool ok);

 private:
  void next();
  void shoot(const QString& name);
  MainWindow* window_;
  QString dir_;
  int steps_;
  int settleMs_;
  std::vector<std::pair<int, std::function<void()>>> plan_;  // (delay before, action)
  size_t at_ = 0;
  QStringList saved_;
  QStringList panels_;
  bool ok_ = true;
};

}  // namespace pretext
