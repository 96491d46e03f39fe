#include "ui/window/screenshots.h"

#include <QDir>
#include <QTabWidget>
#include <QTimer>

#include "ui/evaluation/evaluation_panel.h"
#include "ui/inspect/compare_panel.h"
#include "ui/sweep/sweep_panel.h"
#include "ui/window/main_window.h"
#include "ui/window/session_controller.h"

namespace pretext {

ScreenshotTour::ScreenshotTour(MainWindow* window, QString dir, int steps, int settleMs)
    : QObject(window), window_(window), dir_(std::move(dir)), steps_(steps), settleMs_(settleMs) {}

void ScreenshotTour::run() {
  QDir().mkpath(dir_);
  SessionController* c = window_->controller();
  if (steps_ > 0) {
    // Train, then pause at `steps_` so every panel shows the same live model.
    auto* conn = new QMetaObject::Connection;
    *conn = connect(c, &SessionController::stepsArrived, this, [this, c, conn](const QVector<StepPoint>& p) {
      if (p.isEmpty() || p.last().step < steps_) return;
      c->pause();
      disconnect(*conn);
      delete conn;
      QTimer::singleShot(1500, this, &ScreenshotTour::next);
    });
    connect(c, &SessionController::finished, this, [this, conn] {
      if (at_ == 0) next();  // a short run ended before `steps_`
    });
    connect(c, &SessionController::failed, this, [this](const QString&) {
      ok_ = false;
      emit done(false);
    });
    window_->start();
  } else {
    QTimer::singleShot(500, this, &ScreenshotTour::next);
  }
  QTabWidget* tabs = window_->tabs();
  auto wanted = [this](const QString& name) { return panels_.isEmpty() || panels_.contains(name); };
  for (int i = 0; i < tabs->count(); ++i) {
    const QString name = tabs->tabText(i);
    if (!wanted(name)) continue;
    // The Sweep tab without a sweep open is a placeholder (pretext --open-sweep DIR opens one).
    auto* sweep = qobject_cast<SweepPanel*>(tabs->widget(i));
    if (sweep && !sweep->hasSweep()) continue;
    plan_.push_back({0, [this, name] { window_->showPanel(name); }});
    // t-SNE animates for a while (2000 points: ~20-40 s on 2 cores), and the evaluation panel
    // shows a kNN result (feature extraction over the data set): give them time.
    // The comparison runs the test images through two encoders (~10-20 s on 2 cores).
    const int settle = name == "Embedding" || name == "Evaluation" ? settleMs_ * 10
                       : name == "Compare"                         ? settleMs_ * 6
                                                                   : settleMs_;
    if (name == "Evaluation")
      plan_.push_back({0, [this] {
                         if (auto* panel = qobject_cast<EvaluationPanel*>(window_->panel("Evaluation"))) {
                           panel->setLimits(10000, 2000);
                           panel->runKnn();
                         }
                       }});
    if (name == "Compare")
      plan_.push_back({0, [this] {
                         if (auto* panel = qobject_cast<ComparePanel*>(window_->panel("Compare"))) panel->compute();
                       }});
    plan_.push_back({settle, [this, name] { shoot(name); }});
  }
  if (wanted("presentation")) {
    plan_.push_back({0, [this] {
                       window_->showPanel("Augmentations");
                       window_->setPresentationMode(true);
                     }});
    plan_.push_back({settleMs_, [this] { shoot("presentation"); }});
    plan_.push_back({0, [this] { window_->showPanel("Method views"); }});
    plan_.push_back({settleMs_, [this] { shoot("presentation-method-views"); }});
    plan_.push_back({0, [this] { window_->setPresentationMode(false); }});
  }
  plan_.push_back({0, [this, c] {
                     if (c->training()) {
                       connect(c, &SessionController::finished, this, [this] { emit done(ok_); });
                       c->stop();
                     } else {
                       emit done(ok_);
                     }
                   }});
}

void ScreenshotTour::next() {
  if (at_ >= plan_.size()) return;
  auto [delay, action] = plan_[at_++];
  QTimer::singleShot(delay, this, [this, action = action] {
    action();
    next();
  });
}

void ScreenshotTour::shoot(const QString& name) {
  const QString slug = name.toLower().replace(' ', '-');
  const QString path = QDir(dir_).filePath(slug + ".png");
  if (window_->grab().save(path))
    saved_ << path;
  else
    ok_ = false;
}

}  // namespace pretext
