// libFuzzer harness for the readers of a run folder's text files that another process writes:
// RunTail (core/train/run_tail.cpp: metrics.jsonl read in whole lines across polls, state.json)
// and readEvalRecords (core/eval/results.cpp: evaluations.jsonl, eval.json,
// eval-random-init.json). The first byte chooses the file the rest of the input becomes and how
// metrics.jsonl arrives: in up to four appended pieces, polled after each (a writer caught
// half-way through a line), optionally then cut back (a resume rewrites it).
//   scripts/fuzz.sh run_files [SECONDS]
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/eval/results.h"
#include "core/train/run_tail.h"
#include "core/util/error.h"
#include "fuzz/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string dir = fuzzfiles::scratchFolder() + "/run";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const uint8_t mode = data[0];
  ++data;
  --size;
  try {
    switch (mode & 3) {
      case 0: {  // metrics.jsonl, appended in pieces
        const int pieces = 1 + ((mode >> 2) & 3);
        pretext::RunTail tail(dir, 64 + ((mode >> 4) & 3) * 64);  // small slices: lines cross them
        size_t written = 0;
        for (int p = 1; p <= pieces; ++p) {
          const size_t upTo = size * p / pieces;
          std::ofstream(dir + "/metrics.jsonl", std::ios::binary | std::ios::app)
              .write(reinterpret_cast<const char*>(data + written), static_cast<std::streamsize>(upTo - written));
          written = upTo;
          for (int i = 0; i < 4 && (i == 0 || tail.behind()); ++i) tail.poll();
        }
        if (mode & 0x40) {  // cut back to half: read from the start again
          fuzzfiles::writeFile(dir + "/metrics.jsonl", data, size / 2);
          tail.poll();
        }
        (void)tail.stepsPerSecond();
        break;
      }
      case 1: {  // state.json
        fuzzfiles::writeFile(dir + "/state.json", data, size);
        pretext::RunTail tail(dir);
        tail.poll();
        break;
      }
      case 2:  // evaluations.jsonl
        fuzzfiles::writeFile(dir + "/evaluations.jsonl", data, size);
        (void)pretext::readEvalRecords(dir);
        break;
      default:  // the CLI's results
        fuzzfiles::writeFile(dir + ((mode & 4) ? "/eval-random-init.json" : "/eval.json"), data, size);
        (void)pretext::readEvalRecords(dir);
        break;
    }
  } catch (const pretext::Error&) {
  }
  return 0;
}
