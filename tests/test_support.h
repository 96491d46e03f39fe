#pragma once
// Small helpers shared by the tests: temporary directories and tiny files.
#include <QTemporaryDir>
#include <QtTest>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace pretext::test {

inline void writeBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
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
