// libFuzzer harness for the CIFAR-10 / CIFAR-100 binary readers (core/data/cifar.cpp). The
// first byte chooses the format (bit 0: CIFAR-100) and the file the rest of the input becomes
// (bits 1-3: CIFAR-10 data_batch_1..5 or test_batch, or the class-name list; CIFAR-100
// train.bin, test.bin or fine_label_names.txt). The other files are valid and tiny.
//   scripts/fuzz.sh cifar [SECONDS]
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/data_io.h"
#include "core/util/error.h"
#include "fuzz/fuzz_files.h"

namespace {

std::vector<uint8_t> records(int n, int labelBytes) {
  std::vector<uint8_t> b;
  for (int i = 0; i < n; ++i) {
    for (int l = 0; l < labelBytes; ++l) b.push_back(static_cast<uint8_t>(i % 10));
    for (int k = 0; k < 3072; ++k) b.push_back(static_cast<uint8_t>(k + i));
  }
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string& dir = fuzzfiles::scratchFolder();
  const bool hundred = data[0] & 1;
  const std::vector<std::string> files =
      hundred ? std::vector<std::string>{"train.bin", "test.bin", "fine_label_names.txt"}
              : std::vector<std::string>{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                         "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin",
                                         "batches.meta.txt"};
  const size_t which = ((data[0] >> 1) & 7) % files.size();
  std::filesystem::remove_all(dir + "/x");
  std::filesystem::create_directories(dir + "/x");
  for (size_t k = 0; k < files.size(); ++k) {
    const std::string path = dir + "/x/" + files[k];
    if (k == which) {
      fuzzfiles::writeFile(path, data + 1, size - 1);
    } else if (files[k].size() > 4 && files[k].compare(files[k].size() - 4, 4, ".txt") == 0) {
      continue;  // class names are optional
    } else {
      const auto valid = records(2, hundred ? 2 : 1);
      fuzzfiles::writeFile(path, valid.data(), valid.size());
    }
  }
  try {
    if (hundred) pretext::data_detail::loadCifar100(dir + "/x", pretext::DataOptions());
    else pretext::data_detail::loadCifar10(dir + "/x", pretext::DataOptions());
  } catch (const pretext::Error&) {
  }
  return 0;
}
