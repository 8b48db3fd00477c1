#include "core/io/pickle.h"

#include <ATen/ATen.h>
#include <c10/util/SmallVector.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string_view>
#include <type_traits>
#include <unordered_map>

#include "core/common/error.h"
#include "core/common/huge_pages.h"

namespace fl {

namespace {

using Kind = PickleValue::Kind;

/// What an allow-listed global does when called (REDUCE / NEWOBJ).
enum class Callable {
  NotCallable,  // storage classes: only ever an argument of a persistent id
  OrderedDict,
  RebuildTensorV2,
  RebuildTensor,
  RebuildParameter,
  RebuildParameterWithState,
  TorchSize,
  TorchDevice,
  Set,
  FrozenSet,
  CodecsEncode,
};

struct AllowedGlobal {
  const char* module;
  const char* name;
  Callable callable;
  at::ScalarType storageType;  // for the storage classes
};

// The whole allow-list. Everything a state_dict pickle needs, nothing that runs code.
constexpr AllowedGlobal kAllowed[] = {
    {"collections", "OrderedDict", Callable::OrderedDict, at::kFloat},
    {"torch._utils", "_rebuild_tensor_v2", Callable::RebuildTensorV2, at::kFloat},
    {"torch._utils", "_rebuild_tensor", Callable::RebuildTensor, at::kFloat},
    {"torch._utils", "_rebuild_parameter", Callable::RebuildParameter, at::kFloat},
    {"torch._utils", "_rebuild_parameter_with_state", Callable::RebuildParameterWithState,
     at::kFloat},
    {"torch", "Size", Callable::TorchSize, at::kFloat},
    {"torch", "device", Callable::TorchDevice, at::kFloat},
    {"builtins", "set", Callable::Set, at::kFloat},
    {"builtins", "frozenset", Callable::FrozenSet, at::kFloat},
    {"_codecs", "encode", Callable::CodecsEncode, at::kFloat},
    {"torch", "FloatStorage", Callable::NotCallable, at::kFloat},
    {"torch", "DoubleStorage", Callable::NotCallable, at::kDouble},
    {"torch", "HalfStorage", Callable::NotCallable, at::kHalf},
    {"torch", "BFloat16Storage", Callable::NotCallable, at::kBFloat16},
    {"torch", "LongStorage", Callable::NotCallable, at::kLong},
    {"torch", "IntStorage", Callable::NotCallable, at::kInt},
    {"torch", "ShortStorage", Callable::NotCallable, at::kShort},
    {"torch", "CharStorage", Callable::NotCallable, at::kChar},
    {"torch", "ByteStorage", Callable::NotCallable, at::kByte},
    {"torch", "BoolStorage", Callable::NotCallable, at::kBool},
};

/// Python 2 module names that protocol <= 2 pickles use for Python 3 builtins.
std::string normalizeModule(const std::string& module) {
  if (module == "__builtin__") return "builtins";
  if (module == "copy_reg") return "copyreg";
  return module;
}

const AllowedGlobal* findAllowed(const std::string& module, const std::string& name) {
  for (const auto& g : kAllowed)
    if (module == g.module && name == g.name) return &g;
  return nullptr;
}

/// By "module.name", compared in place: every REDUCE and persistent id looks its callable up
/// here, and joining each candidate's name first made a heap string per candidate tried.
const AllowedGlobal* findAllowed(std::string_view fullName) {
  for (const auto& g : kAllowed) {
    const std::string_view module(g.module), name(g.name);
    if (fullName.size() == module.size() + 1 + name.size() && fullName.substr(0, module.size()) == module &&
        fullName[module.size()] == '.' && fullName.substr(module.size() + 1) == name)
      return &g;
  }
  return nullptr;
}

// Opcodes (Lib/pickle.py names).
enum Op : uint8_t {
  MARK = '(',
  STOP = '.',
  POP = '0',
  POP_MARK = '1',
  DUP = '2',
  FLOAT = 'F',
  INT = 'I',
  BININT = 'J',
  BININT1 = 'K',
  LONG = 'L',
  BININT2 = 'M',
  NONE = 'N',
  PERSID = 'P',
  BINPERSID = 'Q',
  REDUCE = 'R',
  STRING = 'S',
  BINSTRING = 'T',
  SHORT_BINSTRING = 'U',
  UNICODE = 'V',
  BINUNICODE = 'X',
  APPEND = 'a',
  BUILD = 'b',
  GLOBAL = 'c',
  DICT = 'd',
  EMPTY_DICT = '}',
  APPENDS = 'e',
  GET = 'g',
  BINGET = 'h',
  INST = 'i',
  LONG_BINGET = 'j',
  LIST = 'l',
  EMPTY_LIST = ']',
  OBJ = 'o',
  PUT = 'p',
  BINPUT = 'q',
  LONG_BINPUT = 'r',
  SETITEM = 's',
  TUPLE = 't',
  EMPTY_TUPLE = ')',
  SETITEMS = 'u',
  BINFLOAT = 'G',
  PROTO = 0x80,
  NEWOBJ = 0x81,
  EXT1 = 0x82,
  EXT2 = 0x83,
  EXT4 = 0x84,
  TUPLE1 = 0x85,
  TUPLE2 = 0x86,
  TUPLE3 = 0x87,
  NEWTRUE = 0x88,
  NEWFALSE = 0x89,
  LONG1 = 0x8a,
  LONG4 = 0x8b,
  BINBYTES = 'B',
  SHORT_BINBYTES = 'C',
  SHORT_BINUNICODE = 0x8c,
  BINUNICODE8 = 0x8d,
  BINBYTES8 = 0x8e,
  EMPTY_SET = 0x8f,
  ADDITEMS = 0x90,
  FROZENSET = 0x91,
  NEWOBJ_EX = 0x92,
  STACK_GLOBAL = 0x93,
  MEMOIZE = 0x94,
  FRAME = 0x95,
  BYTEARRAY8 = 0x96,
  NEXT_BUFFER = 0x97,
  READONLY_BUFFER = 0x98,
};

constexpr size_t kMaxLine = 64 * 1024;  // text opcodes (GLOBAL, INT, ...) are short
constexpr int kMaxDims = 64;
/// A tensor view may repeat its storage's elements (zero or overlapping strides, as in
/// torch.save(t.expand(...))), but not into more than this many elements: the consumer's
/// float32 copy of such a view is memory no file paid for.
constexpr int64_t kMaxRepeatedElements = int64_t{1} << 24;
/// Copies the emulated callables make (set(list), torch.Size(tuple), _codecs.encode(str))
/// may total this much plus kCopyBudgetPerByte bytes per pickle byte. A real pickle copies
/// about what it holds; through the memo, a hostile one could copy one big value for every
/// few bytes and turn kilobytes into gigabytes.
constexpr uint64_t kCopyBudgetBase = uint64_t{1} << 20;
constexpr uint64_t kCopyBudgetPerByte = 4;
/// A copied item counts as this many bytes: the 16 of the shared_ptr slot it was when the
/// budget was set. Nodes are 8-byte pointers now, but the budget stays what it was in items.
constexpr uint64_t kCopiedItemBytes = 16;
/// Objects (every value the pickle makes, ~100 bytes each) a pickle may build: this many, plus
/// kObjectsPerStorage for each distinct tensor storage read so far. A real state_dict makes
/// about 20 objects per tensor (and has a storage per tensor); a pickle of millions of Nones or
/// ints (12 million: 2.6 GB) describes no tensors and is refused at the cap, before it costs
/// more than ~25 MB. Distinct storages, not tensors or storage references: those cost a
/// hostile pickle 3 to 5 bytes each through the memo, and each would have raised the cap.
constexpr uint64_t kObjectBase = uint64_t{1} << 18;
constexpr uint64_t kObjectsPerStorage = 256;
/// Bytes the unpickler holds (objects and their text, tensor views, the stack, marks, memo,
/// container slots, dict indexes; counted as they grow, never refunded) may not exceed
///   min(kHeldBase + kHeldPerStorage x distinct storages,
///       kHeldBase + kHeldPerFileByte x (pickle bytes + the storages' record bytes)):
/// a cap tied to the tensors and to the file's size. Opcodes that make no object (DUP,
/// MEMOIZE, MARK, GET: 16 to 64 bytes held per pickle byte) are bounded by it; a real
/// state_dict holds about 4 KB per tensor.
constexpr uint64_t kHeldBase = uint64_t{64} << 20;
constexpr uint64_t kHeldPerStorage = uint64_t{16} << 10;
constexpr uint64_t kHeldPerFileByte = 64;
/// A storage record's bytes in the archive besides its data (zip local and central headers,
/// its name, torch.save's 64-byte alignment).
constexpr uint64_t kRecordOverhead = 96;
/// What each thing costs, approximately (64-bit). Nodes, arrays and text live in an arena:
/// no malloc header or control block each.
constexpr uint64_t kObjectBytes = sizeof(PickleValue);
constexpr uint64_t kTensorViewBytes = 512;  // a TensorImpl with sizes and strides
constexpr uint64_t kMemoEntryBytes = 64;    // a memo slot, or an unordered_map node and bucket

/// True when `needle` occurs in the bytes.
bool contains(const uint8_t* data, size_t size, std::string_view needle) {
  return std::search(data, data + size, needle.begin(), needle.end(),
                     [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); }) != data + size;
}

/// A refused global's message, said as what the file is when we can tell: whole pickled
/// models (torch.save(model)) are the common case and deserve "what to do", not a name.
/// Modules that run code (os, subprocess, builtins, ...) always get the plain refusal.
std::string describeRefusedGlobal(const std::string& module, const std::string& name,
                                  const uint8_t* data, size_t size) {
  const std::string cls = module + "." + name;
  const std::string plain = "pickle global '" + cls + "' is not allowed";
  auto startsWith = [&](const char* prefix) { return module.rfind(prefix, 0) == 0; };
  const std::string top = module.substr(0, module.find('.'));
  for (const char* risky : {"os", "posix", "nt", "subprocess", "builtins", "__builtin__", "importlib", "sys",
                            "shutil", "socket", "pickle", "runpy", "code", "codecs", "ctypes", "pty"}) {
    if (top == risky) return plain;
  }
  const bool classLike = !name.empty() && std::isupper(static_cast<unsigned char>(name[0]));
  // nn.Module pickles its __dict__, whose keys include these two.
  if (classLike &&
      (startsWith("torch.nn.") || (contains(data, size, "_parameters") && contains(data, size, "_modules")))) {
    return "this file holds a whole pickled model object (class " + cls +
           "), not a state_dict: save `model.state_dict()` (or open the model as TorchScript)";
  }
  if (classLike && startsWith("torch.optim")) {
    return "this file holds a whole pickled optimizer object (class " + cls +
           "), not a state_dict: save `model.state_dict()` instead";
  }
  if (startsWith("numpy")) {
    return plain + ": the file holds pickled NumPy objects, not torch tensors (save arrays with " +
           "numpy.save or numpy.savez, or torch.save torch tensors)";
  }
  if (cls == "argparse.Namespace" || startsWith("omegaconf")) {
    return plain + ": the file holds pickled configuration objects beside its tensors (save " +
           "`model.state_dict()` alone, or as .safetensors)";
  }
  return plain;
}

}  // namespace

/// Every node, array and string of one unpickled tree, freed at once with it. Nodes and
/// bytes come from slabs that double from 64 KiB to 4 MiB; nodes are constructed as handed
/// out (a node holds an at::Tensor) and destroyed with their slab. Nothing is freed before
/// the arena: an array that grows leaves its old slots behind, and the unpickler charges them
/// (see kHeldBase). The slack is at most one slab of each kind.
class PickleArena {
 public:
  PickleArena() = default;
  PickleArena(const PickleArena&) = delete;
  PickleArena& operator=(const PickleArena&) = delete;
  ~PickleArena() {
    for (const Slab& s : nodeSlabs_) std::destroy_n(static_cast<PickleValue*>(s.memory), s.used);
    for (const Slab& s : nodeSlabs_) freeSlab(s);
    for (const Slab& s : byteSlabs_) freeSlab(s);
    for (const Slab& s : ownSlabs_) freeSlab(s);
  }

  PickleValue* node() {
    if (nodeSlabs_.empty() || nodeSlabs_.back().used == nodeSlabs_.back().bytes / sizeof(PickleValue)) {
      nodeSlabs_.reserve(nodeSlabs_.size() + 1);  // no throw between the allocation and its owner
      nodeSlabs_.push_back(newSlab(nextBytes(nodeSlabs_)));
    }
    Slab& s = nodeSlabs_.back();
    return new (static_cast<PickleValue*>(s.memory) + s.used++) PickleValue();
  }

  /// Uninitialised room for `n` objects of a trivially destructible `T`.
  template <typename T>
  T* array(size_t n) {
    static_assert(std::is_trivially_destructible_v<T> && alignof(T) <= kAlign);
    return n ? static_cast<T*>(bytes(n * sizeof(T))) : nullptr;
  }

  std::string_view text(const char* p, size_t n) {
    if (n == 0) return {};
    char* d = array<char>(n);
    std::memcpy(d, p, n);
    return {d, n};
  }

 private:
  struct Slab {
    void* memory;
    size_t bytes;
    size_t used;  ///< nodes constructed, or bytes handed out
  };
  static constexpr size_t kAlign = alignof(std::max_align_t);
  static constexpr size_t kFirstSlab = size_t{64} << 10;
  static constexpr size_t kLastSlab = size_t{4} << 20;
  static constexpr size_t kHugePage = kHugePageBytes;

  static size_t nextBytes(const std::vector<Slab>& slabs) {
    return slabs.empty() ? kFirstSlab : std::min(slabs.back().bytes * 2, kLastSlab);
  }
  /// Slabs of a huge page or more are aligned to one and advised for transparent huge pages:
  /// a state_dict of 100,000 tensors fills ~100 MiB of them, and faulting that in 4 KiB
  /// pages cost a third of reading it (the memory is the same; the faults are 512 times fewer).
  static Slab newSlab(size_t bytes) {
    void* p = nullptr;
    if (bytes >= kHugePage && bytes % kHugePage == 0) {
      p = std::aligned_alloc(kHugePage, bytes);
      if (p) adviseHugePages(p, bytes);
    } else {
      p = std::malloc(bytes);
    }
    if (!p) throw std::bad_alloc();
    return {p, bytes, 0};
  }
  static void freeSlab(const Slab& s) { std::free(s.memory); }

  void* bytes(size_t n) {
    n = (n + kAlign - 1) & ~(kAlign - 1);
    if (n > kFirstSlab / 4) {  // a large array or string gets a slab of its own
      ownSlabs_.reserve(ownSlabs_.size() + 1);
      ownSlabs_.push_back(newSlab(n));
      return ownSlabs_.back().memory;
    }
    if (byteSlabs_.empty() || byteSlabs_.back().bytes - byteSlabs_.back().used < n) {
      byteSlabs_.reserve(byteSlabs_.size() + 1);
      byteSlabs_.push_back(newSlab(nextBytes(byteSlabs_)));
    }
    Slab& s = byteSlabs_.back();
    void* p = static_cast<char*>(s.memory) + s.used;
    s.used += n;
    return p;
  }

  std::vector<Slab> nodeSlabs_;
  std::vector<Slab> byteSlabs_;
  std::vector<Slab> ownSlabs_;  ///< one per large request
};

PickleTree::PickleTree() = default;
PickleTree::PickleTree(std::unique_ptr<PickleArena> arena, PickleValuePtr root)
    : arena_(std::move(arena)), root_(root) {}
PickleTree::PickleTree(PickleTree&&) noexcept = default;
PickleTree& PickleTree::operator=(PickleTree&&) noexcept = default;
PickleTree::~PickleTree() = default;

namespace {

std::string str(std::string_view v) { return std::string(v); }

/// A 64-bit mix (splitmix64's finaliser): dict int keys such as multiples of 2^20 must not
/// fall into one bucket of a power-of-two table.
uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// "7" -> 7 for the keys torch.save gives storages ("0", "1", ...): decimal, no sign, no
/// leading zero, at most 9 digits; -1 for any other key.
int64_t storageNumber(std::string_view key) {
  if (key.empty() || key.size() > 9 || (key.size() > 1 && key[0] == '0')) return -1;
  int64_t n = 0;
  for (const char c : key) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, const std::string& where,
            const PickleStorageLoader& loader, bool opaque = false)
      : data_(data), size_(size), where_(where), loader_(loader), opaque_(opaque) {}

  // Nodes may reference each other in cycles (hostile input) or nest very deeply: they are
  // plain pointers into the arena, which frees them all at once without recursion.

  PickleTree run() {
    while (true) {
      if (pos_ >= size_) fail("pickle ends without a STOP opcode (truncated)");
      op_pos_ = pos_;
      const uint8_t op = data_[pos_++];
      if (op == STOP) break;
      step(op);
    }
    PickleValuePtr result = pop("STOP");
    validate(result);
    return PickleTree(std::move(arena_), result);
  }

 private:
  using Items = PickleArray<PickleValuePtr>;

  // ---- errors -------------------------------------------------------------------------
  [[noreturn]] void fail(const std::string& what) const {
    throwInput(where_ + ": " + what + " (pickle byte " + std::to_string(op_pos_) + ")");
  }

  // ---- reading ------------------------------------------------------------------------
  const uint8_t* take(uint64_t n, const char* what) {
    if (n > size_ - pos_) {
      fail(std::string(what) + " needs " + std::to_string(n) + " bytes but only " +
           std::to_string(size_ - pos_) + " remain");
    }
    const uint8_t* p = data_ + pos_;
    pos_ += size_t(n);
    return p;
  }
  uint64_t readLe(int bytes, const char* what) {
    const uint8_t* p = take(uint64_t(bytes), what);
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  std::string line(const char* what) {
    const size_t limit = std::min(size_, pos_ + kMaxLine);
    for (size_t i = pos_; i < limit; ++i) {
      if (data_[i] == '\n') {
        std::string s(reinterpret_cast<const char*>(data_ + pos_), i - pos_);
        pos_ = i + 1;
        return s;
      }
    }
    fail(std::string(what) + " argument has no end of line");
  }
  int64_t parseInt(std::string text, const char* what) {
    if (!text.empty() && text.back() == 'L') text.pop_back();  // Python 2 long
    int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec == std::errc::result_out_of_range)
      fail(std::string(what) + " integer does not fit in 64 bits");
    if (ec != std::errc() || ptr != text.data() + text.size() || text.empty())
      fail(std::string(what) + " has a malformed integer '" + text.substr(0, 40) + "'");
    return v;
  }

  // ---- stack --------------------------------------------------------------------------
  size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(PickleValuePtr v) {
    grow(stack_, 1);
    stack_.push_back(v);
  }
  PickleValuePtr pop(const char* op) {
    if (stack_.size() <= fence()) fail(std::string("stack underflow in ") + op);
    PickleValuePtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PickleValuePtr top(const char* op) {
    if (stack_.size() <= fence()) fail(std::string("stack underflow in ") + op);
    return stack_.back();
  }
  /// Pops the last MARK; the items above it are stack_[mark, size), left in place for the
  /// caller, which shrinks the stack back to `mark` when done.
  size_t takeMark(const char* op) {
    if (marks_.empty()) fail(std::string(op) + " without a MARK");
    const size_t mark = marks_.back();
    marks_.pop_back();
    return mark;
  }
  /// stack_[from, size) copied into the arena as an array, then popped.
  Items popTo(size_t from) {
    const size_t n = stack_.size() - from;
    Items items = copyItems(stack_.data() + from, n);
    stack_.resize(from);
    return items;
  }
  Items popMark(const char* op) { return popTo(takeMark(op)); }
  Items copyItems(const PickleValuePtr* src, size_t n) {
    charge(uint64_t(n) * sizeof(PickleValuePtr));
    PickleValuePtr* d = arena_->array<PickleValuePtr>(n);
    std::uninitialized_copy(src, src + n, d);
    Items items;
    items.assign(d, n, n);
    return items;
  }
  /// Appends to an arena array, doubling its room when full (the old slots stay in the arena
  /// until the end, so the whole new room is charged).
  template <typename T>
  void pushBack(PickleArray<T>& a, const T& value) {
    if (a.size() == a.capacity()) {
      const size_t room = std::max<size_t>(1, a.capacity() * 2);
      charge(uint64_t(room) * sizeof(T));
      T* d = arena_->array<T>(room);
      std::uninitialized_copy(a.begin(), a.end(), d);
      a.assign(d, a.size(), room);
    }
    new (a.begin() + a.size()) T(value);
    a.assign(a.begin(), a.size() + 1, a.capacity());
  }

  // ---- values -------------------------------------------------------------------------
  /// Counts one value against the object cap and the bytes held.
  void count(Kind kind) {
    if (++objects_ > kObjectBase + kObjectsPerStorage * storages_.size()) {
      fail("the pickle builds more than " + std::to_string(objects_ - 1) + " objects for " +
           std::to_string(storages_.size()) + " tensor storages (a state_dict needs about 20 per " +
           "tensor; refused as a memory-exhaustion construction)");
    }
    charge(kObjectBytes + (kind == Kind::Tensor ? kTensorViewBytes : 0));
  }
  PickleValuePtr make(Kind kind) {
    count(kind);
    return node(kind);
  }
  /// A node not counted (the shared small ints, bools and empty tuple count at each use).
  PickleValuePtr node(Kind kind) {
    PickleValuePtr v = arena_->node();
    v->kind = kind;
    return v;
  }

  // ---- memory held (see kHeldBase) ------------------------------------------------------
  uint64_t heldLimit() const {
    const uint64_t storages = storages_.size();
    return std::min(kHeldBase + kHeldPerStorage * storages,
                    kHeldBase + kHeldPerFileByte * (uint64_t(size_) + storageBytes_ + kRecordOverhead * storages));
  }
  /// Counts `bytes` about to be held; past the limit the pickle is refused before they are.
  void charge(uint64_t bytes) {
    held_ += bytes;
    if (held_ > heldLimit()) {
      fail("the pickle would hold more than " + std::to_string(heldLimit() >> 20) + " MiB (" +
           std::to_string(objects_) + " objects, a stack of " + std::to_string(stack_.size()) + ", " +
           std::to_string(marks_.size()) + " marks, " + std::to_string(memoSize()) + " memo entries) for " +
           std::to_string(storages_.size()) + " tensor storages in a " + std::to_string(size_) +
           "-byte pickle (refused as a memory-exhaustion construction)");
    }
  }
  /// Makes room for `more` elements in `v`, charging the growth before it happens (doubling
  /// from 1, as push_back would: a pickle of many one-item lists holds one slot each).
  template <typename T>
  void grow(std::vector<T>& v, size_t more) {
    if (v.size() + more <= v.capacity()) return;
    const size_t want = std::max(v.size() + more, v.capacity() * 2);
    charge(uint64_t(want - v.capacity()) * sizeof(T));
    v.reserve(want);
  }
  // Small ints and bools are shared, as Python shares them: a state_dict has four or five per
  // tensor (numel, offset, size, stride, requires_grad), and nothing changes a value once made.
  // Each still counts as an object, so the caps and their messages do not depend on sharing.
  PickleValuePtr makeInt(int64_t i) {
    if (i >= 0 && i < int64_t(kSharedInts)) {
      count(Kind::Int);
      PickleValuePtr& shared = sharedInts_[size_t(i)];
      if (!shared) {
        shared = node(Kind::Int);
        shared->integer = i;
      }
      return shared;
    }
    auto v = make(Kind::Int);
    v->integer = i;
    return v;
  }
  PickleValuePtr makeBool(bool b) {
    count(Kind::Bool);
    PickleValuePtr& shared = sharedBools_[b ? 1 : 0];
    if (!shared) {
      shared = node(Kind::Bool);
      shared->boolean = b;
    }
    return shared;
  }
  PickleValuePtr makeText(Kind kind, const uint8_t* p, uint64_t n) {
    auto v = make(kind);
    charge(n);
    v->text = arena_->text(reinterpret_cast<const char*>(p), size_t(n));
    return v;
  }
  PickleValuePtr makeTuple(const Items& items) {
    auto v = make(Kind::Tuple);
    v->items = items;
    return v;
  }

  // ---- dicts --------------------------------------------------------------------------
  /// Dicts up to this size find a key by scanning their entries; a larger one gets an
  /// open-addressing index of entry positions (a hash node per key was a tenth of the time
  /// of a large state_dict).
  static constexpr size_t kScannedDict = 8;
  struct DictIndex {
    std::vector<size_t> slots;  ///< 0: empty, else entry position + 1; a power of two, <= half full
  };
  static bool sameKey(const PickleValue& a, const PickleValue& b) {
    return a.kind == b.kind && (a.kind == Kind::String ? a.text == b.text : a.integer == b.integer);
  }
  static uint64_t keyHash(const PickleValue& k) {
    return k.kind == Kind::String ? mix64(std::hash<std::string_view>()(k.text))
                                  : mix64(uint64_t(k.integer)) ^ 0x5bd1e995u;
  }
  /// The slot holding `key`, or the empty slot where it belongs.
  static size_t findSlot(const DictIndex& index, const PickleValue& dict, const PickleValue& key) {
    const size_t mask = index.slots.size() - 1;
    for (size_t s = size_t(keyHash(key)) & mask;; s = (s + 1) & mask) {
      const size_t at = index.slots[s];
      if (at == 0 || sameKey(*dict.entries[at - 1].first, key)) return s;
    }
  }
  /// Rebuilds `index` with `slotCount` slots from the dict's entries.
  void reindex(DictIndex& index, const PickleValue& dict, size_t slotCount) {
    charge(uint64_t(slotCount) * sizeof(size_t));
    index.slots.assign(slotCount, 0);
    for (size_t i = 0; i < dict.entries.size(); ++i)
      index.slots[findSlot(index, dict, *dict.entries[i].first)] = i + 1;
  }
  /// The position of `key` in `dict`, or SIZE_MAX.
  size_t findKey(const PickleValue& dict, const PickleValue& key) {
    if (dict.entries.size() <= kScannedDict) {
      for (size_t i = 0; i < dict.entries.size(); ++i)
        if (sameKey(*dict.entries[i].first, key)) return i;
      return SIZE_MAX;
    }
    const DictIndex& index = dictIndex_.at(&dict);
    const size_t at = index.slots[findSlot(index, dict, key)];
    return at ? at - 1 : SIZE_MAX;
  }

  void setItem(PickleValue& dict, PickleValuePtr key, PickleValuePtr value) {
    if (opaque_ && (dict.kind != Kind::Dict || (key->kind != Kind::String && key->kind != Kind::Int))) return;
    if (dict.kind != Kind::Dict) fail("SETITEM on a " + dict.typeName() + " (not a dict)");
    if (key->kind != Kind::String && key->kind != Kind::Int)
      fail("dict key of type " + key->typeName() + " is not supported (only str and int)");
    const size_t found = findKey(dict, *key);
    if (found != SIZE_MAX) {
      dict.entries[found].second = value;  // Python keeps the first position
      return;
    }
    pushBack(dict.entries, std::make_pair(key, value));
    const size_t n = dict.entries.size();
    if (n <= kScannedDict) return;
    DictIndex& index = dictIndex_[&dict];
    if (index.slots.size() < 2 * n) {
      reindex(index, dict, std::max<size_t>(64, index.slots.size() * 2));
    } else {
      index.slots[findSlot(index, dict, *key)] = n;
    }
  }
  void append(PickleValue& target, PickleValuePtr item, const char* op) {
    const bool toSet = std::strcmp(op, "ADDITEMS") == 0;
    if (toSet ? target.kind == Kind::Set : target.kind == Kind::List)
      pushBack(target.items, item);
    else if (opaque_)
      return;
    else
      fail(std::string(op) + " on a " + target.typeName() + " is not supported");
  }

  PickleValuePtr global(std::string module, const std::string& name) {
    module = normalizeModule(module);
    if (!findAllowed(module, name) && !opaque_) {
      const std::string what = describeRefusedGlobal(module, name, data_, size_);
      if (what.rfind("this file", 0) == 0) throwInput(where_ + ": " + what);
      fail(what);
    }
    auto v = make(Kind::Global);
    const std::string full = module + "." + name;
    v->text = arena_->text(full.data(), full.size());
    return v;
  }

  // ---- the allow-listed callables, emulated ---------------------------------------------
  /// Counts `bytes` copied out of existing values by `fn`; past the budget (see
  /// kCopyBudgetBase) the pickle is refused before the copy is made.
  void chargeCopy(uint64_t bytes, std::string_view fn) {
    copied_ += bytes;
    const uint64_t budget = kCopyBudgetBase + kCopyBudgetPerByte * uint64_t(size_);
    if (copied_ > budget) {
      fail(str(fn) + "() calls copy more than " + std::to_string(budget) + " bytes out of a " +
           std::to_string(size_) + "-byte pickle (a memory-exhaustion construction)");
    }
  }
  static std::string kindName(Kind k) {
    PickleValue v;
    v.kind = k;
    return v.typeName();
  }
  void expectKind(const PickleValue& v, Kind k, std::string_view fn, const char* arg) {
    if (v.kind != k)
      fail(str(fn) + "() argument '" + arg + "' is a " + v.typeName() + ", expected " + kindName(k));
  }
  /// Sizes and strides: on the stack up to 8 dims (not two heap vectors per tensor).
  using Dims = c10::SmallVector<int64_t, 8>;
  Dims intTuple(const PickleValue& v, std::string_view fn, const char* arg) {
    if (v.kind != Kind::Tuple && v.kind != Kind::List)
      fail(str(fn) + "() argument '" + arg + "' is a " + v.typeName() + ", expected a tuple");
    if (v.items.size() > size_t(kMaxDims))
      fail(str(fn) + "() argument '" + arg + "' has too many dims");
    Dims out;
    for (const PickleValue* x : v.items) {
      if (x->kind != Kind::Int) fail(str(fn) + "() argument '" + arg + "' holds a " + x->typeName());
      out.push_back(x->integer);
    }
    return out;
  }

  PickleValuePtr rebuildTensor(std::string_view fn, const Items& args, size_t minArgs, size_t maxArgs) {
    if (args.size() < minArgs || args.size() > maxArgs)
      fail(str(fn) + "() takes " + std::to_string(minArgs) + " arguments, got " +
           std::to_string(args.size()));
    expectKind(*args[0], Kind::Storage, fn, "storage");
    expectKind(*args[1], Kind::Int, fn, "storage_offset");
    const at::Tensor& storage = args[0]->tensor;
    const int64_t offset = args[1]->integer;
    const Dims size = intTuple(*args[2], fn, "size");
    const Dims stride = intTuple(*args[3], fn, "stride");
    if (size.size() != stride.size())
      fail(str(fn) + "(): size has " + std::to_string(size.size()) + " dims but stride has " +
           std::to_string(stride.size()));
    if (offset < 0) fail(str(fn) + "(): negative storage offset " + std::to_string(offset));
    for (size_t i = 0; i < size.size(); ++i)
      if (size[i] < 0 || stride[i] < 0) fail(str(fn) + "(): negative size or stride");
    const auto shapeText = [&] {  // the first 8 sizes: a message stays one readable line
      std::string shape;
      for (size_t i = 0; i < size.size() && i < 8; ++i)
        shape += (i ? ", " : "") + std::to_string(size[i]);
      if (size.size() > 8) shape += ", ... (" + std::to_string(size.size()) + " dims)";
      return "[" + shape + "]";
    };
    // LibTorch computes a tensor's element count in int64: the sizes must multiply within
    // it (zeros aside, which LibTorch may multiply in any order).
    using Wide = __int128;
    bool empty = false;
    Wide elements = 1;
    for (const int64_t d : size) {
      if (d == 0) {
        empty = true;
        continue;
      }
      elements *= d;  // both factors <= 2^63: no 128-bit overflow
      if (elements > Wide(std::numeric_limits<int64_t>::max()))
        fail(str(fn) + "(): a tensor of shape " + shapeText() + " has more than 2^63 elements");
    }
    if (empty) elements = 0;
    // The highest element index the view touches must lie inside the storage. Each term is
    // below 2^126 and the sum stops once it passes the storage, so 128 bits cannot overflow.
    const int64_t numel = storage.numel();
    bool inside = !empty || offset <= numel;
    if (!empty) {
      Wide last = offset;
      for (size_t i = 0; i < size.size() && inside; ++i) {
        last += Wide(size[i] - 1) * Wide(stride[i]);
        inside = last < Wide(numel);
      }
    }
    if (!inside) {
      fail(str(fn) + "(): a tensor of shape " + shapeText() + " at offset " + std::to_string(offset) +
           " reaches past its storage of " + std::to_string(numel) + " elements");
    }
    if (elements > Wide(numel) && elements > Wide(kMaxRepeatedElements)) {
      fail(str(fn) + "(): a tensor of shape " + shapeText() + " repeats its storage of " +
           std::to_string(numel) + " elements (zero or overlapping strides) into more than " +
           std::to_string(kMaxRepeatedElements) + " elements");
    }
    auto v = make(Kind::Tensor);
    // A 1-D tensor that is its whole storage (a bias, a norm's weight: half a state_dict) is
    // the storage tensor itself, the first time: the loader made it with these very sizes,
    // strides and offset. Later tensors of the same storage get views of their own, so no
    // two tensors of the tree share one TensorImpl.
    const size_t slot = size_t(args[0]->integer);
    if (size.size() == 1 && size[0] == numel && stride[0] == 1 && offset == 0 &&
        storage.storage_offset() == 0 && !storageWhole_[slot]) {
      storageWhole_[slot] = true;
      v->tensor = storage;
    } else {
      v->tensor = viewOf(storage, size, stride, offset);
    }
    return v;
  }

  /// What as_strided() makes (a view sharing the storage), built as ATen's CPU kernel builds
  /// it but without the operator dispatcher, whose autograd and view bookkeeping cost several
  /// allocations per tensor; the bounds were checked above. Nothing here tracks gradients.
  static at::Tensor viewOf(const at::Tensor& storage, at::IntArrayRef size, at::IntArrayRef stride,
                           int64_t offset) {
    auto impl = c10::make_intrusive<c10::TensorImpl>(c10::TensorImpl::VIEW, c10::Storage(storage.storage()),
                                                     storage.key_set(), storage.dtype());
    impl->set_sizes_and_strides(size, stride, offset);
    return at::Tensor(std::move(impl));
  }

  PickleValuePtr call(const PickleValue& fnValue, const PickleValue& argsValue, const char* op) {
    if (opaque_ && (fnValue.kind != Kind::Global || !findAllowed(fnValue.text)))
      return make(Kind::None);  // an object we only walk past (nothing is ever executed)
    if (fnValue.kind != Kind::Global)
      fail(std::string(op) + " on a " + fnValue.typeName() +
           " (only allow-listed globals may be called)");
    if (argsValue.kind != Kind::Tuple)
      fail(std::string(op) + " arguments are a " + argsValue.typeName() + ", not a tuple");
    const std::string_view fn = fnValue.text;
    const AllowedGlobal* g = findAllowed(fn);
    if (!g) fail("pickle global '" + str(fn) + "' is not allowed");  // unreachable: checked at GLOBAL
    const Items& args = argsValue.items;
    switch (g->callable) {
      case Callable::NotCallable:
        fail("pickle global '" + str(fn) + "' cannot be called");
      case Callable::OrderedDict: {
        if (!args.empty()) fail(str(fn) + "() with arguments is not supported");
        auto d = make(Kind::Dict);
        d->ordered = true;
        return d;
      }
      case Callable::RebuildTensorV2:
        return rebuildTensor(fn, args, 6, 7);
      case Callable::RebuildTensor:
        return rebuildTensor(fn, args, 4, 4);
      case Callable::RebuildParameter:
      case Callable::RebuildParameterWithState: {
        const size_t want = g->callable == Callable::RebuildParameter ? 3 : 4;
        if (args.size() != want) fail(str(fn) + "() takes " + std::to_string(want) + " arguments");
        expectKind(*args[0], Kind::Tensor, fn, "data");
        auto v = make(Kind::Tensor);
        v->tensor = args[0]->tensor;  // requires_grad, hooks and Python state do not matter here
        return v;
      }
      case Callable::TorchSize: {
        if (args.size() != 1) fail(str(fn) + "() takes 1 argument");
        const Items& src = args[0]->items;
        chargeCopy(src.size() * kCopiedItemBytes, fn);
        return makeTuple(copyItems(src.begin(), src.size()));
      }
      case Callable::TorchDevice: {
        if (args.empty() || args.size() > 2 || args[0]->kind != Kind::String ||
            (args.size() == 2 && args[1]->kind != Kind::Int))
          fail(str(fn) + "() takes (str) or (str, int)");
        chargeCopy(args[0]->text.size(), fn);
        const std::string text =
            str(args[0]->text) + (args.size() == 2 ? ":" + std::to_string(args[1]->integer) : "");
        auto v = make(Kind::String);
        charge(text.size());
        v->text = arena_->text(text.data(), text.size());
        return v;
      }
      case Callable::Set:
      case Callable::FrozenSet: {
        auto v = make(Kind::Set);
        if (args.size() > 1) fail(str(fn) + "() takes at most 1 argument");
        if (!args.empty()) {
          const PickleValue& src = *args[0];
          if (src.kind != Kind::List && src.kind != Kind::Tuple && src.kind != Kind::Set)
            fail(str(fn) + "() of a " + src.typeName() + " is not supported");
          chargeCopy(src.items.size() * kCopiedItemBytes, fn);
          // A copy, not the source's array: either may grow later (ADDITEMS, APPEND).
          v->items = copyItems(src.items.begin(), src.items.size());
        }
        return v;
      }
      case Callable::CodecsEncode: {
        // Protocol 2 pickles bytes as _codecs.encode(str, 'latin1').
        if (args.size() != 2 || args[0]->kind != Kind::String || args[1]->kind != Kind::String ||
            (args[1]->text != "latin1" && args[1]->text != "latin-1"))
          fail(str(fn) + "() is only supported as encode(str, 'latin1')");
        chargeCopy(args[0]->text.size(), fn);
        charge(args[0]->text.size());
        const std::string bytes = latin1(args[0]->text);
        auto v = make(Kind::Bytes);
        v->text = arena_->text(bytes.data(), bytes.size());
        return v;
      }
    }
    fail("unreachable");
  }

  /// UTF-8 -> Latin-1 bytes (code points above 255 are an error).
  std::string latin1(std::string_view utf8) {
    std::string out;
    for (size_t i = 0; i < utf8.size();) {
      const auto c = uint8_t(utf8[i]);
      if (c < 0x80) {
        out.push_back(char(c));
        ++i;
      } else if ((c & 0xE0) == 0xC0 && i + 1 < utf8.size()) {
        const unsigned cp = ((c & 0x1Fu) << 6) | (uint8_t(utf8[i + 1]) & 0x3Fu);
        if (cp > 0xFF) fail("_codecs.encode(): character beyond latin1");
        out.push_back(char(cp));
        i += 2;
      } else {
        fail("_codecs.encode(): character beyond latin1");
      }
    }
    return out;
  }

  PickleValuePtr persistentLoad(const PickleValue& pid) {
    if (pid.kind != Kind::Tuple || pid.items.size() != 5 || pid.items[0]->kind != Kind::String ||
        pid.items[0]->text != "storage") {
      fail("persistent id is a " + pid.typeName() +
           ", not ('storage', type, key, location, numel)");
    }
    const Items& it = pid.items;
    if (it[1]->kind != Kind::Global || (it[2]->kind != Kind::String && it[2]->kind != Kind::Int) ||
        it[3]->kind != Kind::String || it[4]->kind != Kind::Int) {
      fail("malformed storage persistent id");
    }
    const AllowedGlobal* g = findAllowed(it[1]->text);
    if (!g || g->callable != Callable::NotCallable)
      fail("persistent id names '" + str(it[1]->text) + "', not a storage type");
    PickleStorageRef ref;
    ref.key = it[2]->kind == Kind::String ? str(it[2]->text) : std::to_string(it[2]->integer);
    ref.dtype = g->storageType;
    ref.location = str(it[3]->text);
    ref.numel = it[4]->integer;
    if (ref.numel < 0) fail("storage '" + ref.key + "' has a negative size");

    // torch.save numbers its storages "0", "1", ... in order: those are found by number;
    // any other key through a map.
    const int64_t number = storageNumber(ref.key);
    size_t slot = SIZE_MAX;
    if (number >= 0 && size_t(number) < storageByNumber_.size()) {
      slot = storageByNumber_[size_t(number)];
    } else if (const auto known = storageByKey_.find(ref.key); known != storageByKey_.end()) {
      slot = known->second;
    }
    if (slot == SIZE_MAX) {
      if (!loader_)
        fail("pickle refers to storage '" + ref.key + "' but no storage loader was given");
      at::Tensor t = loader_(ref);
      if (!t.defined() || t.dim() != 1 || t.numel() != ref.numel || t.scalar_type() != ref.dtype ||
          !t.is_contiguous()) {
        throw Error(ErrorKind::Internal,
                    where_ + ": storage loader returned a wrong tensor for '" + ref.key + "'");
      }
      slot = storages_.size();
      if (number >= 0 && size_t(number) == storageByNumber_.size())
        storageByNumber_.push_back(slot);
      else
        storageByKey_.emplace(ref.key, slot);
      storageBytes_ += uint64_t(t.nbytes());
      storages_.push_back(std::move(t));
      storageWhole_.push_back(false);
    } else if (storages_[slot].numel() != ref.numel || storages_[slot].scalar_type() != ref.dtype) {
      fail("storage '" + ref.key + "' is described twice with different types or sizes");
    }
    auto v = make(Kind::Storage);
    v->tensor = storages_[slot];
    v->integer = int64_t(slot);  // for rebuildTensor (storageWhole_)
    return v;
  }

  // ---- the opcode loop ------------------------------------------------------------------
  void step(uint8_t op) {
    switch (op) {
      case PROTO: {
        const uint8_t version = *take(1, "PROTO");
        if (version > 5) fail("pickle protocol " + std::to_string(version) + " is not supported");
        return;
      }
      case FRAME:
        readLe(8, "FRAME");  // framing is only a read-ahead hint
        return;
      case MARK:
        grow(marks_, 1);
        marks_.push_back(stack_.size());
        return;
      case POP:
        if (!marks_.empty() && marks_.back() == stack_.size())
          marks_.pop_back();
        else
          pop("POP");
        return;
      case POP_MARK:
        stack_.resize(takeMark("POP_MARK"));
        return;
      case DUP:
        push(top("DUP"));
        return;

      case NONE:
        push(make(Kind::None));
        return;
      case NEWTRUE:
        push(makeBool(true));
        return;
      case NEWFALSE:
        push(makeBool(false));
        return;
      case BININT1:
        push(makeInt(int64_t(readLe(1, "BININT1"))));
        return;
      case BININT2:
        push(makeInt(int64_t(readLe(2, "BININT2"))));
        return;
      case BININT:
        push(makeInt(int64_t(int32_t(uint32_t(readLe(4, "BININT"))))));
        return;
      case LONG1:
      case LONG4: {
        const uint64_t n = op == LONG1 ? readLe(1, "LONG1") : readLe(4, "LONG4");
        if (op == LONG4 && n > 0x7FFFFFFF) fail("LONG4 with a negative length");
        const uint8_t* p = take(n, op == LONG1 ? "LONG1" : "LONG4");
        if (n > 8) fail("integer of " + std::to_string(n) + " bytes does not fit in 64 bits");
        uint64_t v = 0;
        for (int i = int(n) - 1; i >= 0; --i) v = (v << 8) | p[i];
        if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
        push(makeInt(int64_t(v)));
        return;
      }
      case INT: {
        const std::string s = line("INT");
        if (s == "01")
          push(makeBool(true));
        else if (s == "00")
          push(makeBool(false));
        else
          push(makeInt(parseInt(s, "INT")));
        return;
      }
      case LONG:
        push(makeInt(parseInt(line("LONG"), "LONG")));
        return;
      case FLOAT: {
        const std::string s = line("FLOAT");
        double d = 0;
        const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
        if (ec != std::errc() || ptr != s.data() + s.size() || s.empty())
          fail("FLOAT has a malformed number");
        auto v = make(Kind::Float);
        v->real = d;
        push(v);
        return;
      }
      case BINFLOAT: {
        const uint8_t* p = take(8, "BINFLOAT");
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];  // big-endian
        auto v = make(Kind::Float);
        std::memcpy(&v->real, &bits, 8);
        push(v);
        return;
      }

      case SHORT_BINUNICODE:
        pushText(Kind::String, 1, "SHORT_BINUNICODE");
        return;
      case BINUNICODE:
        pushText(Kind::String, 4, "BINUNICODE");
        return;
      case BINUNICODE8:
        pushText(Kind::String, 8, "BINUNICODE8");
        return;
      case SHORT_BINSTRING:
        pushText(Kind::String, 1, "SHORT_BINSTRING");
        return;
      case BINSTRING:
        pushText(Kind::String, 4, "BINSTRING");
        return;
      case SHORT_BINBYTES:
        pushText(Kind::Bytes, 1, "SHORT_BINBYTES");
        return;
      case BINBYTES:
        pushText(Kind::Bytes, 4, "BINBYTES");
        return;
      case BINBYTES8:
        pushText(Kind::Bytes, 8, "BINBYTES8");
        return;
      case BYTEARRAY8:
        pushText(Kind::Bytes, 8, "BYTEARRAY8");
        return;

      case EMPTY_LIST:
        push(make(Kind::List));
        return;
      case EMPTY_DICT:
        push(make(Kind::Dict));
        return;
      case EMPTY_SET:
        push(make(Kind::Set));
        return;
      case EMPTY_TUPLE: {
        // Shared, as Python shares (): torch.save writes one per tensor (OrderedDict()'s
        // arguments for its hooks). It still counts as an object; nothing can add items to it.
        count(Kind::Tuple);
        if (!emptyTuple_) emptyTuple_ = node(Kind::Tuple);
        push(emptyTuple_);
        return;
      }
      case TUPLE:
        push(makeTuple(popMark("TUPLE")));
        return;
      case TUPLE1:
      case TUPLE2:
      case TUPLE3: {
        const size_t n = size_t(op - TUPLE1 + 1);
        if (stack_.size() < fence() + n) fail(std::string("stack underflow in ") + opName(op));
        push(makeTuple(popTo(stack_.size() - n)));
        return;
      }
      case LIST: {
        auto v = make(Kind::List);
        v->items = popMark("LIST");
        push(v);
        return;
      }
      case FROZENSET: {
        auto v = make(Kind::Set);
        v->items = popMark("FROZENSET");
        push(v);
        return;
      }
      case DICT: {
        const size_t mark = takeMark("DICT");
        if ((stack_.size() - mark) % 2) fail("DICT with an odd number of items");
        auto d = make(Kind::Dict);
        for (size_t i = mark; i < stack_.size(); i += 2) setItem(*d, stack_[i], stack_[i + 1]);
        stack_.resize(mark);
        push(d);
        return;
      }
      case APPEND: {
        PickleValuePtr item = pop("APPEND");
        append(*top("APPEND"), item, "APPEND");
        return;
      }
      case APPENDS:
      case ADDITEMS: {
        // The items stay on the stack while they are appended: no copy of them is made.
        const char* name = op == APPENDS ? "APPENDS" : "ADDITEMS";
        const size_t mark = takeMark(name);
        if (mark <= fence()) fail(std::string("stack underflow in ") + name);
        PickleValue& target = *stack_[mark - 1];
        for (size_t i = mark; i < stack_.size(); ++i) append(target, stack_[i], name);
        stack_.resize(mark);
        return;
      }
      case SETITEM: {
        PickleValuePtr value = pop("SETITEM");
        PickleValuePtr key = pop("SETITEM");
        setItem(*top("SETITEM"), key, value);
        return;
      }
      case SETITEMS: {
        const size_t mark = takeMark("SETITEMS");
        if ((stack_.size() - mark) % 2) fail("SETITEMS with an odd number of items");
        if (mark <= fence()) fail("stack underflow in SETITEMS");
        PickleValue& target = *stack_[mark - 1];
        for (size_t i = mark; i < stack_.size(); i += 2) setItem(target, stack_[i], stack_[i + 1]);
        stack_.resize(mark);
        return;
      }

      case GET:
        memoGet(uint64_t(parseInt(line("GET"), "GET")));
        return;
      case BINGET:
        memoGet(readLe(1, "BINGET"));
        return;
      case LONG_BINGET:
        memoGet(readLe(4, "LONG_BINGET"));
        return;
      case PUT: {
        const int64_t key = parseInt(line("PUT"), "PUT");
        if (key < 0) fail("PUT with a negative memo key");
        memoPut(uint64_t(key), "PUT");
        return;
      }
      case BINPUT: {
        memoPut(readLe(1, "BINPUT"), "BINPUT");
        return;
      }
      case LONG_BINPUT: {
        memoPut(readLe(4, "LONG_BINPUT"), "LONG_BINPUT");
        return;
      }
      case MEMOIZE: {
        memoPut(memoSize(), "MEMOIZE");
        return;
      }

      case GLOBAL: {
        const std::string module = line("GLOBAL");
        const std::string name = line("GLOBAL");
        push(global(module, name));
        return;
      }
      case STACK_GLOBAL: {
        PickleValuePtr name = pop("STACK_GLOBAL");
        PickleValuePtr module = pop("STACK_GLOBAL");
        if (module->kind != Kind::String || name->kind != Kind::String)
          fail("STACK_GLOBAL needs two strings");
        push(global(str(module->text), str(name->text)));
        return;
      }
      case INST: {
        // INST names its class inline and calls it: only allow-listed ones.
        const std::string module = line("INST");
        const std::string name = line("INST");
        PickleValuePtr cls = global(module, name);
        PickleValuePtr args = makeTuple(popMark("INST"));
        push(call(*cls, *args, "INST"));
        return;
      }
      case OBJ: {
        const size_t mark = takeMark("OBJ");
        if (stack_.size() == mark) fail("stack underflow in OBJ");
        PickleValuePtr cls = stack_[mark];
        PickleValuePtr args = makeTuple(popTo(mark + 1));
        stack_.resize(mark);
        push(call(*cls, *args, "OBJ"));
        return;
      }
      case REDUCE: {
        PickleValuePtr args = pop("REDUCE");
        PickleValuePtr fn = pop("REDUCE");
        push(call(*fn, *args, "REDUCE"));
        return;
      }
      case NEWOBJ: {
        PickleValuePtr args = pop("NEWOBJ");
        PickleValuePtr cls = pop("NEWOBJ");
        push(call(*cls, *args, "NEWOBJ"));
        return;
      }
      case NEWOBJ_EX: {
        PickleValuePtr kwargs = pop("NEWOBJ_EX");
        PickleValuePtr args = pop("NEWOBJ_EX");
        PickleValuePtr cls = pop("NEWOBJ_EX");
        if (kwargs->kind != Kind::Dict || !kwargs->entries.empty())
          fail("NEWOBJ_EX with keyword arguments is not supported");
        push(call(*cls, *args, "NEWOBJ_EX"));
        return;
      }
      case BUILD: {
        pop("BUILD");  // the state
        PickleValuePtr target = top("BUILD");
        // state_dict() sets OrderedDict._metadata and tensor subclasses carry Python
        // attributes: both are object attributes, never entries, so they are dropped.
        if (target->kind != Kind::Dict && target->kind != Kind::Tensor && !opaque_)
          fail("BUILD on a " + target->typeName() + " is not supported");
        return;
      }
      case PERSID: {
        const std::string id = line("PERSID");
        fail("text persistent id '" + id.substr(0, 40) + "' is not supported");
      }
      case BINPERSID: {
        PickleValuePtr pid = pop("BINPERSID");
        push(persistentLoad(*pid));
        return;
      }

      case STRING:
      case UNICODE:
        fail(std::string("protocol-0 opcode ") + opName(op) + " is not supported");
      case EXT1:
      case EXT2:
      case EXT4:
        fail("extension-registry opcodes (EXT1/2/4) are not allowed");
      case NEXT_BUFFER:
      case READONLY_BUFFER:
        fail("out-of-band buffers are not supported");
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(std::string("unknown pickle opcode ") + hex + " (not a pickle, or a damaged one)");
      }
    }
  }

  /// A length-prefixed string or bytes opcode; the length is checked against what remains.
  void pushText(Kind kind, int lengthBytes, const char* name) {
    const uint64_t n = readLe(lengthBytes, name);
    push(makeText(kind, take(n, name), n));
  }

  // The memo: keys 0, 1, 2, ... in order (what pickle writes: PUT len(memo)) in a vector,
  // any other key in a map. A hash node per entry was a seventh of a large state_dict's time.
  size_t memoSize() const { return memoDense_.size() + memoSparse_.size(); }

  void memoPut(uint64_t key, const char* op) {
    PickleValuePtr value = top(op);
    if (key < memoDense_.size()) {
      memoDense_[size_t(key)] = value;
      return;
    }
    if (const auto it = memoSparse_.find(key); it != memoSparse_.end()) {
      it->second = value;
      return;
    }
    charge(kMemoEntryBytes);
    if (key == memoDense_.size()) {
      memoDense_.push_back(value);
      // Keys stored out of order before may now continue the run: move them over.
      for (auto it = memoSparse_.find(memoDense_.size()); it != memoSparse_.end();
           it = memoSparse_.find(memoDense_.size())) {
        memoDense_.push_back(it->second);
        memoSparse_.erase(it);
      }
    } else {
      memoSparse_.emplace(key, value);
    }
  }

  void memoGet(uint64_t key) {
    if (key < memoDense_.size()) return push(memoDense_[size_t(key)]);
    const auto it = memoSparse_.find(key);
    if (it == memoSparse_.end()) fail("memo key " + std::to_string(key) + " was never stored");
    push(it->second);
  }

  static const char* opName(uint8_t op) {
    switch (op) {
      case TUPLE1:
        return "TUPLE1";
      case TUPLE2:
        return "TUPLE2";
      case TUPLE3:
        return "TUPLE3";
      case STRING:
        return "STRING";
      case UNICODE:
        return "UNICODE";
      default:
        return "opcode";
    }
  }

  /// Rejects cycles and nesting deeper than kPickleMaxDepth. (Garbage left in the memo,
  /// cycles included, goes with the arena.)
  void validate(const PickleValue* root) {
    std::unordered_map<const PickleValue*, int> height;  // -1 while on the current path
    measure(root, 1, height);
  }
  int measure(const PickleValue* v, int depth,
              std::unordered_map<const PickleValue*, int>& height) {
    if (depth > kPickleMaxDepth)
      fail("containers nest deeper than " + std::to_string(kPickleMaxDepth) + " levels");
    // A leaf is one level and closes no cycle: only containers are remembered.
    if (v->items.empty() && v->entries.empty()) return 1;
    const auto it = height.find(v);
    if (it != height.end()) {
      if (it->second < 0) fail("the pickle holds a reference cycle (not supported)");
      if (depth + it->second - 1 > kPickleMaxDepth)
        fail("containers nest deeper than " + std::to_string(kPickleMaxDepth) + " levels");
      return it->second;
    }
    height[v] = -1;
    int h = 0;
    for (const PickleValue* c : v->items) h = std::max(h, measure(c, depth + 1, height));
    for (const auto& [k, val] : v->entries) {
      h = std::max(h, measure(k, depth + 1, height));
      h = std::max(h, measure(val, depth + 1, height));
    }
    height[v] = h + 1;
    return h + 1;
  }

  const uint8_t* data_;
  size_t size_;
  const std::string& where_;
  const PickleStorageLoader& loader_;
  /// unpickleOpaque(): other globals are opaque values, calling or BUILDing them makes None.
  const bool opaque_ = false;
  std::unique_ptr<PickleArena> arena_ = std::make_unique<PickleArena>();
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  uint64_t objects_ = 0;       ///< values made so far (see kObjectBase)
  uint64_t held_ = 0;          ///< bytes held, as charged (see kHeldBase)
  uint64_t storageBytes_ = 0;  ///< data bytes of the distinct storages read
  std::vector<PickleValuePtr> stack_;
  std::vector<size_t> marks_;
  std::vector<PickleValuePtr> memoDense_;                    ///< memo keys 0 .. size-1
  std::unordered_map<uint64_t, PickleValuePtr> memoSparse_;  ///< any other memo key
  static constexpr size_t kSharedInts = 256;
  PickleValuePtr sharedInts_[kSharedInts] = {};
  PickleValuePtr sharedBools_[2] = {};
  PickleValuePtr emptyTuple_ = nullptr;
  /// Indexes of the dicts larger than kScannedDict.
  std::unordered_map<const PickleValue*, DictIndex> dictIndex_;
  uint64_t copied_ = 0;  ///< bytes copied by emulated callables (chargeCopy)
  /// The distinct storages, in the order first read; storageWhole_[i]: storages_[i] was
  /// already handed out as a tensor itself (see rebuildTensor).
  std::vector<at::Tensor> storages_;
  std::vector<bool> storageWhole_;
  std::vector<size_t> storageByNumber_;                   ///< key "n" -> slot, for n = 0, 1, ...
  std::unordered_map<std::string, size_t> storageByKey_;  ///< any other key -> slot
};

}  // namespace

std::string PickleValue::typeName() const {
  switch (kind) {
    case Kind::None:
      return "None";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::Bytes:
      return "bytes";
    case Kind::List:
      return "list";
    case Kind::Tuple:
      return "tuple";
    case Kind::Set:
      return "set";
    case Kind::Dict:
      return ordered ? "OrderedDict" : "dict";
    case Kind::Tensor:
      return "tensor";
    case Kind::Storage:
      return "storage";
    case Kind::Global:
      return "global " + std::string(text);
  }
  return "?";
}

PickleValuePtr PickleValue::get(std::string_view key) const {
  for (const auto& [k, v] : entries)
    if (k->kind == Kind::String && k->text == key) return v;
  return nullptr;
}

bool isPickleGlobalAllowed(const std::string& module, const std::string& name) {
  return findAllowed(normalizeModule(module), name) != nullptr;
}

PickleTree unpickle(const uint8_t* data, size_t size, const std::string& where,
                    const PickleStorageLoader& loader) {
  return Unpickler(data, size, where, loader).run();
}

void unpickleOpaque(const uint8_t* data, size_t size, const std::string& where,
                    const PickleStorageLoader& loader) {
  Unpickler(data, size, where, loader, /*opaque=*/true).run();
}

}  // namespace fl
