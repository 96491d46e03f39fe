#pragma once
// An open lesson (core/train/lesson.h), above the panels: its title, the lecture's claim and
// where it comes from, a few sentences for the class, what to look at, and the buttons that run
// it and close it. In presentation mode it stands under the method's banner.
#include <QFrame>

#include "core/train/lesson.h"

class QLabel;
class QPushButton;

namespace pretext {

class LessonCard : public QFrame {
  Q_OBJECT

 public:
  explicit LessonCard(QWidget* parent = nullptr);
  void setLesson(const Lesson& lesson);
  const Lesson& lesson() const { return lesson_; }
  bool hasLesson() const { return !lesson_.name.empty(); }
  // While the lesson trains, its Start button waits (and says so).
  void setRunning(bool running);
  QString text() const;  // everything the card says, for tests

 signals:
  void startRequested();
  void closeRequested();

 private:
  Lesson lesson_;
  QLabel* title_;
  QLabel* claim_;
  QLabel* explanation_;
  QLabel* lookAt_;
  QLabel* result_;           // what it measured: hidden until asked for (a class sees it happen)
  QPushButton* showResult_;
  QPushButton* start_;
  QPushButton* close_;
};

}  // namespace pretext
