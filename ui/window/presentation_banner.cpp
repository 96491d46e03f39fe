#include "ui/window/presentation_banner.h"

#include <QLabel>
#include <QVBoxLayout>

#include "core/methods/registry.h"

namespace pretext {

PresentationBanner::PresentationBanner(QWidget* parent) : QWidget(parent) {
  setAutoFillBackground(true);
  QPalette p = palette();
  p.setColor(QPalette::Window, QColor("#1e3a5f"));
  p.setColor(QPalette::WindowText, Qt::white);
  setPalette(p);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(18, 10, 18, 10);
  title_ = new QLabel(this);
  idea_ = new QLabel(this);
  formula_ = new QLabel(this);
  for (QLabel* l : {title_, idea_, formula_}) {
    l->setWordWrap(true);
    l->setPalette(p);
    layout->addWidget(l);
  }
  QFont big = font();
  big.setPointSizeF(big.pointSizeF() * 1.5);
  big.setBold(true);
  title_->setFont(big);
  formula_->setFont(QFont("monospace"));
  formula_->setStyleSheet("color: #ffe082;");
}

void PresentationBanner::setMethod(const QString& name) {
  try {
    const MethodInfo& m = MethodRegistry::instance().get(name.toStdString());
    title_->setText(QString::fromStdString(m.title));
    idea_->setText(QString::fromStdString(m.summary));
    formula_->setText(tr("loss: %1").arg(QString::fromStdString(m.formula)));
  } catch (const std::exception&) {
    title_->setText(name);
    idea_->clear();
    formula_->clear();
  }
}

QString PresentationBanner::title() const { return title_->text(); }

}  // namespace pretext
