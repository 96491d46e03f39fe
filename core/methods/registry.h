#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/methods/method.h"

namespace pretext {

// One parameter of a method, as the GUI's forms and the CLI's --set see it.
struct ParamSpec {
  enum class Type { Float, Int, Bool, Choice };
  std::string name;
  Type type = Type::Float;
  nlohmann::json defaultValue;
  double min = 0, max = 0;              // inclusive range (Float, Int)
  std::vector<std::string> choices;     // Choice
  std::string help;                     // one line
};
std::string paramTypeName(ParamSpec::Type type);
// The probe_features setting shared by methods whose best representation is not the last
// stage alone (DCGAN's discriminator, colorization): choices all-max, all-mean, last.
ParamSpec probeFeaturesParam(const std::string& defaultValue, const std::string& why);

struct MethodInfo {
  std::string name;          // registry key, e.g. "simclr"
  std::string title;         // "SimCLR"
  std::string family;        // "pretext task" | "autoencoder" | "contrastive" | "siamese" | "masked" | "supervised"
  std::string summary;       // the idea, two or three sentences
  std::string formula;       // the loss, in plain text
  std::string paper;         // reference
  bool needsLabels = false;
  bool needsColour = false;  // needs 3-channel (RGB) training images (colorization, split-brain)
  // Trains on clips (MethodSetup::frames > 1: a video source, core/data/video.h) instead of still
  // images; the other methods refuse clip sources and these refuse still ones.
  bool clips = false;
  std::string requiredBackbone;         // a backbone the method cannot do without ("" = any)
  std::string defaultAugment = "none";  // augmentation preset that suits it
  bool trainable = true;     // false: an encoder from elsewhere, inspected and evaluated only
  // false: the step runs optimisers of its own (a GAN's second player), whose gradients the
  // trainer cannot average over processes; such a method trains on one process only.
  bool dataParallel = true;
  std::vector<ParamSpec> params;
  std::function<std::shared_ptr<Method>(const MethodSetup&)> make;
};

class MethodRegistry {
 public:
  static MethodRegistry& instance();  // holds the built-in methods
  void add(MethodInfo info);
  const MethodInfo& get(const std::string& name) const;  // throws Error listing the names
  bool has(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::vector<MethodInfo>& all() const { return methods_; }

 private:
  std::vector<MethodInfo> methods_;
};

// Fills defaults and checks every value against the schema; errors name
// "<path>.<param> = value: expected ..." and unknown keys.
nlohmann::json resolveParams(const MethodInfo& info, const nlohmann::json& given,
                             const std::string& path = "method.params");

// Builds a method from its name and resolved parameters.
std::shared_ptr<Method> makeMethod(const std::string& name, MethodSetup setup);

}  // namespace pretext
