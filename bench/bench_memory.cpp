// Memory, in one run (issue 6, benchmark 5):
//   bench_memory [preset] [steps] [stl-images] [repeats]
// 1. Peak resident memory (ru_maxrss of the child, from wait4) of `pretext-cli train --preset P
//    --steps N --quiet` for simclr-fashion, mae-fashion and `preset` (default rotation-fashion),
//    each run `repeats` times (default 3; the peak varies by ~100 MiB between runs with how the
//    heap fragments: the max is the figure, the min is shown beside it),
//    and of the PyTorch peer bench/peer_<method>.py (run as `peer STEPS 0`) where one exists for
//    the preset's method, with the ratio. Goal: <= 2 GB. A baseline row first: `pretext-cli data`
//    (libraries loaded, Fashion-MNIST read) against the peer's imports and data reading.
// 2. STL-10: writes a synthetic stl10_binary/ (unlabeled_X.bin of `stl-images` images, default
//    100,000 = 2.76 GB, stored column-major as STL-10 does; a tiny train and test split) into a
//    temporary folder, loads it with Pretext's loader (`stl10:DIR`, unlabeled split included) in
//    a child process, and reports the child's resident-memory growth (VmHWM at the end minus
//    VmRSS before loading) against the raw size (goal <= 1.2x) and the load speed, once cold
//    (the file dropped from the page cache) and once warm. Spot-checks pixels through the
//    transpose. The folder is deleted afterwards; it needs the file's size of free disk.
//    `stl-images` 0 skips part 2, `steps` 0 part 1.
// `bench_memory --load-stl DIR` is the child of 2 (prints one line: rss0 hwm seconds images).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/data/dataset.h"
#include "core/util/threads.h"

namespace fs = std::filesystem;

namespace {

constexpr int64_t kSide = 96;
constexpr int64_t kImageBytes = 3 * kSide * kSide;

// Pixel (c, y, x) of image i of the synthetic file; 256-periodic in i, so a 256-image block is
// written over and over.
uint8_t stlPixel(int64_t i, int64_t c, int64_t y, int64_t x) {
  return uint8_t((i * 7 + c * 31 + x * 3 + y * 5 + (x * y >> 4)) & 255);
}

// Column-major per image, as STL-10 stores it: [c][x][y].
std::vector<uint8_t> stlBlock(int64_t first, int64_t n) {
  std::vector<uint8_t> b(size_t(n * kImageBytes));
  size_t k = 0;
  for (int64_t i = first; i < first + n; ++i)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t x = 0; x < kSide; ++x)
        for (int64_t y = 0; y < kSide; ++y) b[k++] = stlPixel(i, c, y, x);
  return b;
}

void writeFile(const std::string& path, int64_t images, bool dropCache) {
  const int64_t period = 256;
  auto block = stlBlock(0, period);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  for (int64_t done = 0; done < images; done += period) {
    size_t bytes = size_t(std::min(period, images - done) * kImageBytes);
    const uint8_t* p = block.data();
    while (bytes > 0) {
      ssize_t w = ::write(fd, p, bytes);
      if (w <= 0) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
      p += w;
      bytes -= size_t(w);
    }
  }
  if (dropCache) {
    ::fsync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  }
  ::close(fd);
}

void dropFromCache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

void writeBytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// kB from /proc/self/status ("VmRSS", "VmHWM").
long statusKb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(in, line))
    if (line.compare(0, n, key) == 0 && line[n] == ':') return std::atol(line.c_str() + n + 1);
  return -1;
}

struct Child {
  int status = -1;
  long maxRssKb = 0;
  double seconds = 0;
  std::string out;  // stdout
};

// Runs argv as a child process (stdout captured, stderr passed through), waits for it with wait4.
Child runChild(const std::vector<std::string>& args) {
  int pipeFd[2];
  if (::pipe(pipeFd) != 0) throw std::runtime_error("pipe failed");
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipeFd[1], STDOUT_FILENO);
    ::close(pipeFd[0]);
    ::close(pipeFd[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, "cannot run %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(pipeFd[1]);
  Child c;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipeFd[0], buf, sizeof buf)) > 0) c.out.append(buf, size_t(n));
  ::close(pipeFd[0]);
  struct rusage ru {};
  ::wait4(pid, &c.status, 0, &ru);
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  c.maxRssKb = ru.ru_maxrss;  // kilobytes on Linux
  return c;
}

bool ok(const Child& c) { return WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0; }

double mib(long kb) { return double(kb) / 1024.0; }

// The child of part 2: load, check, print "rss0_kb hwm_kb seconds images bad".
int loadStlChild(const std::string& dir) {
  pretext::configureThreads();  // as pretext-cli does (malloc settings included)
  const long rss0 = statusKb("VmRSS");
  auto t0 = std::chrono::steady_clock::now();
  auto s = pretext::loadData("stl10:" + dir);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long hwm = statusKb("VmHWM");
  // Spot-check the unlabeled rows (after the 8 train images) through the transpose.
  const int64_t n = s.train.size(), nTrain = s.trainLabelled.size();
  auto acc = s.train.images.accessor<uint8_t, 4>();
  int bad = 0;
  for (int64_t k = 0; k < 1000; ++k) {
    int64_t i = nTrain + (k * 7919) % (n - nTrain), c = k % 3, y = (k * 37) % kSide,
            x = (k * 53) % kSide;
    if (acc[i][c][y][x] != stlPixel(i - nTrain, c, y, x)) ++bad;
  }
  std::printf("%ld %ld %.3f %lld %d\n", rss0, hwm, sec, (long long)(n - nTrain), bad);
  return 0;
}

// What every peer script does before training: its imports and reading Fashion-MNIST.
const char* kPeerBaseline =
    "import gzip, numpy as np, torch, torch.nn as nn, torch.nn.functional as F\n"
    "from torchvision import transforms\n"
    "from PIL import Image\n"
    "torch.set_num_threads(2)\n"
    "with gzip.open('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz') as f:\n"
    "    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)\n"
    "print(torch.ones(4).sum().item())\n";

std::string methodOf(const std::string& preset) { return preset.substr(0, preset.find('-')); }

void trainingPart(const std::string& third, int steps, int repeats, const fs::path& tmp) {
  std::printf(
      "== 1. peak resident memory, training on Fashion-MNIST (%d steps; goal <= 2 GB = 1907 MiB)\n",
      steps);
  std::printf("%-22s %14s %10s   %-26s %14s %8s\n", "preset", "Pretext MiB", "min MiB", "peer",
              "peer MiB", "ratio");
  // The floor under every row: the libraries loaded and Fashion-MNIST read, no training.
  long base = 0, peerBase = 0;
  {
    Child p = runChild({PRETEXT_CLI, "data", "fashion-mnist"});
    Child q = runChild({"/usr/bin/python3", "-c", kPeerBaseline});
    if (ok(p) && ok(q)) base = p.maxRssKb, peerBase = q.maxRssKb;
    if (ok(p) && ok(q))
      std::printf("%-22s %14.0f %10.0f   %-26s %14.0f %7.2fx\n", "(no training: baseline)",
                  mib(p.maxRssKb), mib(p.maxRssKb), "import + read the data", mib(q.maxRssKb),
                  double(q.maxRssKb) / double(p.maxRssKb));
  }
  std::vector<std::string> presets = {"simclr-fashion", "mae-fashion"};
  if (third != "simclr-fashion" && third != "mae-fashion") presets.push_back(third);
  for (const auto& preset : presets) {
    const fs::path out = tmp / ("runs-" + preset);
    Child p;
    long minKb = 0;
    for (int r = 0; r < repeats; ++r) {
      Child c = runChild({PRETEXT_CLI, "train", "--preset", preset, "--steps",
                          std::to_string(steps), "--quiet", "--out", out.string()});
      fs::remove_all(out);
      if (!ok(c)) {
        p = c;
        break;
      }
      minKb = r == 0 ? c.maxRssKb : std::min(minKb, c.maxRssKb);
      if (r == 0 || c.maxRssKb > p.maxRssKb) p = c;
    }
    const double minMiB = mib(minKb);
    if (!ok(p)) {
      std::printf("%-22s failed (status %d)\n", preset.c_str(), p.status);
      continue;
    }
    const std::string peer =
        std::string(PRETEXT_SOURCE_DIR) + "/bench/peer_" + methodOf(preset) + ".py";
    if (!fs::exists(peer)) {
      std::printf("%-22s %14.0f %10.0f   %-26s\n", preset.c_str(), mib(p.maxRssKb), minMiB,
                  "(no peer)");
      continue;
    }
    Child q = runChild({"/usr/bin/python3", peer, std::to_string(steps), "0"});
    const std::string name = "peer_" + methodOf(preset) + ".py " + std::to_string(steps) + " 0";
    if (!ok(q)) {
      std::printf("%-22s %14.0f %10.0f   %-26s failed (status %d)\n", preset.c_str(),
                  mib(p.maxRssKb), minMiB, name.c_str(), q.status);
      continue;
    }
    std::printf("%-22s %14.0f %10.0f   %-26s %14.0f %7.2fx\n", preset.c_str(), mib(p.maxRssKb),
                minMiB, name.c_str(), mib(q.maxRssKb), double(q.maxRssKb) / double(p.maxRssKb));
    if (base > 0)
      std::printf("%-22s %14.0f %10s   %-26s %14.0f %7.2fx\n", "  above the baseline",
                  mib(p.maxRssKb - base), "", "", mib(q.maxRssKb - peerBase),
                  double(q.maxRssKb - peerBase) / double(p.maxRssKb - base));
  }
  std::printf("(ratio = peer / Pretext: how many times more memory the peer holds)\n\n");
}

void stlPart(const std::string& self, int64_t images, const fs::path& tmp) {
  const double raw = double(images * kImageBytes);
  std::printf(
      "== 2. STL-10 unlabeled split held in memory (%lld images x 3x96x96 uint8 = %.0f MiB raw; "
      "goal <= 1.2x)\n",
      (long long)images, raw / (1 << 20));
  const fs::path dir = tmp / "stl10_binary";
  fs::create_directories(dir);
  // A tiny labelled train (8) and test (4) split: the loader needs them.
  writeBytes((dir / "train_X.bin").string(), stlBlock(1000, 8));
  writeBytes((dir / "train_y.bin").string(), {1, 2, 3, 4, 5, 6, 7, 8});
  writeBytes((dir / "test_X.bin").string(), stlBlock(2000, 4));
  writeBytes((dir / "test_y.bin").string(), {1, 2, 3, 4});
  const std::string file = (dir / "unlabeled_X.bin").string();
  auto t0 = std::chrono::steady_clock::now();
  writeFile(file, images, true);
  const double wsec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s in %.1f s (%.0f MB/s)\n", file.c_str(), wsec, raw / 1e6 / wsec);
  for (const char* kind : {"cold (dropped from the page cache)", "warm (in the page cache)"}) {
    if (kind[0] == 'c') dropFromCache(file);
    Child c = runChild({self, "--load-stl", dir.string()});
    long rss0 = 0, hwm = 0;
    double sec = 0;
    long long n = 0;
    int bad = -1;
    if (!ok(c) ||
        std::sscanf(c.out.c_str(), "%ld %ld %lf %lld %d", &rss0, &hwm, &sec, &n, &bad) != 5) {
      std::printf("load %s failed (status %d): %s\n", kind, c.status, c.out.c_str());
      continue;
    }
    const double growth = double(hwm - rss0) * 1024.0;
    std::printf(
        "load %-36s %lld images, %s; RSS before %.0f MiB, peak %.0f MiB: growth %.0f MiB = "
        "%.3fx raw; %.2f s = %.0f MB/s\n",
        kind, n, bad == 0 ? "pixels check" : "PIXELS WRONG", mib(rss0), mib(hwm),
        growth / (1 << 20), growth / raw, sec, raw / 1e6 / sec);
  }
  fs::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  pretext::useOpenMpWaitPolicy(argv);  // as the apps do
  if (argc == 3 && std::string(argv[1]) == "--load-stl") return loadStlChild(argv[2]);
  const std::string third = argc > 1 ? argv[1] : "rotation-fashion";
  const int steps = argc > 2 ? std::atoi(argv[2]) : 20;
  const int64_t images = argc > 3 ? std::atoll(argv[3]) : 100000;
  const int repeats = std::max(1, argc > 4 ? std::atoi(argv[4]) : 3);
  const std::string self = fs::canonical("/proc/self/exe").string();
  std::printf(
      "machine: %u hardware threads; %s\n\n", std::thread::hardware_concurrency(),
      "Pretext = pretext-cli train (a child process); peer = /usr/bin/python3 bench/peer_*.py");
  fs::path tmp = fs::temp_directory_path() / ("bench_memory." + std::to_string(::getpid()));
  fs::create_directories(tmp);
  try {
    if (steps > 0) trainingPart(third, steps, repeats, tmp);
    if (images > 0) stlPart(self, images, tmp);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    fs::remove_all(tmp);
    return 1;
  }
  fs::remove_all(tmp);
  return 0;
}
