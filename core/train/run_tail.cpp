#include "core/train/run_tail.h"

#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "core/util/error.h"
#include "core/util/json_fields.h"

namespace pretext {

using json = nlohmann::json;

namespace {

// How many rows the speed estimate looks back over.
constexpr size_t kRateRows = 64;

const std::set<std::string>& fixedStepKeys() {
  static const std::set<std::string> keys{"type", "step", "epoch", "loss", "lr", "img_per_s", "wall_s"};
  return keys;
}

double number(const json& row, const char* key) {
  const auto it = row.find(key);
  return it != row.end() && it->is_number() ? it->get<double>() : 0.0;
}

}  // namespace

RunTail::RunTail(std::string runDir, size_t maxBytesPerPoll)
    : runDir_(std::move(runDir)), maxBytes_(maxBytesPerPoll < 64 ? 64 : maxBytesPerPoll) {}

RunTailUpdate RunTail::poll() {
  RunTailUpdate out;
  readState(out);
  readMetrics(out);
  return out;
}

void RunTail::readState(RunTailUpdate& out) {
  // state.json is replaced by a rename, so it is either the old or the new one, never a part;
  // a file that does not parse (a writer on a file system without atomic renames) is read
  // again next time.
  std::ifstream in(runDir_ + "/state.json");
  if (!in) return;
  const json state = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!state.is_object()) return;
  const auto finished = state.find("finished");
  out.finished = finished != state.end() && finished->is_boolean() && finished->get<bool>();
  const auto it = state.find("step");
  int64_t step = 0;
  if (it == state.end() || !jsonToInt64(*it, &step)) return;
  if (step != stateStep_) out.checkpointStep = step;
  stateStep_ = step;
}

void RunTail::readMetrics(RunTailUpdate& out) {
  const std::string path = runDir_ + "/metrics.jsonl";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;  // no step logged yet
    throw Error(path + ": cannot read (" + std::strerror(errno) + ")");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if ((inode_ != 0 && st.st_ino != inode_) || size < offset_) {
    // Rewritten (truncateMetrics replaces the file) or cut: start over.
    offset_ = 0;
    out.rewound = true;
    recent_.clear();
    lastStep_ = -1;
  }
  inode_ = st.st_ino;
  behind_ = false;
  if (size == offset_) return;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open for reading");
  in.seekg(static_cast<std::streamoff>(offset_));
  const uint64_t want = std::min<uint64_t>(size - offset_, maxBytes_);
  std::string chunk(static_cast<size_t>(want), '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(want));
  chunk.resize(static_cast<size_t>(in.gcount()));
  // Only whole lines: the writer may be half-way through the last one.
  const size_t end = chunk.rfind('\n');
  if (end == std::string::npos) {
    if (chunk.size() == maxBytes_) {
      // One line longer than a whole slice is not a metrics row: skip to its end next time.
      offset_ += chunk.size();
      ++out.skippedLines;
      behind_ = true;
    }
    return;
  }
  size_t start = 0;
  while (start <= end) {
    const size_t nl = chunk.find('\n', start);
    if (nl > start) take(chunk.substr(start, nl - start), out);
    start = nl + 1;
  }
  offset_ += end + 1;
  behind_ = offset_ < size;
}

void RunTail::take(const std::string& line, RunTailUpdate& out) {
  const json row = json::parse(line, nullptr, /*allow_exceptions=*/false);
  int64_t step = 0;
  if (!row.is_object() || !row.contains("type") || !row["type"].is_string() || !row.contains("step") ||
      !jsonToInt64(row["step"], &step)) {
    ++out.skippedLines;
    return;
  }
  const std::string type = row["type"].get<std::string>();
  if (type == "step") {
    TailStep s;
    s.step = step;
    s.epoch = number(row, "epoch");
    s.loss = number(row, "loss");
    s.lr = number(row, "lr");
    s.imgPerSec = number(row, "img_per_s");
    s.wallSeconds = number(row, "wall_s");
    for (const auto& [key, value] : row.items())
      if (value.is_number() && !fixedStepKeys().count(key)) s.metrics.emplace_back(key, value.get<double>());
    // The writer's clock restarts with each resume: the speed estimate starts over with it.
    if (!recent_.empty() && (s.wallSeconds < recent_.back().first || step <= recent_.back().second))
      recent_.clear();
    recent_.emplace_back(s.wallSeconds, static_cast<double>(step));
    if (recent_.size() > kRateRows) recent_.pop_front();
    lastStep_ = step;
    out.steps.push_back(std::move(s));
  } else if (type == "eval") {
    TailEval e;
    e.step = step;
    e.epoch = intField(row, "epoch", 0);
    if (const auto kind = row.find("kind"); kind != row.end() && kind->is_string()) e.kind = kind->get<std::string>();
    e.top1 = number(row, "top1");
    out.evals.push_back(std::move(e));
  }
  // "epoch" rows (epoch means) are for the record only.
}

double RunTail::stepsPerSecond() const {
  if (recent_.size() < 2) return 0;
  const double seconds = recent_.back().first - recent_.front().first;
  const double steps = recent_.back().second - recent_.front().second;
  return seconds > 0 ? steps / seconds : 0;
}

}  // namespace pretext
