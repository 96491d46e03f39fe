#pragma once
// NumPy's .npy format (version 1.0), so that numpy.load reads what Pretext computed: features
// (float32, N x D), labels and indices (int64). The file is written atomically: a failed or
// interrupted write leaves no half-written .npy behind.
#include <torch/types.h>

#include <string>

namespace pretext {

// Writes a CPU-contiguous copy of `values` (float32, float64, int32 or int64; any rank) to
// `path`. Throws pretext::Error naming the file when it cannot be written, or the dtype when
// the .npy format has no name for it here.
void writeNpy(const std::string& path, const torch::Tensor& values);

// The header that precedes the data: magic, version 1.0, its length, and the Python dict
// {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), } padded to a multiple of 64 bytes.
std::string npyHeader(const torch::Tensor& values);

}  // namespace pretext
