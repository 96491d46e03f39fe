#pragma once
// Fault injection for the crash-consistency tests (tests/test_crash.cpp): with
// PRETEXT_KILL_AT=POINT:N in the environment, the N-th time the process passes the named point
// it runs `beforeKill` (a test may leave a half-written file there, as a kill in the middle of a
// write would) and then kills itself with SIGKILL, exactly what `kill -9` does: no destructor,
// no flush, no atexit handler. Without the variable a point costs one comparison.
//
// The points, where Pretext writes the files a run depends on:
//   write:FILE     a file written whole into FILE.tmp (half of it, torn), not yet renamed over
//                  FILE (writeFileAtomically: checkpoint.pt, state.json, experiment.json, ...)
//   renamed:FILE   FILE replaced, the next file of the same save not yet written (between a
//                  checkpoint and its state.json)
//   metrics-row    metrics.csv has the row and metrics.jsonl half of its line
//   evaluation     half of a line appended to evaluations.jsonl
#include <functional>

namespace pretext {

void faultPoint(const char* point, const std::function<void()>& beforeKill = {});

}  // namespace pretext
