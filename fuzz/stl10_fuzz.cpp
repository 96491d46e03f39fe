// libFuzzer harness for the STL-10 binary reader (core/data/stl10.cpp). The first byte chooses
// the file the rest of the input becomes (bits 0-2, modulo 6: train_X.bin, train_y.bin,
// test_X.bin, test_y.bin, unlabeled_X.bin, class_names.txt) and the options (bit 3: without the
// unlabeled images; bits 4-5: a limit of 0, 1, 2 or 3 images). The other files are valid and
// tiny: one 3x96x96 image each (27,648 bytes), a label of 1, ten class names.
//   scripts/fuzz.sh stl10 [SECONDS]
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/data_io.h"
#include "core/util/error.h"
#include "fuzz/fuzz_files.h"

namespace {

const char* const kStlFiles[] = {"train_X.bin", "train_y.bin",     "test_X.bin",
                                 "test_y.bin",  "unlabeled_X.bin", "class_names.txt"};

std::vector<uint8_t> validStlFile(int which) {
  if (which == 1 || which == 3) return {1};  // one label, class 1
  if (which == 5) {
    const std::string names = "airplane\nbird\ncar\ncat\ndeer\ndog\nhorse\nmonkey\nship\ntruck\n";
    return std::vector<uint8_t>(names.begin(), names.end());
  }
  std::vector<uint8_t> image(3 * 96 * 96);
  for (size_t k = 0; k < image.size(); ++k) image[k] = static_cast<uint8_t>(k * 7 + which);
  return image;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string& dir = fuzzfiles::scratchFolder();
  const int which = (data[0] & 7) % 6;
  std::filesystem::remove_all(dir + "/s");
  std::filesystem::create_directories(dir + "/s");
  for (int k = 0; k < 6; ++k) {
    const std::string path = dir + "/s/" + kStlFiles[k];
    if (k == which) {
      fuzzfiles::writeFile(path, data + 1, size - 1);
    } else {
      const auto valid = validStlFile(k);
      fuzzfiles::writeFile(path, valid.data(), valid.size());
    }
  }
  pretext::DataOptions options;
  options.stlUnlabeled(!(data[0] & 8)).limit((data[0] >> 4) & 3);
  try {
    pretext::data_detail::loadStl10(dir + "/s", options);
  } catch (const pretext::Error&) {
  }
  return 0;
}
