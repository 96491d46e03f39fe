#include "core/train/run_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "core/train/tensorboard.h"
#include "core/util/error.h"
#include "core/util/fault.h"

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
  if (!fs::exists(tmp))
    throw Error(tmp + ": could not be written (is the folder writable, is the disk full?)");
  const std::string name = fs::path(path).filename().string();
  faultPoint(("write:" + name).c_str(), [&] {
    std::error_code ignored;
    fs::resize_file(tmp, fs::file_size(tmp, ignored) / 2, ignored);
  });
  fsyncPath(tmp);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error(path + ": could not replace the file: " + ec.message());
  fsyncPath(fs::path(path).parent_path().string());
  faultPoint(("renamed:" + name).c_str());
}

void writeFileAtomically(const std::string& path, const std::string& bytes) {
  writeFileAtomically(path, [&](const std::string& tmp) {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(tmp + ": cannot create (" + std::strerror(errno) + ")");
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const std::string why = n < 0 ? std::strerror(errno) : "nothing written";
        ::close(fd);
        throw Error(path + ": could not be written (" + why + "); the previous version is kept");
      }
      done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0)
      throw Error(path + ": could not be written (" + std::strerror(errno) + "); the previous version is kept");
  });
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
  writeFileAtomically(run.file("experiment.json"), experimentToJson(experiment).dump(2) + "\n");
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
  writeFileAtomically(file("state.json"), state.dump(2) + "\n");
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
    std::string text;
    for (const auto& l : keep) text += l + "\n";
    writeFileAtomically(path, text);
  };
  filter("metrics.csv", true);
  filter("metrics.jsonl", false);
}

std::vector<std::string> RunDirectory::removeUnfinishedFiles() const {
  std::vector<std::string> removed;
  std::error_code ec;
  for (fs::directory_iterator it(path_, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file() || it->path().extension() != ".tmp") continue;
    std::error_code rm;
    if (fs::remove(it->path(), rm)) removed.push_back(it->path().filename().string());
  }
  return removed;
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
  csv_ << std::setprecision(7);  // from the first row on: a resumed run's rows read as an uninterrupted run's
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
  csv_ << step << "," << epoch << "," << loss << "," << lr << ","
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
  if (!csv_) throw Error(csvPath_ + ": could not append the step's row (is the disk full?)");
  const std::string line = row.dump();
  faultPoint("metrics-row", [&] { jsonl_ << line.substr(0, line.size() / 2) << std::flush; });
  jsonl_ << line << "\n";
  jsonl_.flush();
  if (!jsonl_) throw Error(jsonlPath_ + ": could not append the step's row (is the disk full?)");
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
