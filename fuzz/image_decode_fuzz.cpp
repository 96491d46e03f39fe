// libFuzzer harness for the image sources (core/data/image_folder.cpp): the
// rest of the input becomes one image file, decoded through the header check, OpenCV's imread
// and Pretext's crop and resize. The first byte chooses the source (bit 0: folder:, a class
// sub-folder holding the file, or photos:, random crops of it), the file's name (bits 1-2:
// .png, .jpg, .bmp, .jpeg; OpenCV picks its decoder from the content, photos: decodes a .jpg at
// a reduced scale) and the output size (bits 3-4: 1, 4, 8 or 32 pixels). OpenCV itself is not
// instrumented: the fuzzer sees Pretext's checks and what OpenCV allocates, not libpng's paths.
//   scripts/fuzz.sh image_decode [SECONDS]
#include <cstdint>
#include <string>

#include "core/data/data_io.h"
#include "core/util/error.h"
#include "fuzz/fuzz_files.h"

#ifdef PRETEXT_HAVE_OPENCV
#include <opencv2/core.hpp>
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
#ifdef PRETEXT_HAVE_OPENCV
  static const bool oneThread = [] {
    cv::setNumThreads(0);
    return true;
  }();
  (void)oneThread;
#endif
  const std::string& dir = fuzzfiles::scratchFolder();
  const bool photos = data[0] & 1;
  static const char* const kExtensions[] = {".png", ".jpg", ".bmp", ".jpeg"};
  static const int kSizes[] = {1, 4, 8, 32};
  const std::string name = std::string("image") + kExtensions[(data[0] >> 1) & 3];
  std::filesystem::remove_all(dir + "/i");
  std::filesystem::create_directories(dir + "/i/a");
  fuzzfiles::writeFile(dir + "/i/a/" + name, data + 1, size - 1);
  const auto options = pretext::DataOptions().imageSize(kSizes[(data[0] >> 3) & 3]).photoCrops(3).photoTestCrops(1);
  try {
    if (photos) pretext::data_detail::loadPhotos(dir + "/i", options);
    else pretext::data_detail::loadImageFolder(dir + "/i", options);
  } catch (const pretext::Error&) {
  }
  return 0;
}
