#include "ui/window/lesson_card.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace pretext {

LessonCard::LessonCard(QWidget* parent) : QFrame(parent) {
  setObjectName("lessonCard");
  setAutoFillBackground(true);
  QPalette p = palette();
  p.setColor(QPalette::Window, QColor("#fff8e1"));
  p.setColor(QPalette::WindowText, QColor("#3e2723"));
  setPalette(p);
  setFrameShape(QFrame::NoFrame);
  auto* outer = new QHBoxLayout(this);
  outer->setContentsMargins(18, 10, 18, 10);
  auto* text = new QVBoxLayout;
  title_ = new QLabel(this);
  claim_ = new QLabel(this);
  explanation_ = new QLabel(this);
  lookAt_ = new QLabel(this);
  result_ = new QLabel(this);
  result_->setObjectName("lessonResult");
  for (QLabel* l : {title_, claim_, explanation_, lookAt_, result_}) {
    l->setWordWrap(true);
    l->setTextFormat(Qt::RichText);
    text->addWidget(l);
  }
  QFont big = font();
  big.setPointSizeF(big.pointSizeF() * 1.35);
  big.setBold(true);
  title_->setFont(big);
  outer->addLayout(text, 1);
  auto* buttons = new QVBoxLayout;
  start_ = new QPushButton(tr("Run the lesson"), this);
  start_->setObjectName("lessonStart");
  close_ = new QPushButton(tr("Close the lesson"), this);
  close_->setObjectName("lessonClose");
  showResult_ = new QPushButton(tr("Show the result"), this);
  showResult_->setObjectName("lessonShowResult");
  showResult_->setCheckable(true);
  showResult_->setToolTip(tr("What this lesson measured when it was made (hidden, so that a class sees it happen first)"));
  buttons->addWidget(start_);
  buttons->addWidget(showResult_);
  buttons->addWidget(close_);
  buttons->addStretch(1);
  outer->addLayout(buttons);
  connect(start_, &QPushButton::clicked, this, &LessonCard::startRequested);
  connect(close_, &QPushButton::clicked, this, &LessonCard::closeRequested);
  connect(showResult_, &QPushButton::toggled, result_, &QLabel::setVisible);
}

void LessonCard::setLesson(const Lesson& lesson) {
  lesson_ = lesson;
  auto html = [](const std::string& s) { return QString::fromStdString(s).toHtmlEscaped(); };
  title_->setText(tr("Lesson: %1").arg(html(lesson.title)));
  QString claim = tr("<b>The lecture:</b> <i>%1</i>").arg(html(lesson.claim));
  if (!lesson.source.empty()) claim += QString(" <span style='color:#6d4c41'>(%1)</span>").arg(html(lesson.source));
  claim_->setText(claim);
  QString what = html(lesson.explanation);
  if (lesson.minutes > 0) what += tr(" <span style='color:#6d4c41'>About %1 min on 2 cores.</span>").arg(lesson.minutes);
  explanation_->setText(what);
  lookAt_->setText(tr("<b>Look at:</b> %1").arg(html(lesson.lookAt)));
  result_->setText(tr("<b>Measured:</b> %1").arg(html(lesson.result)));
  showResult_->setChecked(false);
  result_->setVisible(false);
  showResult_->setVisible(!lesson.result.empty());
  setRunning(false);
}

void LessonCard::setRunning(bool running) {
  start_->setEnabled(!running);
  start_->setText(running ? tr("Running...") : tr("Run the lesson"));
}

QString LessonCard::text() const {
  return QStringList{title_->text(), claim_->text(), explanation_->text(), lookAt_->text(), result_->text()}
      .join("\n");
}

}  // namespace pretext
