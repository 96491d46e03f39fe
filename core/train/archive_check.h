#pragma once
// The integrity of a checkpoint before LibTorch reads it. A checkpoint is a zip archive of
// stored records (LibTorch's serialize format: data.pkl, the tensors, and the TorchScript code
// of the archive's module). LibTorch's reader does not check the CRC-32 of the records it reads,
// and it compiles the code records: a damaged byte there crashed its TorchScript parser
// (a segmentation fault, found by fuzz/checkpoint_fuzz.cpp). Pretext checks the archive first.
#include <string>

namespace pretext {

// Throws pretext::Error naming `path` and the first problem when the file is not a whole zip
// archive (no end-of-directory record, entries beyond the end, a cut record) or a stored
// record's bytes do not match the CRC-32 written with it (the file changed after it was written).
void verifyArchiveIntegrity(const std::string& path);

}  // namespace pretext
