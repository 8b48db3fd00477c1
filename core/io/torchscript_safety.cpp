// Safe loading of TorchScript (see torchscript_safety.h for the why).
#include "core/io/torchscript_safety.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>
#include <unordered_set>

#include "core/common/error.h"
#include "core/io/torchscript_archive.h"
#include "core/io/zip_archive.h"

namespace fl::script {
namespace {

// Pure tensor maths (and the list/tuple/int plumbing TorchScript needs around it). An
// in-place form `name_` is allowed when `name` is. Anything else is refused by name:
// printing and warnings, SetAttr (state changes), calls that could not be inlined,
// Python ops, and every operator of an unknown namespace (custom ops: libraries).
const std::unordered_set<std::string>& atenAllowed() {
  static const std::unordered_set<std::string> ops = {
      // elementwise and reductions
      "add", "sub", "rsub", "mul", "div", "true_divide", "floor_divide", "remainder", "fmod",
      "neg", "abs", "sign", "pow", "sqrt", "rsqrt", "exp", "exp2", "expm1", "log", "log2",
      "log10", "log1p", "reciprocal", "square", "clamp", "clamp_min", "clamp_max", "clip",
      "floor", "ceil", "round", "trunc", "frac", "lerp", "addcmul", "addcdiv", "where",
      "maximum", "minimum", "max", "min", "amax", "amin", "argmax", "argmin", "sum", "mean",
      "prod", "std", "var", "std_mean", "var_mean", "norm", "linalg_vector_norm",
      "frobenius_norm", "cumsum", "cumprod", "logsumexp", "all", "any", "eq", "ne", "lt", "le",
      "gt", "ge", "logical_and", "logical_or", "logical_not", "logical_xor", "__and__",
      "__or__", "__xor__", "__not__", "bitwise_and", "bitwise_or", "bitwise_not", "isnan",
      "isinf", "isfinite", "nan_to_num", "sort", "argsort", "topk", "kthvalue", "median",
      "cos", "sin", "tan", "tanh", "atan", "atan2", "erf", "erfc", "sigmoid", "hardsigmoid",
      "softmax", "log_softmax", "_softmax", "_log_softmax", "relu", "relu6", "leaky_relu",
      "elu", "selu", "celu", "gelu", "silu", "mish", "hardswish", "hardtanh", "softplus",
      "softsign", "threshold", "prelu", "glu", "logit", "hardshrink", "softshrink",
      "tanhshrink", "cosine_similarity", "pairwise_distance", "cdist",
      // linear algebra
      "matmul", "mm", "bmm", "addmm", "addbmm", "baddbmm", "einsum", "linear", "bilinear",
      "dot", "outer", "mv", "t",
      // convolution, pooling, normalisation, resampling
      "_convolution", "convolution", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
      "conv_transpose2d", "conv_transpose3d", "batch_norm", "native_batch_norm",
      "_batch_norm_impl_index", "instance_norm", "layer_norm", "native_layer_norm",
      "group_norm", "native_group_norm", "max_pool1d", "max_pool2d", "max_pool3d",
      "max_pool2d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d",
      "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
      "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "pixel_shuffle",
      "pixel_unshuffle", "channel_shuffle", "upsample_nearest1d", "upsample_nearest2d",
      "upsample_nearest3d", "upsample_bilinear2d", "upsample_bicubic2d", "upsample_linear1d",
      "upsample_trilinear3d", "__interpolate", "grid_sampler", "affine_grid_generator", "pad",
      "constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "replication_pad1d",
      "replication_pad2d", "replication_pad3d", "_pad_circular", "embedding", "dropout",
      "feature_dropout", "alpha_dropout", "feature_alpha_dropout", "im2col", "col2im",
      "unfold", "one_hot",
      // shapes, views, indexing, creation
      "size", "dim", "numel", "reshape", "view", "view_as", "_unsafe_view", "flatten",
      "unflatten", "permute", "transpose", "contiguous", "clone", "detach", "alias",
      "squeeze", "unsqueeze", "expand", "expand_as", "repeat", "repeat_interleave", "tile",
      "cat", "concat", "stack", "hstack", "vstack", "split", "split_with_sizes", "chunk",
      "unbind", "narrow", "slice", "select", "index", "index_select", "gather", "scatter",
      "scatter_add", "masked_fill", "masked_select", "index_put", "index_add", "take", "flip",
      "roll", "tril", "triu", "diag", "diagonal", "movedim", "swapaxes", "broadcast_tensors",
      "meshgrid", "type_as", "to", "copy", "zero", "fill", "zeros", "zeros_like", "ones",
      "ones_like", "full", "full_like", "empty", "empty_like", "new_zeros", "new_ones",
      "new_full", "new_empty", "tensor", "scalar_tensor", "arange", "linspace", "eye",
      "_shape_as_tensor", "_reshape_from_tensor", "_size_if_not_equal", "item",
      "is_floating_point", "is_contiguous",
      // the scalar / list / dict / str plumbing of scripted code
      "Int", "Float", "Bool", "ScalarImplicit", "IntImplicit", "FloatImplicit", "__getitem__",
      "_set_item", "len", "append", "extend", "insert", "pop", "__contains__", "keys",
      "values", "items", "get", "list", "__range_length", "__derive_index", "floordiv",
      "__round_to_zero_floordiv", "format", "str", "__is__", "__isnot__", "_assert",
      "mathremainder", "dict", "__upsample_nearest", "__upsample_bilinear", "percentFormat",
      "join", "startswith", "endswith", "lower", "upper", "strip", "replace", "isdigit"};
  return ops;
}

const std::unordered_set<std::string>& primAllowed() {
  static const std::unordered_set<std::string> ops = {
      "Constant", "GetAttr", "ListConstruct", "ListUnpack", "ListIndex", "TupleConstruct",
      "TupleUnpack", "TupleIndex", "TupleSlice", "DictConstruct", "DictIndex", "If", "Loop",
      "NumToTensor", "RaiseException", "Uninitialized", "unchecked_cast", "isinstance",
      "min", "max", "abs", "dtype", "device", "layout", "shape", "data", "requires_grad",
      "is_cuda", "is_cpu", "is_quantized", "ConstantChunk", "StringIndex", "tolist",
      "EnumName", "EnumValue", "unchecked_unwrap_optional", "AutogradZero"};
  return ops;
}

std::string shortPath(const std::string& path) { return path.empty() ? "the top module" : path; }

void collect(const torch::jit::Block* block, std::vector<OperatorUse>& out) {
  for (const torch::jit::Node* node : block->nodes()) {
    out.push_back({node->kind().toQualString(), modulePathOf(node)});
    for (const torch::jit::Block* sub : node->blocks()) collect(sub, out);
  }
}

/// The dotted GetAttr names from the graph's `self` to `v` ("layers.0"), or "" when `v` is
/// `self` or does not come from it.
std::string attrPath(const torch::jit::Value* v, const torch::jit::Graph& g) {
  std::string path;
  while (v->node()->kind() == c10::prim::GetAttr) {
    const std::string name = v->node()->s(c10::attr::name);
    path = path.empty() ? name : name + "." + path;
    v = v->node()->input(0);
  }
  return v == g.inputs()[0] ? path : "";
}

std::string joinPath(const std::string& a, const std::string& b) {
  return a.empty() ? b : b.empty() ? a : a + "." + b;
}

void walkGraph(const torch::jit::Graph& g, const std::string& path, int depth, std::vector<OperatorUse>& out);

/// Every operator the graph can run, following method and function calls into their own
/// graphs (so each node keeps the module path of the call that reaches it, even a node
/// without outputs, which LibTorch's inliner leaves without a call stack).
void walkBlock(const torch::jit::Block* block, const torch::jit::Graph& g, const std::string& path, int depth,
               std::vector<OperatorUse>& out) {
  for (const torch::jit::Node* n : block->nodes()) {
    torch::jit::GraphFunction* callee = nullptr;
    std::string calleePath = path;
    if (depth < 64 && n->kind() == c10::prim::CallMethod) {
      if (const auto cls = n->input(0)->type()->cast<c10::ClassType>()) {
        if (torch::jit::Function* fn = cls->findMethod(n->s(c10::attr::name))) {
          callee = torch::jit::tryToGraphFunction(*fn);
          calleePath = joinPath(path, attrPath(n->input(0), g));
        }
      }
    } else if (depth < 64 && n->kind() == c10::prim::CallFunction) {
      if (const auto ft = n->input(0)->type()->cast<c10::FunctionType>()) {
        callee = torch::jit::tryToGraphFunction(*ft->function());
      }
    }
    if (callee) {
      walkGraph(*callee->graph(), calleePath, depth + 1, out);
      continue;
    }
    out.push_back({n->kind().toQualString(), path});
    for (const torch::jit::Block* sub : n->blocks()) walkBlock(sub, g, path, depth, out);
  }
}

void walkGraph(const torch::jit::Graph& g, const std::string& path, int depth, std::vector<OperatorUse>& out) {
  walkBlock(g.block(), g, path, depth, out);
}

void refuse(const std::vector<OperatorUse>& uses, const std::string& where) {
  std::vector<OperatorUse> refused;
  for (const OperatorUse& use : uses) {
    if (!operatorAllowed(use.op)) refused.push_back(use);
  }
  if (refused.empty()) return;
  std::set<std::string> others;
  for (size_t i = 1; i < refused.size(); ++i) {
    if (refused[i].op != refused[0].op) others.insert(refused[i].op);
  }
  std::string msg = "TorchScript '" + where + "' refused: operator " + refused[0].op + " in " +
                    shortPath(refused[0].modulePath) +
                    " is not pure tensor maths (FusionLens runs only allow-listed operators)";
  if (!others.empty()) {
    msg += "; also refused:";
    for (const auto& o : others) msg += " " + o;
  }
  throwInput(msg);
}

bool endsWith(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

bool operatorAllowed(const std::string& op) {
  const auto colons = op.find("::");
  if (colons == std::string::npos) return false;
  const std::string ns = op.substr(0, colons);
  std::string name = op.substr(colons + 2);
  if (ns == "prim") return primAllowed().count(name) > 0;
  if (ns != "aten") return false;
  if (atenAllowed().count(name)) return true;
  // In-place forms of allowed operators ("sigmoid_", "add_"); "__and__" is not one.
  if (name.size() > 1 && name.back() == '_' && name[name.size() - 2] != '_') {
    name.pop_back();
    return atenAllowed().count(name) > 0;
  }
  return false;
}

std::string modulePathOf(const torch::jit::Node* node) {
  const auto cs = node->callstack();
  if (!cs) return "";
  std::string path;
  for (const auto& entry : (*cs)->vec()) {
    const auto& info = std::get<2>(entry);
    if (!info) continue;  // a plain function call: no module instance
    // LibTorch's inliner names a call of a method of the same object "SELF" (and one it
    // cannot place "INSTANCE_NAME_UNKNOWN"): not a level of the module path.
    const std::string name = info->instance_name();
    if (name.empty() || name == "SELF" || name == "INSTANCE_NAME_UNKNOWN") continue;
    path += (path.empty() ? "" : ".") + name;
  }
  return path;
}

std::vector<OperatorUse> listOperators(const torch::jit::Graph& graph) {
  std::vector<OperatorUse> out;
  collect(graph.block(), out);
  return out;
}

std::shared_ptr<torch::jit::Graph> inlinedForward(const torch::jit::Module& module,
                                                  const std::string& where) {
  const auto method = module.find_method("forward");
  if (!method) throwInput("TorchScript '" + where + "' has no forward method");
  std::shared_ptr<torch::jit::Graph> graph;
  try {
    graph = torch::jit::toGraphFunction(method->function()).graph()->copy();
    torch::jit::Inline(*graph);
  } catch (const c10::Error& e) {
    throwInput("TorchScript '" + where + "': cannot read its forward graph: " +
               firstLine(e.what_without_backtrace()));
  }
  return graph;
}

void requireSafeGraph(const torch::jit::Graph& graph, const std::string& where) {
  refuse(listOperators(graph), where);
}

void requireSafeModule(const torch::jit::Module& module, const std::string& where) {
  const auto method = module.find_method("forward");
  if (!method) throwInput("TorchScript '" + where + "' has no forward method");
  std::vector<OperatorUse> uses;
  try {
    walkGraph(*torch::jit::toGraphFunction(method->function()).graph(), "", 0, uses);
  } catch (const c10::Error& e) {
    throwInput("TorchScript '" + where + "': cannot read its graph: " + firstLine(e.what_without_backtrace()));
  }
  refuse(uses, where);
  // And what will run: the inlined graph (anything the inliner could not resolve stays a
  // call, which is refused).
  requireSafeGraph(*inlinedForward(module, where), where);
}

void checkArchive(const std::string& path) {
  const std::string head = "cannot load TorchScript model '" + path + "': ";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throwInput(head + "no such file");
  {
    uint8_t magic[4] = {0, 0, 0, 0};
    std::FILE* f = std::fopen(path.c_str(), "rb");
    const size_t got = f ? std::fread(magic, 1, 4, f) : 0;
    if (f) std::fclose(f);
    if (!looksLikeZip(magic, got)) {
      throwInput(head + "not a TorchScript archive (it is not a zip file; export it with "
                 "torch.jit.trace or torch.jit.script, then .save())");
    }
  }
  // Our own zip reader first: it validates every offset, size and CRC, so a truncated or
  // corrupt archive is refused before LibTorch's reader sees it.
  bool hasData = false, hasConstants = false, hasCode = false;
  try {
    ZipArchive zip = ZipArchive::open(path);
    uint64_t codeBytes = 0;
    for (const ZipEntry& e : zip.entries()) {
      zip.checkEntry(e);
      hasData = hasData || endsWith(e.name, "/data.pkl");
      hasConstants = hasConstants || endsWith(e.name, "/constants.pkl");
      if (e.name.find("/code/") == std::string::npos || !endsWith(e.name, ".py")) continue;
      hasCode = true;
      codeBytes += e.uncompressedSize;
      if (codeBytes > (uint64_t{256} << 20)) throwInput(head + "more than 256 MiB of code");
      const std::vector<uint8_t> bytes = zip.read(e);
      const std::string code(bytes.begin(), bytes.end());
      if (code.find("def __setstate__") != std::string::npos) {
        throwInput(head + "refused: " + std::string(e.name) +
                   " defines __setstate__, code that would run while loading");
      }
    }
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.rfind(head, 0) == 0) throw;
    if (what.rfind(path + ": ", 0) == 0) what.erase(0, path.size() + 2);  // named once
    throwInput(head + what);
  }
  if (!hasData || !hasCode || !hasConstants) {
    throwInput(head + "a zip archive but not a TorchScript module (no " +
               std::string(!hasCode ? "code/" : !hasData ? "data.pkl" : "constants.pkl") +
                   "); a torch.save checkpoint holds weights, a TorchScript file is "
                   "written by torch.jit.trace(...).save() or torch.jit.script(...).save()",
               fileSubject(path), fixBy(FixAction::ReadAsWeights));
  }
}

bool looksLikeTorchScript(const std::string& path) {
  try {
    const ZipArchive zip = ZipArchive::open(path);
    for (const ZipEntry& e : zip.entries()) {
      if (e.name.find("/code/") != std::string::npos && endsWith(e.name, ".py")) return true;
    }
  } catch (const std::exception&) {
  }
  return false;
}

namespace {

/// One line from a TorchScript compile error (the file's code/ does not compile: an unknown
/// operator, a syntax error): its first statement and where in the archive's code it is.
std::string compileErrorText(const std::string& what) {
  std::string text = firstLine(what);
  while (!text.empty() && (text.back() == ':' || text.back() == ' ' || text.back() == '.')) text.pop_back();
  if (endsWith(text, " here")) text.erase(text.size() - 5);
  const auto file = what.find("File \"");
  if (file != std::string::npos) {
    const auto end = what.find('\n', file);
    std::string where = what.substr(file + 6, end == std::string::npos ? std::string::npos : end - file - 6);
    const auto quote = where.find('"');
    if (quote != std::string::npos) where.erase(quote, 1);  // code/__torch__.py, line 10
    text += " (in its " + where + ")";
  }
  return text;
}

}  // namespace

torch::jit::Module loadCheckedModule(const std::string& path) {
  // A regular file whose storage records hold the bytes their tensors need: torch::jit::load
  // would block on a FIFO, read a device forever, or run on uninitialised memory otherwise.
  checkTorchScriptArchive(path);
  checkArchive(path);
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, c10::Device(c10::kCPU));
    module.eval();
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throwInput("cannot load TorchScript model '" + path + "': " +
               compileErrorText(e.what_without_backtrace()) +
               " (export it with torch.jit.trace or torch.jit.script, then .save())");
  } catch (const std::exception& e) {
    throwInput("cannot load TorchScript model '" + path + "': " + compileErrorText(e.what()));
  }
  requireSafeModule(module, path);
  return module;
}

}  // namespace fl::script
