// libFuzzer harness for the torch.save reader (core/interop/torch_pickle): the fuzzer's bytes
// become data.pkl of an in-memory torch.save archive, written by LibTorch's own
// PyTorchStreamWriter so that the zip and its CRCs are valid and the pickle machine is what gets
// exercised, beside two storages, data/0 (64 bytes) and data/1 (empty). Every outcome but a
// pretext::Error is a finding: a crash, a sanitizer report, a leak, a hang.
//   scripts/fuzz.sh torch_pickle [SECONDS]     clang + libFuzzer + ASan/UBSan
//   build/fuzz/replay_torch_pickle DIR...      a plain build replays the corpus (ctest does)
#include <caffe2/serialize/inline_container.h>

#include <cstdint>
#include <sstream>
#include <string>

#include "core/interop/torch_pickle.h"
#include "core/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string archive;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, size_t n) {
      archive.append(static_cast<const char*>(buf), n);
      return n;
    });
    static const char storage[64] = {};
    writer.writeRecord("data.pkl", data, size);
    for (int k = 0; k < 8; ++k) writer.writeRecord("data/" + std::to_string(k), storage, sizeof storage);
    writer.writeEndOfFile();
  }
  std::istringstream in(archive);
  try {
    pretext::loadTorchSave(in, "fuzz input");
  } catch (const pretext::Error&) {
    // refused with a message: the expected outcome for bad input
  }
  return 0;
}
