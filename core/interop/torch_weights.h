#pragma once
// Encoders as PyTorch state_dicts, both ways. Out: the files torch.save writes (a zip holding a
// pickled dict of tensors, written by LibTorch's torch::pickle_save), which Python's torch.load
// reads as a dict and a PyTorch module loads with strict=True: the ResNets under torchvision's
// names (stem.0 -> conv1, stem.1 -> bn1, shortcut -> downsample), the ConvNet and the ViT under
// the names python/pretext_models.py builds. In: a state_dict that torch.save wrote (a plain or
// ordered dict of tensors, or a checkpoint dict holding one under "state_dict", "model", ...),
// with a module./backbone./encoder. prefix stripped, checked key by key and shape by shape.
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "core/models/backbone.h"

namespace pretext {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// A tensor name of `arch` ("convnet", "resnet18", ...) in Pretext's module tree -> the exported
// (torchvision) name, and back. Names outside the mapping pass unchanged.
std::string exportedTensorName(const std::string& pretextName, const std::string& arch);
std::string pretextTensorName(const std::string& exportedName, const std::string& arch);

// The encoder's parameters and buffers under their exported names, in module order: CPU,
// contiguous (NCHW), detached copies; float32 (half-precision tensors of a packed run included).
NamedTensors exportedEncoderTensors(Encoder& encoder, const std::string& arch);

// Writes `tensors` as a dict {name: tensor} in torch.save's zip format, atomically (a temporary
// file renamed into place: an existing file is replaced whole or not at all).
void writeStateDict(const std::string& path, const NamedTensors& tensors);

struct StateDictFile {
  NamedTensors tensors;           // names after the prefix was stripped
  std::string foundUnder;         // "" (the file is the dict) or the entry it came from
  std::string strippedPrefix;     // e.g. "backbone." ("" when none)
  std::vector<std::string> skippedEntries;  // non-tensor entries beside the tensors
};

// Reads a file that torch.save (or writeStateDict) wrote. A dict whose values are tensors is the
// state_dict; otherwise the first of "state_dict", "model", "model_state_dict", "encoder",
// "backbone", "net" that is one. A prefix shared by every key (module., backbone., encoder.,
// model.) is stripped, repeatedly (module.backbone.). Throws pretext::Error naming the file and
// saying what it holds instead (a truncated zip, a pickle of something else, a list...).
StateDictFile readStateDict(const std::string& path);

// Copies `tensors` (exported names) into `encoder`, strictly: every parameter and buffer must be
// there with its shape, and nothing else, except keys the encoder never has by design
// (torchvision's classifier fc.*), which are returned. Throws pretext::Error listing the missing
// keys, the unexpected keys and the shape mismatches ("layer1.0.conv1.weight: file [64,64,3,3],
// encoder [32,32,3,3]"), and leaves the encoder unchanged then.
std::vector<std::string> loadEncoderTensors(Encoder& encoder, const std::string& arch,
                                            const NamedTensors& tensors);

// The architecture a state_dict holds, read off its tensors' names and shapes: name (given, or
// guessed from the keys when empty), width, in_channels, stem (resnets: 7x7 conv1 = imagenet),
// depth and patch size (vit), and the image size a vit's position embeddings fix (0 otherwise).
// heads cannot be read off the weights: it stays at `like`'s value. Throws pretext::Error
// naming the keys it looked for.
struct InferredBackbone {
  BackboneOptions options;
  int64_t imageSize = 0;
};
InferredBackbone inferBackbone(const NamedTensors& tensors, const std::string& arch,
                               const BackboneOptions& like = BackboneOptions());

}  // namespace pretext
