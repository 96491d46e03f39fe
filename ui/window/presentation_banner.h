#pragma once
// Presentation mode's banner: the method's name, its idea in one or two sentences and its loss,
// in type large enough for the back of a classroom.
#include <QWidget>

class QLabel;

namespace pretext {

class PresentationBanner : public QWidget {
  Q_OBJECT

 public:
  explicit PresentationBanner(QWidget* parent = nullptr);
  void setMethod(const QString& name);  // a registry name
  QString title() const;

 private:
  QLabel* title_;
  QLabel* idea_;
  QLabel* formula_;
};

}  // namespace pretext
