#pragma once
// Internal to core/io/ (and its tests): not part of the core's public headers.
/// A restricted unpickler: reads the pickles that torch.save writes (protocols 2..5) into a
/// plain value tree and never executes code.
///
/// Only an allow-list of globals may appear (collections.OrderedDict, torch's tensor and
/// parameter rebuilders, the typed storage classes, torch.Size, torch.device, set/frozenset,
/// _codecs.encode); any other global is refused by name, e.g.
/// "w.pt: pickle global 'posix.system' is not allowed". REDUCE/NEWOBJ/BUILD act only on
/// those callables, emulated in C++. Hostile input (stack underflow, unknown memo keys,
/// lengths past the end, cycles, deep nesting) is an fl::Error(Input) naming the source.
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fl {

struct PickleValue;
using PickleValuePtr = std::shared_ptr<PickleValue>;

/// One node of an unpickled value tree. Containers hold shared nodes (a pickle may refer to
/// the same object twice through its memo); the tree is guaranteed acyclic and at most
/// kPickleMaxDepth deep.
struct PickleValue {
  enum class Kind {
    None,
    Bool,
    Int,
    Float,
    String,  ///< str (UTF-8 bytes as written)
    Bytes,
    List,
    Tuple,
    Set,      ///< set or frozenset (items in pickle order, not deduplicated)
    Dict,     ///< dict or OrderedDict: `entries` in insertion order, keys str or int
    Tensor,   ///< built by torch._utils._rebuild_tensor_v2 / _rebuild_parameter
    Storage,  ///< a persistent-id storage not wrapped in a tensor: `tensor` is 1-D
    Global,   ///< an allow-listed global that was referenced but not called: `text`
  };

  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0.0;
  std::string text;                   ///< String, Bytes, Global ("module.name")
  std::vector<PickleValuePtr> items;  ///< List, Tuple, Set
  std::vector<std::pair<PickleValuePtr, PickleValuePtr>> entries;  ///< Dict
  bool ordered = false;  ///< Dict: built as collections.OrderedDict
  at::Tensor tensor;     ///< Tensor, Storage

  /// Python-ish type name for messages: "int", "str", "OrderedDict", "tensor", ...
  std::string typeName() const;
  /// The value of `key` (a str) in a Dict, or nullptr.
  PickleValuePtr get(const std::string& key) const;
};

/// A persistent id of torch.save: ('storage', torch.FloatStorage, '0', 'cpu', 6).
struct PickleStorageRef {
  std::string key;       ///< names the zip entry `<archive>/data/<key>`
  at::ScalarType dtype;  ///< from the storage class (FloatStorage -> float32, ...)
  std::string location;  ///< "cpu", "cuda:0", ... (informational: everything loads on CPU)
  int64_t numel = 0;     ///< elements in the storage
};

/// Loads one storage as a contiguous 1-D CPU tensor of `ref.dtype` with `ref.numel` elements.
/// Called once per distinct key; tensors that share a key become views of one storage.
using PickleStorageLoader = std::function<at::Tensor(const PickleStorageRef& ref)>;

/// Containers may nest at most this deep.
constexpr int kPickleMaxDepth = 256;

/// Unpickles `data`. `where` names the source in errors (e.g. "weights.pt"). Persistent ids
/// are resolved through `loader`; without one they are refused. Throws fl::Error(Input).
PickleValuePtr unpickle(const uint8_t* data, size_t size, const std::string& where,
                        const PickleStorageLoader& loader = {});

/// Walks a pickle whose objects we do not model (a TorchScript archive's data.pkl, with its
/// `__torch__.*` classes): any global is accepted as an opaque value and calling or BUILDing one
/// yields None; nothing is executed. Tensors and persistent ids are handled as by unpickle(),
/// so `loader` sees every storage the pickle refers to. Throws fl::Error(Input) on malformed
/// pickles (the same limits as unpickle()).
void unpickleOpaque(const uint8_t* data, size_t size, const std::string& where,
                    const PickleStorageLoader& loader);

/// True for the globals the unpickler accepts ("collections", "OrderedDict" -> true).
bool isPickleGlobalAllowed(const std::string& module, const std::string& name);

}  // namespace fl
