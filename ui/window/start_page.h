#pragma once
// The first tab: what Pretext is, the ready-trained examples (open one and look at once), the
// lessons (the lectures' figures, replayable), the presets grouped by what they teach, and the last
// runs of the runs folder.
#include <QString>
#include <QWidget>

class QGridLayout;
class QVBoxLayout;

namespace pretext {

class StartPage : public QWidget {
  Q_OBJECT

 public:
  explicit StartPage(QWidget* parent = nullptr);
  // Re-reads the examples and the last runs of `runsFolder`.
  void refresh(const QString& runsFolder);

 signals:
  void exampleRequested(const QString& name);
  void presetRequested(const QString& name);
  void lessonRequested(const QString& name);
  void runRequested(const QString& dir);

 private:
  void fillExamples();
  void fillPresets();
  void fillLessons(QVBoxLayout* layout);
  void fillLastRuns(const QString& runsFolder);

  QGridLayout* examples_ = nullptr;
  QVBoxLayout* presets_ = nullptr;
  QVBoxLayout* lastRuns_ = nullptr;
};

}  // namespace pretext
