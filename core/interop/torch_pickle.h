#pragma once
// Reads the files Python's torch.save writes (PyTorch >= 1.6: a zip archive holding data.pkl, a
// pickle, and one record per tensor storage). LibTorch's own torch::pickle_load cannot read the
// commonest of them, a module's state_dict: torch.save(model.state_dict()) pickles an
// OrderedDict with a _metadata attribute, and LibTorch 1.13's unpickler fails on its BUILD
// ("Expected GenericDict but got None"); it also gives up on any Python class it does not know,
// where a checkpoint's optimiser settings or hyper-parameters sit next to the weights.
//
// This reader runs the pickle opcodes itself (protocols 2 to 5, what torch.save emits) and
// keeps what a state_dict is made of: dicts (OrderedDict included, its attributes dropped),
// lists, tuples, strings, numbers and tensors (torch._utils._rebuild_tensor_v2 and
// _rebuild_parameter over typed storages). Any other Python object becomes a placeholder string
// "<object module.Name>" instead of an error. The zip is read by LibTorch's PyTorchStreamReader.
// Header values (sizes, strides, offsets) are checked against the storages, never trusted.
#include <ATen/core/ivalue.h>

#include <istream>
#include <string>

namespace pretext {

// The object torch.save stored in `path`. Throws pretext::Error naming the file and what is
// wrong (not a zip, no data.pkl, an opcode it does not know, a tensor beyond its storage...).
c10::IValue loadTorchSave(const std::string& path);
// The same for an archive in memory or any stream; `name` labels the errors.
c10::IValue loadTorchSave(std::istream& in, const std::string& name);

}  // namespace pretext
