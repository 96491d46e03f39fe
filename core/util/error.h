#pragma once
#include <stdexcept>
#include <string>

namespace pretext {

// Every error a user can cause carries a message they can act on: which file, which byte,
// which config path, what was expected. The CLI prints it and exits non-zero; the GUI shows it.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace pretext
