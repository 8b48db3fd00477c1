// Attention points of a TorchScript module (see script_model.h).
#include "core/script/script_model.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "core/common/error.h"
#include "core/common/memory.h"
#include "core/run/memory_limit.h"
#include "core/io/torchscript_safety.h"

namespace fl::script {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

/// The short name of an attention operator, or "" for any other node.
std::string attentionOp(const Node* node) {
  const std::string k = node->kind().toQualString();
  if (k == "aten::sigmoid" || k == "aten::sigmoid_") return "sigmoid";
  if (k == "aten::hardsigmoid" || k == "aten::hardsigmoid_") return "hardsigmoid";
  if (k == "aten::softmax" || k == "aten::_softmax") return "softmax";
  return "";
}

bool isTensor(const Value* v) { return v->type()->cast<c10::TensorType>() != nullptr; }

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (!path.empty()) {
    const auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

std::string joinPath(const std::vector<std::string>& parts, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < parts.size(); ++i) s += (i ? "." : "") + parts[i];
  return s;
}

/// A point found in a graph, with the value that holds it (in that graph).
struct Found {
  PointSpec spec;
  Value* value = nullptr;
};

class PointFinder {
 public:
  explicit PointFinder(Graph& graph) : graph_(graph) {}

  std::vector<Found> find(bool moduleOutputs) {
    visit(graph_.block(), "");
    if (moduleOutputs) findModuleOutputs();
    return std::move(found_);
  }

 private:
  std::string uniqueName(const std::string& base, const std::string& sep) {
    std::string name = base;
    for (int i = 1; used_.count(name); ++i) name = base + sep + std::to_string(i);
    used_.insert(name);
    return name;
  }

  void visit(torch::jit::Block* block, const std::string& enclosing) {
    for (Node* node : block->nodes()) {
      const std::string op = attentionOp(node);
      if (!op.empty()) {
        Found f;
        f.spec.modulePath = modulePathOf(node);
        f.spec.op = node->kind().toQualString();
        f.spec.name = uniqueName(f.spec.modulePath.empty() ? op : f.spec.modulePath + "." + op, "_");
        f.spec.attention = true;
        f.spec.capturable = block == graph_.block();
        if (!f.spec.capturable) {
          f.spec.reason = "inside a " + enclosing + " block (scripted control flow)";
        }
        f.value = node->output(0);
        found_.push_back(f);
      }
      for (torch::jit::Block* sub : node->blocks()) {
        visit(sub, block == graph_.block() ? node->kind().toQualString() : enclosing);
      }
    }
  }

  /// A value made inside module P and used outside it (by a node whose path does not
  /// start with P, or by the graph's return) is an output of P and of every enclosing
  /// module it leaves. Tuples and lists built at the boundary stand for their tensors.
  void findModuleOutputs() {
    std::map<Value*, std::set<std::string>> seen;
    for (Node* node : graph_.block()->nodes()) {
      if (node->kind() == c10::prim::Constant || node->kind() == c10::prim::GetAttr) continue;
      const std::string path = modulePathOf(node);
      if (path.empty()) continue;
      const std::vector<std::string> p = splitPath(path);
      for (Value* v : node->outputs()) {
        size_t common = p.size();  // smallest shared prefix with any user
        for (const torch::jit::Use& use : v->uses()) {
          // The graph's return is outside every module; a sub-block's return belongs to
          // the node that owns the block.
          const Node* user = use.user;
          if (user->kind() == c10::prim::Return) user = user->owningBlock()->owningNode();
          const std::vector<std::string> q =
              user ? splitPath(modulePathOf(user)) : std::vector<std::string>{};
          size_t c = 0;
          while (c < p.size() && c < q.size() && p[c] == q[c]) ++c;
          common = std::min(common, c);
        }
        if (common == p.size()) continue;  // used only inside P
        std::vector<Value*> tensors;
        if (isTensor(v)) {
          tensors.push_back(v);
        } else if (node->kind() == c10::prim::TupleConstruct || node->kind() == c10::prim::ListConstruct) {
          for (Value* in : node->inputs()) {
            if (isTensor(in)) tensors.push_back(in);
          }
        }
        if (tensors.empty()) continue;
        for (size_t depth = p.size(); depth > common; --depth) {
          const std::string module = joinPath(p, depth);
          for (size_t i = 0; i < tensors.size(); ++i) {
            if (!seen[tensors[i]].insert(module).second) continue;
            Found f;
            f.spec.modulePath = module;
            f.spec.op = "module output";
            f.spec.attention = false;
            f.spec.name = uniqueName(tensors.size() == 1 ? module : module + "." + std::to_string(i), ".");
            f.value = tensors[i];
            found_.push_back(f);
          }
        }
      }
    }
  }

  Graph& graph_;
  std::vector<Found> found_;
  std::set<std::string> used_;
};

/// "x.1" -> "x": the graph's debug names carry a uniquing suffix.
std::string inputName(const Value* v, size_t index) {
  std::string name = v->hasDebugName() ? v->debugName() : "";
  const auto dot = name.rfind('.');
  if (dot != std::string::npos && dot + 1 < name.size() &&
      name.find_first_not_of("0123456789", dot + 1) == std::string::npos) {
    name = name.substr(0, dot);
  }
  return name.empty() ? "input" + std::to_string(index) : name;
}

void flatten(const c10::IValue& v, const std::string& name, NamedTensors& out,
             std::vector<std::string>& notes) {
  if (v.isTensor()) {
    at::Tensor t = v.toTensor().detach().to(at::kCPU);
    if (t.is_floating_point()) t = t.to(at::kFloat);
    out.emplace_back(name, t.contiguous());
  } else if (v.isTuple() || v.isList()) {
    const std::vector<c10::IValue> items =
        v.isTuple() ? v.toTupleRef().elements().vec() : v.toListRef().vec();
    for (size_t i = 0; i < items.size(); ++i) flatten(items[i], name + "." + std::to_string(i), out, notes);
  } else if (v.isGenericDict()) {
    for (const auto& item : v.toGenericDict()) {
      const c10::IValue& key = item.key();
      const std::string k = key.isString() ? key.toStringRef()
                            : key.isInt()  ? std::to_string(key.toInt())
                                           : std::string("?");
      flatten(item.value(), name + "." + k, out, notes);
    }
  } else if (!v.isNone()) {
    notes.push_back(name + " is a " + v.tagKind() + ", not a tensor: skipped");
  }
}

/// The value behind a chain of prim::GetAttr from `self` (parameters, submodules).
std::optional<c10::IValue> resolveAttr(const Value* v, const c10::IValue& self, const Graph& g) {
  if (v == g.inputs()[0]) return self;
  const Node* n = v->node();
  if (n->kind() != c10::prim::GetAttr) return std::nullopt;
  const auto owner = resolveAttr(n->input(0), self, g);
  if (!owner || !owner->isObject()) return std::nullopt;
  const auto obj = owner->toObject();
  const std::string name = n->s(c10::attr::name);
  if (!obj->type()->hasAttribute(name)) return std::nullopt;
  return obj->getAttr(name);
}

/// GetAttr chains that end in an int, float, bool, str or None become constants. Exact:
/// the allow-list refuses prim::SetAttr, so forward cannot change them.
void foldAttributes(torch::jit::Block* block, const c10::IValue& self, Graph& g) {
  for (auto it = block->nodes().begin(); it != block->nodes().end();) {
    Node* n = *it;
    ++it;
    for (torch::jit::Block* sub : n->blocks()) foldAttributes(sub, self, g);
    if (n->kind() != c10::prim::GetAttr) continue;
    const auto v = resolveAttr(n->output(), self, g);
    if (!v || !(v->isInt() || v->isDouble() || v->isBool() || v->isString() || v->isNone())) continue;
    torch::jit::WithInsertPoint guard(n);
    Value* c = g.insertConstant(*v);
    if (*c->type() != *n->output()->type()) {
      c->node()->destroy();
      continue;
    }
    n->output()->replaceAllUsesWith(c);
    n->destroy();
  }
}

/// The graph the points are found in and captured from: forward inlined, then module
/// settings (`self.variant == "seed"`, `self.training`) folded, so a scripted module's
/// branches on them disappear and their points become capturable.
std::shared_ptr<Graph> analysisGraph(const torch::jit::Module& module, const std::string& path) {
  std::shared_ptr<Graph> g = inlinedForward(module, path);
  try {
    foldAttributes(g->block(), module._ivalue(), *g);
    torch::jit::ConstantPropagation(g);
  } catch (const c10::Error& e) {
    throwInput("TorchScript '" + path + "': cannot simplify its graph: " + firstLine(e.what_without_backtrace()));
  }
  return g;
}

}  // namespace

std::string pointKindName(const std::optional<ProbeKind>& kind) {
  return kind ? probeKindName(*kind) : "unclassified";
}

PointShape classifyPoint(at::IntArrayRef s, bool attention, const std::string& op,
                         const std::vector<std::pair<int64_t, int64_t>>& grids,
                         const std::vector<int64_t>& channels) {
  auto isGrid = [&](int64_t h, int64_t w) {
    for (const auto& g : grids) {
      if (g.first == h && g.second == w) return true;
    }
    return false;
  };
  auto gridOfArea = [&](int64_t n) -> const std::pair<int64_t, int64_t>* {
    for (const auto& g : grids) {
      if (g.first * g.second == n && n > 1) return &g;
    }
    return nullptr;
  };
  auto isChannels = [&](int64_t c) {
    return std::find(channels.begin(), channels.end(), c) != channels.end();
  };
  PointShape out;
  // A flattened spatial map ([B,N], [B,1,N], [B,N,1,1] with N = H*W of a grid and N not a
  // channel count of the inputs): shown as the [B,1,H,W] map it is.
  int64_t flat = 0, big = 0;
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i] != 1) {
      ++big;
      flat = s[i];
    }
  }
  if (attention && s.size() >= 2 && big == 1 && !isChannels(flat)) {
    if (const auto* g = gridOfArea(flat)) {
      out.kind = ProbeKind::SpatialMap;
      out.view = {s[0], 1, g->first, g->second};
      out.note = "flattened spatial map shown as " + shapeText(out.view);
      return out;
    }
  }
  if (s.size() == 2) {
    if (attention) out.kind = ProbeKind::ChannelWeights;
    return out;
  }
  if (s.size() == 3) {
    if (!attention) return out;
    if (s[1] == 1) {
      out.kind = ProbeKind::ChannelWeights;  // [B,1,C] (ECA's layout)
    } else if (s[1] == s[2] && !gridOfArea(s[1])) {
      out.kind = ProbeKind::ChannelMatrix;
    } else if (s[2] <= 8 && !gridOfArea(s[1])) {
      out.kind = ProbeKind::ScaleWeights;  // [B,C,S]
    }
    return out;
  }
  if (s.size() != 4) return out;
  if (s[2] == 1 && s[3] == 1) {
    out.kind = ProbeKind::ChannelWeights;  // [B,C,1,1]
  } else if (s[1] == 1) {
    out.kind = ProbeKind::SpatialMap;  // [B,1,H,W]
  } else if (isGrid(s[2], s[3])) {
    out.kind = attention ? ProbeKind::Gate : ProbeKind::FeatureMap;
  } else if (isGrid(s[1], s[2]) && isChannels(s[3])) {
    // channels-last [B,H,W,C] (e.g. a gate computed on permuted features)
    out.kind = attention ? ProbeKind::Gate : ProbeKind::FeatureMap;
    out.permute = {0, 3, 1, 2};
    out.view = {s[0], s[3], s[1], s[2]};
    out.note = "channels-last " + shapeText(s) + " shown as " + shapeText(out.view);
  } else if (attention && s[3] == 1 && s[2] <= 8) {
    out.kind = ProbeKind::ScaleWeights;  // [B,C,S,1]
  } else if (attention && (gridOfArea(s[2]) || gridOfArea(s[3]))) {
    out.kind = ProbeKind::AttentionMatrix;
  } else {
    out.kind = attention ? ProbeKind::Gate : ProbeKind::FeatureMap;
  }
  return out;
}

struct ScriptModel::Impl {
  std::string path;
  torch::jit::Module module;
  std::shared_ptr<Graph> graph;  // inlined forward, for analysis
  std::vector<std::string> inputNames;
  size_t outputCount = 1;
  /// Every size of every parameter and buffer: the channel counts a network uses (a
  /// flattened map of N values is a spatial map only when N is none of them).
  std::vector<int64_t> paramSizes;
  mutable std::mutex mutex;  // one run at a time; guards the capture functions
  struct Capture {
    std::shared_ptr<torch::jit::GraphFunction> fn;
    std::vector<PointSpec> points;  // capturable, in output order
    std::vector<PointSpec> notCaptured;
  };
  mutable std::map<bool, Capture> captures;

  Capture& capture(bool moduleOutputs) const {
    auto it = captures.find(moduleOutputs);
    if (it != captures.end()) return it->second;
    // A fresh inlined copy whose return is (original outputs..., clones of the points...).
    // Clones: a later in-place op must not change what the point showed.
    std::shared_ptr<Graph> g = analysisGraph(module, path);
    const std::vector<Found> found = PointFinder(*g).find(moduleOutputs);
    Capture c;
    std::vector<Value*> outs(g->outputs().begin(), g->outputs().end());
    for (const Found& f : found) {
      if (!f.spec.capturable) {
        c.notCaptured.push_back(f.spec);
        continue;
      }
      torch::jit::WithInsertPoint guard(f.value->node()->next());
      outs.push_back(g->insert(c10::aten::clone, {f.value}));
      c.points.push_back(f.spec);
    }
    while (!g->outputs().empty()) g->eraseOutput(g->outputs().size() - 1);
    Node* tuple = g->createTuple(outs);
    g->appendNode(tuple);
    g->registerOutput(tuple->output());
    c.fn = std::make_shared<torch::jit::GraphFunction>("fusionlens_capture", g, nullptr);
    return captures.emplace(moduleOutputs, std::move(c)).first->second;
  }
};

ScriptModel::ScriptModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ScriptModel::~ScriptModel() = default;

std::shared_ptr<ScriptModel> ScriptModel::load(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->module = loadCheckedModule(path);
  impl->graph = analysisGraph(impl->module, path);
  const auto inputs = impl->graph->inputs();
  for (size_t i = 1; i < inputs.size(); ++i) {
    const std::string name = inputName(inputs[i], i - 1);
    if (!isTensor(inputs[i])) {
      throwInput("TorchScript '" + path + "': forward's input '" + name + "' is a " +
                 inputs[i]->type()->repr_str() + "; FusionLens feeds tensors only");
    }
    impl->inputNames.push_back(name);
  }
  if (impl->inputNames.empty()) throwInput("TorchScript '" + path + "': forward takes no tensor input");
  impl->outputCount = impl->graph->outputs().size();
  std::set<int64_t> sizes;
  for (const auto& p : impl->module.named_parameters(true)) {
    for (int64_t d : p.value.sizes()) sizes.insert(d);
  }
  for (const auto& b : impl->module.named_buffers(true)) {
    for (int64_t d : b.value.sizes()) sizes.insert(d);
  }
  impl->paramSizes.assign(sizes.begin(), sizes.end());
  return std::shared_ptr<ScriptModel>(new ScriptModel(std::move(impl)));
}

const std::string& ScriptModel::path() const { return impl_->path; }
const std::vector<std::string>& ScriptModel::inputNames() const { return impl_->inputNames; }
size_t ScriptModel::outputCount() const { return impl_->outputCount; }

std::vector<PointSpec> ScriptModel::points(bool moduleOutputs) const {
  std::shared_ptr<Graph> g = impl_->graph->copy();
  std::vector<PointSpec> out;
  for (const Found& f : PointFinder(*g).find(moduleOutputs)) out.push_back(f.spec);
  return out;
}

std::vector<std::pair<std::string, int>> ScriptModel::operatorCounts() const {
  std::map<std::string, int> counts;
  for (const OperatorUse& u : listOperators(*impl_->graph)) ++counts[u.op];
  return {counts.begin(), counts.end()};
}

std::optional<std::vector<std::vector<int64_t>>> ScriptModel::guessInputShapes() const {
  const Graph& g = *impl_->graph;
  const c10::IValue self = impl_->module._ivalue();
  for (const Node* node : g.nodes()) {
    const std::string k = node->kind().toQualString();
    int64_t channels = 0;
    auto weight = [&](size_t index) -> std::optional<at::Tensor> {
      if (node->inputs().size() <= index) return std::nullopt;
      const auto v = resolveAttr(node->input(index), self, g);
      if (!v || !v->isTensor()) return std::nullopt;
      return v->toTensor();
    };
    auto constInt = [&](size_t index) -> int64_t {
      if (node->inputs().size() <= index) return 1;
      const auto v = torch::jit::toIValue(node->input(index));
      return v && v->isInt() ? v->toInt() : 1;
    };
    if (k == "aten::_convolution" || k == "aten::conv2d") {
      const auto w = weight(1);
      if (w && w->dim() == 4) channels = w->size(1) * constInt(k == "aten::conv2d" ? 6 : 8);
    } else if (k == "aten::linear") {
      const auto w = weight(1);
      if (w && w->dim() == 2) channels = w->size(1);
    } else if (k == "aten::batch_norm") {
      auto w = weight(1);
      if (!w) w = weight(3);
      if (w && w->dim() == 1) channels = w->size(0);
    } else if (k == "aten::group_norm") {
      const auto w = weight(2);
      if (w && w->dim() == 1) channels = w->size(0);
    }
    if (channels > 0) {
      const int64_t side = channels == 3 ? 224 : 32;
      return std::vector<std::vector<int64_t>>(impl_->inputNames.size(), {1, channels, side, side});
    }
  }
  return std::nullopt;
}

namespace {

std::string shapesText(const std::vector<at::Tensor>& inputs) {
  std::string shapes;
  for (const auto& t : inputs) shapes += (shapes.empty() ? "" : ", ") + shapeText(t.sizes());
  return shapes;
}

/// The cause of a failure inside the TorchScript interpreter: its message starts with "The
/// following operation failed in the TorchScript interpreter." and a traceback, and ends with
/// the Python-style "RuntimeError: mat1 and mat2 shapes cannot be multiplied (...)".
std::string interpreterErrorText(const std::string& what) {
  const std::string key = "Error: ";
  size_t best = std::string::npos;
  for (size_t at = what.find(key); at != std::string::npos; at = what.find(key, at + 1)) {
    const size_t lineStart = what.rfind('\n', at);
    const size_t from = lineStart == std::string::npos ? 0 : lineStart + 1;
    // "RuntimeError: ", "ValueError: ", ... at the start of a line
    if (what.find(' ', from) >= at) best = at + key.size();
  }
  return firstLine(best == std::string::npos ? what : what.substr(best));
}

}  // namespace

ScriptRunResult ScriptModel::run(const std::vector<at::Tensor>& inputs, bool moduleOutputs,
                                 int64_t maxMemoryBytes) const {
  const std::string& path = impl_->path;
  if (inputs.size() != impl_->inputNames.size()) {
    std::string names;
    for (const auto& n : impl_->inputNames) names += (names.empty() ? "" : ", ") + n;
    throwInput("TorchScript '" + path + "' takes " + std::to_string(impl_->inputNames.size()) +
               " input(s) (" + names + "), got " + std::to_string(inputs.size()));
  }
  std::lock_guard<std::mutex> lock(impl_->mutex);
  ScriptRunResult result;
  c10::IValue out;
  const Impl::Capture* cap = nullptr;
  const int64_t budget = maxMemoryBytes > 0 ? maxMemoryBytes : defaultMemoryBudget();
  const auto overBudget = [&](const MemoryLimit& l) {
    throw Error(ErrorKind::Memory,
                "TorchScript '" + path + "' on input(s) of shape " + shapesText(inputs) +
                    " needs more memory than the budget: " + l.exceededText(),
                settingSubject(kSettingMemoryBudget), fixBy(FixAction::RaiseMemoryBudget));
  };
  std::optional<MemoryLimit> limit;  // the forward only; the caller owns what it returns
  try {
    cap = &impl_->capture(moduleOutputs);
    torch::NoGradGuard noGrad;
    limit.emplace(budget);
    torch::jit::Stack stack;
    stack.emplace_back(impl_->module._ivalue());
    for (const at::Tensor& t : inputs) stack.emplace_back(t);
    cap->fn->run(stack);
    limit.reset();
    if (stack.size() != 1) throwInput("TorchScript '" + path + "': unexpected result");
    out = stack.back();
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    if (limit && limit->exceeded()) overBudget(*limit);
    throwInput("TorchScript '" + path + "' failed on input(s) of shape " + shapesText(inputs) + ": " +
               interpreterErrorText(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    if (limit && limit->exceeded()) overBudget(*limit);
    throwInput("TorchScript '" + path + "' failed on input(s) of shape " + shapesText(inputs) + ": " +
               interpreterErrorText(e.what()));
  }
  const auto& items = out.toTupleRef().elements();
  const size_t nOrig = impl_->outputCount;
  for (size_t i = 0; i < nOrig; ++i) {
    flatten(items[i], nOrig == 1 ? "output" : "output." + std::to_string(i), result.outputs, result.notes);
  }

  // Grids: each 4-D input's, and the first one's under the usual strides.
  std::vector<std::pair<int64_t, int64_t>> grids;
  std::vector<int64_t> channels;
  const at::Tensor* image = nullptr;
  for (const at::Tensor& t : inputs) {
    if (t.dim() != 4) continue;
    if (!image) image = &t;
    grids.emplace_back(t.size(2), t.size(3));
    channels.push_back(t.size(1));
  }
  channels.insert(channels.end(), impl_->paramSizes.begin(), impl_->paramSizes.end());
  if (image) {
    const int64_t H = image->size(2), W = image->size(3);
    for (int64_t s = 2; s <= 64; s *= 2) {
      grids.emplace_back((H + s - 1) / s, (W + s - 1) / s);
      grids.emplace_back(H / s, W / s);
    }
  }
  for (size_t i = 0; i < cap->points.size(); ++i) {
    ScriptPoint p;
    p.spec = cap->points[i];
    at::Tensor v = items[nOrig + i].toTensor().detach().to(at::kCPU);
    if (v.is_floating_point()) v = v.to(at::kFloat);
    const PointShape shape = classifyPoint(v.sizes(), p.spec.attention, p.spec.op, grids, channels);
    p.kind = shape.kind;
    p.note = shape.note;
    p.rawShape = v.sizes().vec();
    if (!shape.permute.empty()) v = v.permute(shape.permute);
    if (!shape.view.empty()) v = v.reshape(shape.view);
    p.value = v.contiguous();
    if (image && p.kind && p.value.dim() == 4) {
      const double H = static_cast<double>(image->size(2)), W = static_cast<double>(image->size(3));
      if (*p.kind == ProbeKind::AttentionMatrix) {
        for (const auto& g : grids) {
          if (g.first * g.second == p.value.size(2)) {
            p.strideH = H / static_cast<double>(g.first);
            p.strideW = W / static_cast<double>(g.second);
            break;
          }
        }
      } else if (*p.kind == ProbeKind::SpatialMap || *p.kind == ProbeKind::Gate ||
                 *p.kind == ProbeKind::FeatureMap) {
        p.strideH = H / static_cast<double>(p.value.size(2));
        p.strideW = W / static_cast<double>(p.value.size(3));
      }
    }
    result.points.push_back(std::move(p));
  }
  result.notCaptured = cap->notCaptured;
  return result;
}

}  // namespace fl::script
