// libFuzzer harness for the IDX reader (MNIST / Fashion-MNIST, raw or gzip; core/data/idx.cpp).
// The first byte chooses the file the rest of the input becomes (bits 0-1: train images, train
// labels, test images, test labels) and its form (bit 2: NAME.gz; bit 3: with bit 2, the bytes
// gzip-compressed first, so that the IDX headers are fuzzed behind a valid gzip stream). The
// three other files are valid and tiny.
//   scripts/fuzz.sh idx [SECONDS]
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/data_io.h"
#include "core/util/error.h"
#include "fuzz/fuzz_files.h"

namespace {

std::vector<uint8_t> idxFile(uint32_t magic, uint32_t count, bool images) {
  std::vector<uint8_t> b;
  auto put = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  };
  put(magic);
  put(count);
  if (images) {
    put(2);
    put(2);
  }
  for (uint32_t i = 0; i < count * (images ? 4 : 1); ++i) b.push_back(static_cast<uint8_t>(i % 10));
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string& dir = fuzzfiles::scratchFolder();
  const char* names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  const int which = data[0] & 3;
  const bool gz = data[0] & 4, compress = data[0] & 8;
  for (int k = 0; k < 4; ++k) {
    const std::string path = dir + "/" + names[k];
    std::remove(path.c_str());
    std::remove((path + ".gz").c_str());
    if (k == which) {
      if (gz && compress) fuzzfiles::writeGzip(path + ".gz", data + 1, size - 1);
      else fuzzfiles::writeFile(gz ? path + ".gz" : path, data + 1, size - 1);
    } else {
      const auto valid = idxFile(k % 2 ? 0x801 : 0x803, k < 2 ? 4 : 2, k % 2 == 0);
      fuzzfiles::writeFile(path, valid.data(), valid.size());
    }
  }
  try {
    pretext::data_detail::loadIdx(dir, /*fashion=*/true, /*builtIn=*/false, pretext::DataOptions());
  } catch (const pretext::Error&) {
  }
  return 0;
}
