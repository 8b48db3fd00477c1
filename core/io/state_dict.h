#pragma once
/// state_dict files and loading them into modules.
///
/// `torch.save(model.state_dict(), path)` writes PyTorch's zip archive with a pickled
/// OrderedDict that LibTorch 1.13's torch::pickle_load refuses; readStateDict() reads it
/// with a restricted unpickler that builds only tensors and plain containers and never
/// runs code (core/io/pickle.h).
#include <optional>
#include <string>
#include <vector>

#include "core/io/tensor_io.h"

namespace torch::nn {
class Module;
}

namespace fl {

struct PickleValue;

/// Reads a state_dict from a torch.save zip archive (.pt, .pth, .bin, .ckpt) or a
/// .safetensors file. Throws fl::Error(Input) naming the file and the problem.
NamedTensors readStateDict(const std::string& path);

/// How a state_dict fits a module, key by key.
struct WeightsReport {
  std::vector<std::string> matched;
  std::vector<std::string> missing;     ///< in the module, not in the file
  std::vector<std::string> unexpected;  ///< in the file, not in the module
  std::vector<std::string> mismatched;  ///< "key: file [a, b] vs module [c, d]"
  /// Set by loadCheckpoint(): the prefix the module's tensors were taken from ("" for a
  /// plain state_dict, e.g. "state_dict.module.decoder.GF.") and one line per thing worth
  /// knowing (nesting found, tensors ignored, dtypes converted, other candidate prefixes).
  std::string prefix;
  std::vector<std::string> notes;
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  /// One line listing the problems by key, at most 10 per kind (empty when ok()).
  std::string summary() const;
};

/// Everything a checkpoint file holds, flattened: what users actually save is rarely a
/// bare state_dict. torch.save archives may hold a plain dict or OrderedDict, nested training
/// checkpoints ({'state_dict': ..., 'optimizer': ..., 'epoch': 3}, {'model': ...}, BasicSR's
/// {'params': ..., 'params_ema': ...}), or a single tensor.
struct Checkpoint {
  std::string path;
  std::string format;    ///< "torch.save" or "safetensors"
  std::string rootType;  ///< Python type of the pickled root: "OrderedDict", "dict", "tensor"
  /// Every tensor with its dotted path from the root: dict keys (str or int) and list
  /// indices joined by '.', e.g. "state_dict.module.conv.weight", "optimizer.state.0.exp_avg".
  /// A root that is itself a tensor is named "".
  NamedTensors tensors;
  /// Dotted paths and types of the non-tensor leaves skipped ("epoch (int)", ...).
  std::vector<std::string> skipped;
};

/// Reads any torch.save zip archive (.pt, .pth, .bin, .ckpt) or .safetensors file into a
/// Checkpoint; never runs code (restricted unpickler). Throws fl::Error(Input).
Checkpoint readCheckpoint(const std::string& path);

/// Flattens an unpickled value tree (see Checkpoint::tensors). Shared subtrees are visited
/// once. `where` names the source in messages.
Checkpoint flattenCheckpoint(const PickleValue& root, const std::string& where);

/// One module's tensors picked out of a checkpoint.
struct ModuleState {
  NamedTensors state;  ///< names relative to the module (the prefix removed)
  std::string prefix;  ///< "" or a dotted prefix ending in '.'
  std::vector<std::string> notes;  ///< one line each (see WeightsReport::notes)
};

/// Picks the tensors of a module whose state_dict keys are `moduleKeys` out of `tensors`
/// (a flattened checkpoint).
///
/// A candidate prefix P is any string such that some file key is P + a module key, with P
/// empty or ending at a '.' (this covers nesting containers such as "state_dict.", the
/// DataParallel "module." and submodule paths such as "decoder.GF." alike).
/// - `prefix` given: only candidates equal to it or ending with it at a '.' boundary (so
///   "decoder.GF." also finds "state_dict.module.decoder.GF."); "" or "." means the root.
/// - `prefix` absent: automatic. The candidate under which every module key exists wins
///   when it is the only one; with several, well-known containers break the tie
///   (params_ema > params > state_dict > model_state_dict > model > net > network > ema),
///   otherwise fl::Error(Weights) lists them and says to use --prefix.
/// - No candidate holds every key: the one holding most is taken, so the strict load
///   reports the missing and unexpected keys; none at all is fl::Error(Weights).
/// The returned state holds every file tensor under the chosen prefix (extra ones are then
/// reported as unexpected by matchStateDict).
ModuleState extractModuleState(const NamedTensors& tensors,
                               const std::vector<std::string>& moduleKeys,
                               const std::optional<std::string>& prefix, const std::string& where);

/// readCheckpoint() + extractModuleState() + loadStateDict(): the strict load of a module
/// from whatever checkpoint the user has. The report carries the chosen prefix and notes.
/// Throws fl::Error(Input) for unreadable files, fl::Error(Weights) for mismatches.
WeightsReport loadCheckpoint(torch::nn::Module& module, const std::string& path,
                             const std::optional<std::string>& prefix = std::nullopt);

/// extractModuleState() + loadStateDict() on tensors already read (a flattened checkpoint
/// from readCheckpoint(), or a plain state_dict): what loadCheckpoint() does after reading
/// the file. The GUI reads a file once and loads it into every run this way.
WeightsReport loadCheckpointTensors(torch::nn::Module& module, const NamedTensors& tensors,
                                    const std::optional<std::string>& prefix, const std::string& where);

/// The module's state_dict: parameters and buffers with their dotted Python names.
NamedTensors moduleStateDict(const torch::nn::Module& module);

/// The module's state_dict keys, in order.
std::vector<std::string> moduleStateKeys(const torch::nn::Module& module);

WeightsReport matchStateDict(const torch::nn::Module& module, const NamedTensors& state);

/// A module's state_dict key and shape, known without its tensors (a descriptor's state list).
struct StateKey {
  std::string name;
  std::vector<int64_t> shape;
};

/// matchStateDict() against keys and shapes alone: the same report, nothing allocated
/// (`inspect --module` on a module whose weights would take gigabytes).
WeightsReport matchStateKeys(const std::vector<StateKey>& own, const NamedTensors& state);

/// Strict load: throws fl::Error(Weights) with the report's summary unless every key
/// matches by name and shape; then copies values (converting dtype, e.g. float64 -> float32).
WeightsReport loadStateDict(torch::nn::Module& module, const NamedTensors& state,
                            const std::string& where);

}  // namespace fl
