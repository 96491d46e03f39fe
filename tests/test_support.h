#pragma once
#include <nlohmann/json.hpp>
// Small helpers shared by the tests: temporary directories and tiny files.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "core/util/error.h"  // PRETEXT_VERIFY_THROWS_WITH catches pretext::Error

namespace pretext::test {

inline void writeBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Runs a program to its end (5 minutes at most): its output, stdout and stderr in the order
// written; *code is its exit code, or -1 when it crashed.
inline QString runProgram(const QString& program, const QStringList& args, int* code) {
  QProcess p;
  p.setProcessChannelMode(QProcess::MergedChannels);
  p.start(program, args);
  p.waitForFinished(300000);
  *code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
  return QString::fromUtf8(p.readAllStandardOutput());
}

inline void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// QVERIFY that `expr` throws pretext::Error whose message contains `needle`.
#define PRETEXT_VERIFY_THROWS_WITH(expr, needle)                                         \
  do {                                                                                   \
    bool thrown_ = false;                                                                \
    try {                                                                                \
      expr;                                                                              \
    } catch (const pretext::Error& e_) {                                                 \
      thrown_ = true;                                                                    \
      QVERIFY2(std::string(e_.what()).find(needle) != std::string::npos, e_.what());     \
    }                                                                                    \
    QVERIFY2(thrown_, "expected pretext::Error from " #expr);                            \
  } while (0)

}  // namespace pretext::test

namespace pretext::test {

inline void putBigEndian32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// A tiny MNIST-format data set in DIR (raw IDX files): n images of size x size, 10 classes;
// class c has a bright bar at row 1 + c, plus noise, so that features can separate classes.
inline void writeTinyMnist(const std::string& dir, int nTrain = 96, int nTest = 40, int size = 12,
                           unsigned seed = 1) {
  auto write = [&](const std::string& prefix, int n, unsigned s) {
    std::vector<uint8_t> images, labels;
    putBigEndian32(images, 0x00000803);
    putBigEndian32(images, n);
    putBigEndian32(images, size);
    putBigEndian32(images, size);
    putBigEndian32(labels, 0x00000801);
    putBigEndian32(labels, n);
    unsigned state = s;
    for (int i = 0; i < n; ++i) {
      const int c = i % 10;
      labels.push_back(static_cast<uint8_t>(c));
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
          state = state * 1103515245u + 12345u;
          int v = static_cast<int>((state >> 16) % 60);
          if (y == 1 + c % (size - 2)) v += 180;
          images.push_back(static_cast<uint8_t>(std::min(v, 255)));
        }
    }
    writeBytes(dir + "/" + prefix + "-images-idx3-ubyte", images);
    writeBytes(dir + "/" + prefix + "-labels-idx1-ubyte", labels);
  };
  write("train", nTrain, seed);
  write("t10k", nTest, seed + 7);
}

// A tiny experiment on writeTinyMnist data in `dir` (runs in a second or two).
inline nlohmann::json tinyExperimentJson(const std::string& dir, const std::string& method = "simclr",
                                         int64_t epochs = 2) {
  return {{"name", "tiny-" + method},
          {"data", {{"source", "mnist:" + dir}}},
          {"method", {{"name", method}}},
          {"backbone", {{"width", 4}}},
          {"schedule", {{"epochs", epochs}, {"batch_size", 16}, {"warmup_epochs", 1}}},
          {"eval", {{"knn_every", 1}, {"knn_k", 5}}},
          {"run", {{"seed", 3}, {"log_every", 1}, {"threads", 2}}}};
}

}  // namespace pretext::test
