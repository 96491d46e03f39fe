// The window against the command line on the same preset, in one run:
//   bench_gui [preset] [steps] [panel]
// 1. pretext-cli trains `steps` steps (a child process, as a user would run it);
// 2. the window (offscreen or the current display) trains the same steps with `panel` shown
//    (default Curves), while a 10 ms timer measures how late the event loop serves it.
// Prints both img/s from metrics.csv (after the first fifth of the rows: the median row, and
// images over wall time, which counts the pauses a panel's inspections cost), the ratios, and
// the event-loop latency percentiles. Run it with QT_QPA_PLATFORM=offscreen or under xvfb-run.
#include <QApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QTextStream>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/config/experiment.h"
#include "core/util/threads.h"
#include "ui/window/main_window.h"
#include "ui/window/session_controller.h"

namespace {

struct Rates {
  double median = 0;   // median of the metric rows' img/s (steady state)
  double overall = 0;  // images / seconds over the same rows (pauses for inspections included)
};

// A run's img/s from its metrics.csv, skipping the first fifth of the rows (warm-up).
Rates runRates(const QString& runsDir) {
  QDir runs(runsDir);
  const QStringList dirs = runs.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
  if (dirs.isEmpty()) return {};
  QFile f(runs.filePath(dirs.first()) + "/metrics.csv");
  if (!f.open(QIODevice::ReadOnly)) return {};
  QTextStream in(&f);
  const QStringList header = in.readLine().split(',');
  const int rate = header.indexOf("img_per_s"), wall = header.indexOf("wall_s");
  std::vector<std::pair<double, double>> rows;  // (img/s, wall_s)
  while (!in.atEnd()) {
    const QStringList row = in.readLine().split(',');
    if (rate >= 0 && wall >= 0 && std::max(rate, wall) < row.size())
      rows.push_back({row[rate].toDouble(), row[wall].toDouble()});
  }
  if (rows.size() < 5) return {};
  const size_t from = rows.size() / 5;
  std::vector<double> v;
  double images = 0;
  for (size_t i = from; i < rows.size(); ++i) {
    v.push_back(rows[i].first);
    images += rows[i].first * (rows[i].second - rows[i - 1].second);
  }
  Rates r;
  r.overall = images / (rows.back().second - rows[from - 1].second);
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  r.median = v[v.size() / 2];
  return r;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p / 100.0 * double(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  pretext::useOpenMpWaitPolicy(argv);  // as the apps do
  QApplication app(argc, argv);
  const QString preset = argc > 1 ? argv[1] : "simclr-fashion";
  const int steps = argc > 2 ? std::atoi(argv[2]) : 100;
  const QString panel = argc > 3 ? argv[3] : "Curves";
  QTemporaryDir tmp;

  // 1. The command line.
  QProcess cli;
  cli.setProcessChannelMode(QProcess::ForwardedErrorChannel);
  cli.start(PRETEXT_CLI, {"train", "--preset", preset, "--steps", QString::number(steps), "--out",
                          tmp.filePath("cli"), "--quiet"});
  if (!cli.waitForFinished(-1) || cli.exitCode() != 0) {
    std::fprintf(stderr, "pretext-cli failed\n");
    return 1;
  }
  const Rates cliRate = runRates(tmp.filePath("cli"));

  // 2. The window.
  pretext::MainWindowOptions options;
  options.useSettings = false;
  pretext::MainWindow window(options);
  window.controller()->setRunsFolder(tmp.filePath("gui"));
  window.loadPreset(preset);
  window.resize(1400, 880);
  window.show();
  window.showPanel(panel);

  std::vector<double> lateness;  // ms beyond the 10 ms period
  QElapsedTimer clock;
  QTimer probe;
  probe.setTimerType(Qt::PreciseTimer);
  probe.setInterval(10);
  qint64 last = -1;
  QObject::connect(&probe, &QTimer::timeout, [&] {
    const qint64 now = clock.nsecsElapsed();
    if (last >= 0) lateness.push_back(std::max(0.0, double(now - last) / 1e6 - 10.0));
    last = now;
  });
  auto* c = window.controller();
  bool stopping = false;
  QObject::connect(c, &pretext::SessionController::stepsArrived, [&](const QVector<pretext::StepPoint>& p) {
    if (!stopping && !p.isEmpty() && p.last().step >= steps) {
      stopping = true;
      c->stop();
    }
  });
  QObject::connect(c, &pretext::SessionController::started, [&] {
    clock.start();
    probe.start();
  });
  QObject::connect(c, &pretext::SessionController::finished, [&] {
    probe.stop();
    app.quit();
  });
  QObject::connect(c, &pretext::SessionController::failed, [&](const QString& m) {
    std::fprintf(stderr, "window run failed: %s\n", qPrintable(m));
    app.exit(1);
  });
  QTimer::singleShot(0, &window, &pretext::MainWindow::start);
  if (app.exec() != 0) return 1;
  const Rates guiRate = runRates(tmp.filePath("gui"));

  std::printf("preset %s, %d steps, panel %s shown, platform %s\n", qPrintable(preset), steps,
              qPrintable(panel), qPrintable(QGuiApplication::platformName()));
  std::printf("                 median img/s   overall img/s\n");
  std::printf("pretext-cli      %12.1f   %13.1f\n", cliRate.median, cliRate.overall);
  std::printf("pretext (window) %12.1f   %13.1f\n", guiRate.median, guiRate.overall);
  std::printf("ratio window/cli %12.3f   %13.3f\n",
              cliRate.median > 0 ? guiRate.median / cliRate.median : 0.0,
              cliRate.overall > 0 ? guiRate.overall / cliRate.overall : 0.0);
  std::printf("event-loop lateness over %zu ticks: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              lateness.size(), percentile(lateness, 50), percentile(lateness, 99),
              percentile(lateness, 100));
  return 0;
}
