#pragma once
/// Loading a TorchScript file safely.
///
/// A TorchScript file is a program. Before anything of it runs, FusionLens
///  1. checks the archive itself with its own hardened zip reader (a truncated, corrupt or
///     non-TorchScript file is refused before LibTorch parses it), and refuses classes that
///     define `__setstate__` (code LibTorch would run while loading);
///  2. loads it, inlines a copy of `forward`'s graph and lists every operator in it,
///     recursing into the blocks of `if` and loops; any operator that is not pure tensor
///     maths from an allow-list is refused by name, with the module path of the node
///     (no print, file, process or library-loading ops, no unknown custom ops, no calls
///     that could not be inlined).
/// Both the feature backbones (`--features torchscript:...`) and scripts opened for their
/// attention points (core/script/script_model.h) load through loadCheckedModule().
#include <torch/script.h>

#include <memory>
#include <string>
#include <vector>

namespace fl::script {

/// One use of an operator in the inlined graph.
struct OperatorUse {
  std::string op;          ///< qualified name, e.g. "aten::sigmoid", "prim::Print"
  std::string modulePath;  ///< dotted instance names of the node's call stack ("" = top)
};

/// True when `op` (qualified name) is on the allow-list of pure tensor maths.
bool operatorAllowed(const std::string& op);

/// The module path of a node of an inlined graph: the instance names of its call stack,
/// joined with '.' (e.g. "layer3.1.cbam.spatial"); "" for nodes of the top module itself.
std::string modulePathOf(const torch::jit::Node* node);

/// Every operator of `graph`, sub-blocks included, in graph order (one entry per node).
std::vector<OperatorUse> listOperators(const torch::jit::Graph& graph);

/// A copy of `module`'s forward graph with every call inlined (callstacks kept).
/// Throws fl::Error(Input) naming `where` when the module has no forward.
std::shared_ptr<torch::jit::Graph> inlinedForward(const torch::jit::Module& module,
                                                  const std::string& where);

/// Throws fl::Error(Input) naming `where`, the first refused operator and its module path
/// (and how many others there are) when `graph` uses any operator off the allow-list.
void requireSafeGraph(const torch::jit::Graph& graph, const std::string& where);

/// requireSafeGraph for every operator `module`'s forward can reach, following calls into
/// the methods and functions they call (module paths of every node, output-less ones such
/// as prim::Print included), then for the inlined forward.
void requireSafeModule(const torch::jit::Module& module, const std::string& where);

/// Checks the archive at `path` (see above) without running anything of it.
/// Throws fl::Error(Input) with a one-line reason naming the file.
void checkArchive(const std::string& path);

/// True when `path` is a zip archive holding TorchScript code (a quick look at the entry
/// names; nothing is read or run). False for anything else, damaged files included.
bool looksLikeTorchScript(const std::string& path);

/// checkArchive, torch::jit::load on the CPU (every c10::Error turned into fl::Error(Input)),
/// eval mode, then requireSafeGraph on the inlined forward. The one way FusionLens loads
/// TorchScript.
torch::jit::Module loadCheckedModule(const std::string& path);

}  // namespace fl::script
