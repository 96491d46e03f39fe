#pragma once
// "Compare": how similar the current model's representations are to another encoder's, layer by
// layer (linear CKA, core/eval/compare_encoders.h), as a heat map: against the random init the
// run started from ("what did training change, and where?"), against itself (which layers
// resemble each other), or against another run folder. Computed on demand: a comparison runs
// every test image through two encoders, which would slow a live run if it followed each step.
#include <QString>
#include <QWidget>
#include <memory>

class QComboBox;
class QLabel;
class QPushButton;
class QSpinBox;

namespace pretext {

class MatrixHeatmapView;
class SessionController;
struct EncoderComparison;

class ComparePanel : public QWidget {
  Q_OBJECT

 public:
  enum class Partner { RandomInit = 0, Itself = 1, Run = 2 };

  explicit ComparePanel(SessionController* controller, QWidget* parent = nullptr);
  ~ComparePanel() override;

  void setPartner(Partner p);
  Partner partner() const;
  void setPartnerRun(const QString& runDir);  // also selects Partner::Run
  QString partnerRun() const { return partnerRun_; }
  void setImages(int n);  // test images both encoders see (default 1000)

  const MatrixHeatmapView* heatmap() const { return heatmap_; }
  QString summary() const;
  QString status() const;

 public slots:
  void compute();
  void chooseRun();  // a folder dialog

 signals:
  void computed();  // a new matrix is shown
  void computeFailed(const QString& message);

 private:
  void showComparison(std::shared_ptr<EncoderComparison> c, const QString& model);
  void updateControls();
  QString modelName() const;  // what the controller's session holds, in words

  SessionController* controller_;
  QComboBox* partner_;
  QPushButton* choose_;
  QLabel* runLabel_;
  QSpinBox* images_;
  QPushButton* compute_;
  QLabel* status_;
  MatrixHeatmapView* heatmap_;
  QLabel* summary_;
  QString partnerRun_;
  bool pending_ = false;
  bool shown_ = false;
};

}  // namespace pretext
