#pragma once
// Reading whole numbers from JSON that came from outside (files a user or another program
// wrote). nlohmann converts a JSON float to an integer with a plain cast, which is undefined
// behaviour when the value lies outside the integer's range (1e28 as a "step": found by
// fuzz/run_files_fuzz.cpp under UBSan); these check first.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <limits>

namespace pretext {

// v as an int64_t when it is a whole number within int64's range (an integer, or a float with no
// fractional part); false otherwise (out of range, fractional, NaN, not a number).
inline bool jsonToInt64(const nlohmann::json& v, int64_t* out) {
  // Unsigned first: nlohmann's is_number_integer() is true for unsigned numbers as well.
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    *out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 is exactly representable; every double below it and at or above -2^63 fits.
    if (!std::isfinite(d) || std::floor(d) != d || d >= 9223372036854775808.0 || d < -9223372036854775808.0)
      return false;
    *out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

// j[key] as an int64_t, or `fallback` when it is missing or not such a number.
inline int64_t intField(const nlohmann::json& j, const char* key, int64_t fallback) {
  if (!j.is_object()) return fallback;
  const auto it = j.find(key);
  int64_t v = 0;
  return it != j.end() && jsonToInt64(*it, &v) ? v : fallback;
}

}  // namespace pretext
