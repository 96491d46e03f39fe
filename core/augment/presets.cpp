// Named augmentation presets and the JSON form of AugmentOptions.
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/augment/augment.h"
#include "core/augment/augment_internal.h"
#include "core/util/error.h"
#include "core/util/json_fields.h"

namespace pretext {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

AugmentOptions simclr() {
  return AugmentOptions()
      .cropProb(1.0)
      .cropScaleMin(0.08)
      .cropScaleMax(1.0)
      .flipProb(0.5)
      .jitterProb(0.8)
      .brightness(0.4)
      .contrast(0.4)
      .saturation(0.4)
      .hue(0.1)
      .grayscaleProb(0.2)
      .blurProb(0.5)
      .blurSigmaMin(0.1)
      .blurSigmaMax(2.0);
}

void readField(const nlohmann::json& v, const char* name, double& out) {
  if (!v.is_number())
    throw Error(std::string("augment.") + name + " = " + v.dump() + ": expected a number");
  out = v.get<double>();
}

void readField(const nlohmann::json& v, const char* name, int64_t& out) {
  // jsonToInt64: a float beyond int64's range is refused, not cast (undefined behaviour).
  if (!jsonToInt64(v, &out))
    throw Error(std::string("augment.") + name + " = " + v.dump() + ": expected an integer (within +-2^63)");
}

void readField(const nlohmann::json& v, const char* name, bool& out) {
  if (!v.is_boolean())
    throw Error(std::string("augment.") + name + " = " + v.dump() + ": expected true or false");
  out = v.get<bool>();
}

std::vector<std::string> fieldNames() {
  std::vector<std::string> names{"preset"};
#define PRETEXT_X(field, name) names.push_back(name);
  PRETEXT_AUGMENT_FIELDS(PRETEXT_X)
#undef PRETEXT_X
  return names;
}

}  // namespace

std::vector<std::string> augmentPresetNames() {
  return {"none", "weak", "simclr", "simclr-gray", "byol-asym-1", "byol-asym-2", "rotation"};
}

AugmentOptions augmentPreset(const std::string& name, int64_t size) {
  AugmentOptions o;
  if (name == "none") {
  } else if (name == "weak") {
    o.cropProb(1.0).cropScaleMin(0.6).cropScaleMax(1.0).flipProb(0.5);
  } else if (name == "simclr") {
    o = simclr();
  } else if (name == "simclr-gray") {
    // Small grayscale images (Fashion-MNIST): a milder crop (0.08 of 28x28 is ~8x8 pixels),
    // brightness/contrast only (saturation/hue are no-ops on one channel), no blur.
    o.cropProb(1.0)
        .cropScaleMin(0.2)
        .cropScaleMax(1.0)
        .flipProb(0.5)
        .jitterProb(0.8)
        .brightness(0.4)
        .contrast(0.4);
  } else if (name == "byol-asym-1") {
    o = simclr().blurProb(1.0).solarizeProb(0.0);
  } else if (name == "byol-asym-2") {
    o = simclr().blurProb(0.1).solarizeProb(0.2);
  } else if (name == "rotation") {
    // Light views for RotNet-style rotation prediction: the rotation itself is the task.
    o.cropProb(1.0).cropScaleMin(0.8).cropScaleMax(1.0).flipProb(0.5);
  } else {
    throw Error("unknown augmentation preset \"" + name +
                "\"; known: " + joined(augmentPresetNames()));
  }
  return o.size(size);
}

AugmentOptions augmentFromJson(const nlohmann::json& j, int64_t size) {
  if (!j.is_object())
    throw Error(
        "augment: expected a JSON object such as {\"preset\": \"simclr\", "
        "\"flip_prob\": 0.5}, got " +
        j.dump());
  std::string preset = "none";
  if (j.contains("preset")) {
    const auto& p = j.at("preset");
    if (!p.is_string())
      throw Error("augment.preset = " + p.dump() + ": expected a preset name (" +
                  joined(augmentPresetNames()) + ")");
    preset = p.get<std::string>();
    const auto names = augmentPresetNames();
    if (std::find(names.begin(), names.end(), preset) == names.end())
      throw Error("augment.preset = \"" + preset + "\": unknown preset; known: " + joined(names));
  }
  AugmentOptions o = augmentPreset(preset, size);
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    if (key == "preset") continue;
#define PRETEXT_X(field, name)                \
  if (key == name) {                          \
    readField(item.value(), name, o.field()); \
  } else
    PRETEXT_AUGMENT_FIELDS(PRETEXT_X) {
      throw Error("augment." + key + ": unknown field; known: " + joined(fieldNames()));
    }
#undef PRETEXT_X
  }
  o.validate();
  return o;
}

nlohmann::json augmentToJson(const AugmentOptions& options) {
  nlohmann::json j = nlohmann::json::object();
#define PRETEXT_X(field, name) j[name] = options.field();
  PRETEXT_AUGMENT_FIELDS(PRETEXT_X)
#undef PRETEXT_X
  return j;
}

}  // namespace pretext
