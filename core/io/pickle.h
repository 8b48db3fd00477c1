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
#include <string_view>
#include <utility>
#include <vector>

namespace fl {

struct PickleValue;
/// Nodes refer to each other by plain pointers: every node lives in the arena of the
/// PickleTree that unpickle() returns and dies with it, all at once. A shared_ptr and a heap
/// block per node were most of the time a 100,000-tensor checkpoint took to read.
using PickleValuePtr = PickleValue*;

/// A run of `T` in a PickleTree's arena (List/Tuple/Set items, Dict entries). Read-only to
/// everyone but the unpickler, which sets it with assign().
template <typename T>
class PickleArray {
 public:
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T& operator[](size_t i) const { return data_[i]; }
  T& operator[](size_t i) { return data_[i]; }
  const T& front() const { return data_[0]; }
  const T& back() const { return data_[size_ - 1]; }
  /// For the unpickler: `data` (arena memory of `capacity` slots) holds the first `size`.
  void assign(T* data, size_t size, size_t capacity) {
    data_ = data;
    size_ = size;
    capacity_ = capacity;
  }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

/// One node of an unpickled value tree. Containers may share nodes (a pickle may refer to
/// the same object twice through its memo); the tree is guaranteed acyclic and at most
/// kPickleMaxDepth deep.
struct PickleValue {
  enum class Kind : uint8_t {
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
  bool ordered = false;  ///< Dict: built as collections.OrderedDict
  int64_t integer = 0;
  double real = 0.0;
  std::string_view text;                ///< String, Bytes, Global ("module.name"); in the arena
  PickleArray<PickleValuePtr> items;  ///< List, Tuple, Set
  PickleArray<std::pair<PickleValuePtr, PickleValuePtr>> entries;  ///< Dict
  at::Tensor tensor;  ///< Tensor, Storage

  /// Python-ish type name for messages: "int", "str", "OrderedDict", "tensor", ...
  std::string typeName() const;
  /// The value of `key` (a str) in a Dict, or nullptr.
  PickleValuePtr get(std::string_view key) const;
};

/// Owns the nodes, arrays and text of one unpickled tree (internal to pickle.cpp).
class PickleArena;

/// What unpickle() returns: the root and the arena that holds every node. Move-only; nodes
/// reached from it are valid while it lives.
class PickleTree {
 public:
  PickleTree();
  PickleTree(std::unique_ptr<PickleArena> arena, PickleValuePtr root);
  PickleTree(PickleTree&&) noexcept;
  PickleTree& operator=(PickleTree&&) noexcept;
  ~PickleTree();

  const PickleValue* get() const { return root_; }
  const PickleValue& operator*() const { return *root_; }
  const PickleValue* operator->() const { return root_; }

 private:
  std::unique_ptr<PickleArena> arena_;
  PickleValuePtr root_ = nullptr;
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
PickleTree unpickle(const uint8_t* data, size_t size, const std::string& where,
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
