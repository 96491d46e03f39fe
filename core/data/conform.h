#pragma once
// Makes a data set look like another one's images: the channel count and the image size. Used to
// probe a representation on a labelled source other than the one it was trained on (a colour
// method trained on unlabelled photos, probed on Fashion-MNIST: `pretext-cli eval RUN --data`).
#include <cstdint>

#include "core/data/dataset.h"

namespace pretext {

// A copy of `d` with images of `channels` channels and `size` x `size` pixels (uint8, like every
// Dataset): 1 -> 3 channels replicates the gray plane (a gray RGB image), 3 -> 1 takes the
// ITU-R 601 luma; a different size is a bilinear resize (antialiased when shrinking) of the whole
// image. Labels and class names are kept. Returns `d` itself when nothing needs changing.
// Throws pretext::Error for channel counts other than 1 and 3, or a size < 1.
Dataset conformImages(const Dataset& d, int64_t channels, int64_t size);

}  // namespace pretext
