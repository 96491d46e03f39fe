#include "core/interop/torch_weights.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "core/interop/torch_pickle.h"
#include "core/train/run_dir.h"
#include "core/util/error.h"

namespace pretext {
namespace {

bool isResNet(const std::string& arch) { return arch.rfind("resnet", 0) == 0; }

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::string replaceFirst(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

std::string shapeOf(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? "," : "") + std::to_string(t.size(d));
  return s + "]";
}

// At most `limit` items, then "... and N more".
std::string listOf(const std::vector<std::string>& items, size_t limit = 12) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > limit) out += ", ... and " + std::to_string(items.size() - limit) + " more";
  return out;
}

std::string describeValue(const c10::IValue& v) {
  if (v.isTensor()) return "a single tensor " + shapeOf(v.toTensor());
  if (v.isList()) return "a list of " + std::to_string(v.toListRef().size()) + " items";
  if (v.isTuple()) return "a tuple of " + std::to_string(v.toTupleRef().elements().size()) + " items";
  if (v.isGenericDict()) return "a dict of " + std::to_string(v.toGenericDict().size()) + " entries";
  if (v.isString() && v.toStringRef().rfind("<object ", 0) == 0)
    return "a whole pickled Python object (" +
           v.toStringRef().substr(8, v.toStringRef().size() - 9) + ", as torch.save(model) writes)";
  if (v.isString()) return "a string";
  if (v.isInt() || v.isDouble() || v.isBool()) return "a number";
  if (v.isNone()) return "None";
  return "a " + v.tagKind();
}

// The tensors of a dict whose keys are strings, or nothing when some value is not a tensor.
bool tensorsOfDict(const c10::IValue& v, NamedTensors& out, std::vector<std::string>& others) {
  if (!v.isGenericDict()) return false;
  NamedTensors tensors;
  std::vector<std::string> rest;
  for (const auto& entry : v.toGenericDict()) {
    const std::string key = entry.key().isString() ? entry.key().toStringRef() : "<non-string key>";
    if (entry.value().isTensor()) tensors.emplace_back(key, entry.value().toTensor());
    else rest.push_back(key);
  }
  if (tensors.empty()) return false;
  out = std::move(tensors);
  others = std::move(rest);
  return true;
}

// What a file that is not a torch.save zip is, from its first bytes.
std::string diagnoseNotZip(const std::string& path, const std::string& head) {
  if (head.empty()) return path + ": the file is empty";
  if (static_cast<unsigned char>(head[0]) == 0x80)
    return path + ": a plain Python pickle or a torch.save file from before PyTorch 1.6, " +
           "which Pretext does not read; re-save it with a current PyTorch: " +
           "torch.save(torch.load(\"old.pt\"), \"weights.pt\")";
  if (head.size() >= 8 && head.compare(0, 8, "\x89HDF\r\n\x1a\n") == 0)
    return path + ": an HDF5 file (Keras weights?), not a PyTorch state_dict";
  return path + ": not a PyTorch file (torch.save writes a zip archive; this one starts with " +
         "other bytes)";
}

}  // namespace

std::string exportedTensorName(const std::string& name, const std::string& arch) {
  if (!isResNet(arch)) return name;
  if (startsWith(name, "stem.0.")) return "conv1." + name.substr(7);
  if (startsWith(name, "stem.1.")) return "bn1." + name.substr(7);
  return replaceFirst(name, ".shortcut.", ".downsample.");
}

std::string pretextTensorName(const std::string& name, const std::string& arch) {
  if (!isResNet(arch)) return name;
  if (startsWith(name, "conv1.")) return "stem.0." + name.substr(6);
  if (startsWith(name, "bn1.")) return "stem.1." + name.substr(4);
  return replaceFirst(name, ".downsample.", ".shortcut.");
}

NamedTensors exportedEncoderTensors(Encoder& encoder, const std::string& arch) {
  NamedTensors out;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    auto value = t.detach().to(torch::kCPU).contiguous().clone();
    if (value.is_floating_point()) value = value.to(torch::kFloat);
    out.emplace_back(exportedTensorName(name, arch), value);
  };
  for (const auto& p : encoder.named_parameters(/*recurse=*/true)) add(p.key(), p.value());
  for (const auto& b : encoder.named_buffers(/*recurse=*/true)) add(b.key(), b.value());
  return out;
}

void writeStateDict(const std::string& path, const NamedTensors& tensors) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t);
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  writeFileAtomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw Error(path + ": cannot write (disk full or no permission?)");
  });
}

StateDictFile readStateDict(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the weights file");
  std::string head(8, '\0');
  in.read(head.data(), 8);
  head.resize(static_cast<size_t>(in.gcount()));
  if (head.compare(0, 4, std::string("PK\x03\x04", 4)) != 0) throw Error(diagnoseNotZip(path, head));
  const c10::IValue value = loadTorchSave(path);
  StateDictFile file;
  if (!tensorsOfDict(value, file.tensors, file.skippedEntries)) {
    if (!value.isGenericDict())
      throw Error(path + ": holds " + describeValue(value) + ", not a state_dict (a dict of " +
                  "tensors by name); save one in Python with torch.save(model.state_dict(), path)");
    bool found = false;
    std::vector<std::string> keys;
    const auto dict = value.toGenericDict();
    for (const auto& entry : dict)
      if (entry.key().isString()) keys.push_back(entry.key().toStringRef());
    for (const char* name : {"state_dict", "model", "model_state_dict", "encoder", "backbone", "net"}) {
      const auto it = dict.find(c10::IValue(std::string(name)));
      std::vector<std::string> others;
      if (it != dict.end() && tensorsOfDict(it->value(), file.tensors, others)) {
        file.foundUnder = name;
        found = true;
        break;
      }
    }
    if (!found)
      throw Error(path + ": a dict without tensors (entries: " + listOf(keys) + "), and none " +
                  "of state_dict, model, model_state_dict, encoder, backbone, net holds a " +
                  "state_dict; save one in Python with torch.save(model.state_dict(), path)");
    file.skippedEntries.clear();
  }
  // Prefixes: a wrapper's (module.: DataParallel) and a method's (backbone.: solo-learn, lightly;
  // encoder.: Pretext's own). A method checkpoint also holds its projector and momentum copies:
  // when some keys carry backbone./encoder., those alone are the encoder.
  for (bool stripped = true; stripped;) {
    stripped = false;
    for (const char* prefix : {"module.", "backbone.", "encoder.", "model."}) {
      size_t with = 0;
      for (const auto& t : file.tensors) with += startsWith(t.first, prefix);
      const bool keepOnly = with > 0 && with < file.tensors.size() &&
                            (std::string(prefix) == "backbone." || std::string(prefix) == "encoder.");
      if (with != file.tensors.size() && !keepOnly) continue;
      NamedTensors kept;
      const size_t n = std::string(prefix).size();
      for (auto& t : file.tensors) {
        if (startsWith(t.first, prefix)) kept.emplace_back(t.first.substr(n), t.second);
        else file.skippedEntries.push_back(t.first);
      }
      file.tensors = std::move(kept);
      file.strippedPrefix += prefix;
      stripped = true;
      break;
    }
  }
  return file;
}

std::vector<std::string> loadEncoderTensors(Encoder& encoder, const std::string& arch,
                                            const NamedTensors& tensors) {
  std::map<std::string, torch::Tensor> target;  // exported name -> the encoder's tensor
  std::vector<std::string> order;
  for (const auto& p : encoder.named_parameters(true)) {
    target[exportedTensorName(p.key(), arch)] = p.value();
    order.push_back(exportedTensorName(p.key(), arch));
  }
  for (const auto& b : encoder.named_buffers(true)) {
    target[exportedTensorName(b.key(), arch)] = b.value();
    order.push_back(exportedTensorName(b.key(), arch));
  }
  std::map<std::string, torch::Tensor> given;
  std::vector<std::string> ignored, unexpected, mismatched, missing;
  for (const auto& [name, t] : tensors) {
    if (isResNet(arch) && (startsWith(name, "fc.") || name == "fc")) {
      ignored.push_back(name);  // torchvision's ImageNet classifier: not part of the encoder
      continue;
    }
    if (!target.count(name)) unexpected.push_back(name);
    else given[name] = t;
  }
  for (const auto& name : order) {
    const auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(name);
      continue;
    }
    const auto& want = target[name];
    if (it->second.sizes() != want.sizes())
      mismatched.push_back(name + ": file " + shapeOf(it->second) + ", encoder " + shapeOf(want));
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string msg = "the weights do not fit the " + arch + " encoder";
    if (!mismatched.empty()) msg += "; shapes differ: " + listOf(mismatched, 8);
    if (!missing.empty()) msg += "; missing keys: " + listOf(missing);
    if (!unexpected.empty()) msg += "; unexpected keys: " + listOf(unexpected);
    throw Error(msg);
  }
  torch::NoGradGuard noGrad;
  for (const auto& name : order) {
    auto& dst = target[name];
    dst.copy_(given[name].to(dst.device(), dst.scalar_type()));
  }
  return ignored;
}

InferredBackbone inferBackbone(const NamedTensors& tensors, const std::string& arch,
                               const BackboneOptions& like) {
  std::map<std::string, torch::Tensor> byName(tensors.begin(), tensors.end());
  auto has = [&](const std::string& n) { return byName.count(n) > 0; };
  auto need = [&](const std::string& n, int64_t dims) -> const torch::Tensor& {
    const auto it = byName.find(n);
    if (it == byName.end())
      throw Error("the weights have no " + n + ", which a " + (arch.empty() ? "Pretext" : arch) +
                  " encoder has");
    if (it->second.dim() != dims)
      throw Error("the weights' " + n + " is " + shapeOf(it->second) + ": expected " +
                  std::to_string(dims) + " dimensions");
    return it->second;
  };
  auto blocksIn = [&](const std::string& prefix) {
    std::set<int64_t> blocks;
    for (const auto& [name, t] : tensors)
      if (startsWith(name, prefix)) {
        const auto rest = name.substr(prefix.size());
        try {
          blocks.insert(std::stoll(rest.substr(0, rest.find('.'))));
        } catch (const std::exception&) {
        }
      }
    return static_cast<int64_t>(blocks.size());
  };
  std::string name = arch;
  if (name.empty()) {
    if (has("layer1.0.conv3.weight"))
      throw Error("the weights are a ResNet with bottleneck blocks (ResNet-50 or deeper); "
                  "Pretext's ResNets are resnet18 and resnet34");
    if (has("layer1.0.conv1.weight"))
      name = blocksIn("layer3.") >= 6 ? "resnet34" : "resnet18";
    else if (has("stage1.0.weight")) name = "convnet";
    else if (has("patch_embed.weight")) name = "vit";
    else if (has("fc.weight") && tensors.size() == 2) name = "mlp";
    else if (has("cls_token"))
      throw Error("the weights are a ViT with a class token (timm's); Pretext's ViT has none");
    else {
      std::vector<std::string> first;
      for (size_t i = 0; i < tensors.size() && i < 6; ++i) first.push_back(tensors[i].first);
      throw Error("cannot tell the architecture from the keys (" + listOf(first) + "); expected "
                  "torchvision ResNet names (conv1, layer1.0.conv1, ...) or a Pretext export");
    }
  }
  InferredBackbone out;
  out.options = like;
  out.options.name(name).stem("small");
  if (isResNet(name)) {
    const auto& w = need("conv1.weight", 4);
    out.options.width(w.size(0)).inChannels(w.size(1)).stem(w.size(2) == 7 ? "imagenet" : "small");
  } else if (name == "convnet") {
    const auto& w = need("stage1.0.weight", 4);
    out.options.width(w.size(0)).inChannels(w.size(1));
  } else if (name == "vit") {
    const auto& w = need("patch_embed.weight", 4);
    const auto& pos = need("pos_embed", 3);
    const auto grid = static_cast<int64_t>(std::llround(std::sqrt(double(pos.size(1)))));
    if (grid * grid != pos.size(1))
      throw Error("the weights' pos_embed has " + std::to_string(pos.size(1)) +
                  " tokens, not a square grid of patches (a class token?)");
    out.options.width(w.size(0)).inChannels(w.size(1)).patchSize(w.size(2)).depth(blocksIn("blocks."));
    out.imageSize = grid * w.size(2);
  } else if (name == "mlp") {
    // fc.weight is [width, C*H*W]: the channels come from the data, the square side from the rest.
    const auto& w = need("fc.weight", 2);
    const int64_t c = like.inChannels();
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(double(w.size(1)) / double(c))));
    if (side * side * c != w.size(1))
      throw Error("the weights' fc.weight takes " + std::to_string(w.size(1)) + " inputs, not " +
                  std::to_string(c) + " channels of a square image");
    out.options.width(w.size(0));
    out.imageSize = side;
  } else {
    throw Error("backbone \"" + name + "\": expected resnet18, resnet34, convnet, vit or mlp");
  }
  return out;
}

}  // namespace pretext
