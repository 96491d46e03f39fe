#include "core/train/run_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "core/train/tensorboard.h"
#include "core/util/error.h"

namespace pretext {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

void fsyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string timestamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::ostringstream s;
  s << std::put_time(&tm, "%Y%m%d-%H%M%S");
  return s.str();
}

std::string sanitize(std::string name) {
  for (char& c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  return name.empty() ? "run" : name;
}

}  // namespace

void writeFileAtomically(const std::string& path,
                         const std::function<void(const std::string&)>& write) {
  const std::string tmp = path + ".tmp";
  try {
    write(tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  fsyncPath(tmp);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error(path + ": could not replace the file: " + ec.message());
  fsyncPath(fs::path(path).parent_path().string());
}

RunDirectory RunDirectory::create(const std::string& outDir, const Experiment& experiment) {
  std::error_code ec;
  fs::create_directories(outDir, ec);
  if (ec) throw Error(outDir + ": cannot create the runs folder: " + ec.message());
  const std::string base = outDir + "/" + sanitize(experiment.name) + "-" + timestamp();
  std::string path = base;
  for (int i = 2; fs::exists(path); ++i) path = base + "-" + std::to_string(i);
  return createAt(path, experiment);
}

RunDirectory RunDirectory::createAt(const std::string& path, const Experiment& experiment) {
  if (fs::exists(path + "/experiment.json"))
    throw Error(path +
                ": already holds a run (experiment.json); resume it or choose another folder");
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) throw Error(path + ": cannot create the run folder: " + ec.message());
  RunDirectory run(path);
  writeFileAtomically(run.file("experiment.json"), [&](const std::string& tmp) {
    std::ofstream out(tmp);
    out << experimentToJson(experiment).dump(2) << "\n";
    if (!out.flush()) throw Error(tmp + ": write failed (disk full?)");
  });
  return run;
}

RunDirectory RunDirectory::open(const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error(dir + ": no such run folder");
  if (!fs::exists(dir + "/experiment.json"))
    throw Error(dir + ": not a run folder (it has no experiment.json)");
  return RunDirectory(fs::path(dir).lexically_normal().string());
}

Experiment RunDirectory::experiment() const { return loadExperiment(file("experiment.json")); }

bool RunDirectory::hasCheckpoint() const { return fs::exists(file("checkpoint.pt")); }

json RunDirectory::state() const {
  std::ifstream in(file("state.json"));
  if (!in) return json::object();
  try {
    return json::parse(in);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw Error(file("state.json") + ": damaged (" + e.what() + ")");
  }
}

void RunDirectory::writeState(const json& state) const {
  writeFileAtomically(file("state.json"), [&](const std::string& tmp) {
    std::ofstream out(tmp);
    out << state.dump(2) << "\n";
    if (!out.flush()) throw Error(tmp + ": write failed (disk full?)");
  });
}

void RunDirectory::appendLog(const std::string& line) const {
  std::ofstream out(file("log.txt"), std::ios::app);
  out << line << "\n";
}

void RunDirectory::truncateMetrics(int64_t step) const {
  auto filter = [&](const std::string& name, bool csv) {
    const std::string path = file(name);
    std::ifstream in(path);
    if (!in) return;
    std::vector<std::string> keep;
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      if (csv && first) {
        keep.push_back(line);
        first = false;
        continue;
      }
      int64_t s = 0;
      try {
        s = csv ? std::stoll(line.substr(0, line.find(','))) : json::parse(line).value("step", int64_t(0));
      } catch (...) {
        continue;  // a torn last line from a kill: drop it
      }
      if (s <= step) keep.push_back(line);
    }
    in.close();
    writeFileAtomically(path, [&](const std::string& tmp) {
      std::ofstream out(tmp);
      for (const auto& l : keep) out << l << "\n";
    });
  };
  filter("metrics.csv", true);
  filter("metrics.jsonl", false);
}

MetricsWriter::MetricsWriter(const RunDirectory& run, bool tensorboard)
    : csvPath_(run.file("metrics.csv")), jsonlPath_(run.file("metrics.jsonl")) {
  if (tensorboard) tensorboard_ = std::make_unique<TensorBoardWriter>(run.file("tb"));
  // Resuming: keep the existing header's metric columns.
  std::ifstream in(csvPath_);
  std::string header;
  if (in && std::getline(in, header) && !header.empty()) {
    std::stringstream ss(header);
    std::string col;
    int i = 0;
    while (std::getline(ss, col, ','))
      if (i++ >= 7) metricColumns_.push_back(col);
    headerKnown_ = true;
  }
  csv_.open(csvPath_, std::ios::app);
  jsonl_.open(jsonlPath_, std::ios::app);
  if (!csv_ || !jsonl_) throw Error(csvPath_ + ": cannot open the metrics files for writing");
}

MetricsWriter::~MetricsWriter() = default;

void MetricsWriter::step(int64_t step, double epoch, double loss, double lr, double imgPerSec,
                         double wallSeconds, const std::vector<std::pair<std::string, double>>& metrics) {
  if (!headerKnown_) {
    for (const auto& m : metrics) metricColumns_.push_back(m.first);
    csv_ << "step,epoch,loss,lr,img_per_s,wall_s,knn_top1";
    for (const auto& c : metricColumns_) csv_ << "," << c;
    csv_ << "\n";
    headerKnown_ = true;
  }
  csv_ << step << "," << epoch << "," << std::setprecision(7) << loss << "," << lr << ","
       << imgPerSec << "," << wallSeconds << ",";
  if (lastKnn_ >= 0) csv_ << lastKnn_;
  json row{{"type", "step"}, {"step", step}, {"epoch", epoch}, {"loss", loss}, {"lr", lr},
           {"img_per_s", imgPerSec}, {"wall_s", wallSeconds}};
  for (const auto& c : metricColumns_) {
    csv_ << ",";
    for (const auto& m : metrics)
      if (m.first == c) {
        csv_ << m.second;
        row[c] = m.second;
      }
  }
  csv_ << "\n";
  csv_.flush();
  jsonl_ << row.dump() << "\n";
  jsonl_.flush();
  if (tensorboard_) {
    tensorboard_->scalar("loss", loss, step);
    tensorboard_->scalar("lr", lr, step);
    tensorboard_->scalar("img_per_s", imgPerSec, step);
    tensorboard_->scalar("epoch", epoch, step);
    for (const auto& [name, value] : metrics) tensorboard_->scalar(name, value, step);
    tensorboard_->flush();
  }
}

void MetricsWriter::eval(int64_t step, int64_t epoch, const std::string& kind, double top1) {
  if (kind == "knn") lastKnn_ = top1;
  if (tensorboard_) {
    tensorboard_->scalar(kind + "_top1", top1, step);
    tensorboard_->flush();
  }
  jsonl_ << json{{"type", "eval"}, {"step", step}, {"epoch", epoch}, {"kind", kind}, {"top1", top1}}.dump()
         << "\n";
  jsonl_.flush();
}

void MetricsWriter::epoch(int64_t epoch, int64_t step, double meanLoss, double seconds) {
  jsonl_ << json{{"type", "epoch"}, {"step", step}, {"epoch", epoch}, {"loss", meanLoss},
                 {"seconds", seconds}}.dump()
         << "\n";
  jsonl_.flush();
}

}  // namespace pretext
