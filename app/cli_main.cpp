// fusionlens-cli: headless access to the FusionLens core (architecture.md, "The CLI contract").
// Wiring only: parsing arguments, calling core, printing. Exit 0 on success, 2 on bad usage
// or bad input (one line on stderr naming what and where), 1 on an internal error.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/io/safetensors.h"
#include "core/io/tensor_file.h"
#include "core/modules/registry.h"
#include "core/run/bench.h"
#include "core/run/memory.h"
#include "core/run/run.h"

namespace {

using fl::Error;
using fl::ErrorKind;
using Json = nlohmann::ordered_json;

constexpr const char* kVersion = "0.1.0";

const char* kUsage = R"(fusionlens-cli: run and inspect attention / feature-fusion modules headless.

Usage:
  fusionlens-cli list [--json]
  fusionlens-cli info MODULE [--json]
  fusionlens-cli run --module ID [--set KEY=VALUE]... [--weights FILE] [--seed N]
                     --input FILE [--input FILE]... --save OUT.safetensors
                     [--device auto|cpu|cuda] [--max-memory SIZE] [--threads N] [--quiet]
  fusionlens-cli bench [--module ID|all] [--shape B,C,H,W] [--iters N] [--threads N] [--json]
  fusionlens-cli --help | --version

run:
  --module ID        a module id from `list` (e.g. aff, eca, ms-cam)
  --set KEY=VALUE    a module parameter (see `info ID`); repeatable
  --weights FILE     a state_dict: torch.save(model.state_dict(), FILE) (.pt/.pth) or
                     .safetensors; loading is strict (every key and shape must match).
                     Without it the module gets a deterministic init seeded by --seed.
  --seed N           seed for that init (default 0)
  --input FILE       .npy or .safetensors (FILE:NAME picks a tensor), shape [H,W], [C,H,W]
                     or [B,C,H,W]; one per module input, in the order `info` lists
  --save OUT         .safetensors with `output` (or output.0, output.1, ...) and
                     `probe.NAME` for every probe
  --device D         auto (CUDA when available), cpu or cuda (default auto)
  --max-memory SIZE  refuse runs estimated above SIZE (e.g. 2G); default 60% of free RAM

bench: forward time (median, min over --iters after warm-up) per module at --shape
  (default 1,64,32,32), default parameters, seeded weights.

Exit status: 0 success, 2 bad usage or bad input, 1 internal error.
)";

[[noreturn]] void usageError(const std::string& message) { throw Error(ErrorKind::Usage, message); }

struct Args {
  std::vector<std::string> items;
  size_t pos = 0;
  bool done() const { return pos >= items.size(); }
  const std::string& next() { return items[pos++]; }
  std::string value(const std::string& flag) {
    if (done()) usageError(flag + " needs a value");
    return next();
  }
};

int64_t parseInt(const std::string& flag, const std::string& text, int64_t min, int64_t max) {
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used != text.size() || v < min || v > max) throw std::out_of_range("");
    return v;
  } catch (const std::exception&) {
    usageError(flag + " '" + text + "' is not an integer in [" + std::to_string(min) + ", " +
               std::to_string(max) + "]");
  }
}

Json probeJson(const fl::ProbeSpec& p) {
  Json j{{"name", p.name}, {"kind", fl::probeKindName(p.kind)}, {"shape", p.shape}};
  if (p.bounded()) {
    j["range"] = {p.lo, p.hi};
  } else {
    j["range"] = nullptr;
  }
  j["help"] = p.help;
  return j;
}

Json paramJson(const fl::ParamSpec& p) {
  Json j{{"name", p.name}, {"type", fl::paramTypeName(p.type)}, {"default", p.defaultValue}};
  if (p.type == fl::ParamType::Choice) {
    j["choices"] = p.choices;
  } else if (p.type != fl::ParamType::Bool) {
    j["min"] = p.min;
    j["max"] = p.max;
  }
  j["help"] = p.help;
  return j;
}

Json descriptorJson(const fl::ModuleDescriptor& d, bool full) {
  Json j{{"id", d.id},
         {"name", d.displayName},
         {"category", fl::moduleCategoryName(d.category)},
         {"summary", d.summary}};
  Json inputs = Json::array();
  for (const auto& in : d.inputs) inputs.push_back(in.name);
  j["inputs"] = inputs;
  j["outputs"] = d.outputs;
  Json probes = Json::array();
  for (const auto& p : d.probes) probes.push_back(full ? probeJson(p) : Json(p.name));
  j["probes"] = probes;
  if (full) {
    j["citation"] = d.citation;
    Json inputsFull = Json::array();
    for (const auto& in : d.inputs) inputsFull.push_back({{"name", in.name}, {"help", in.help}});
    j["inputs"] = inputsFull;
    Json params = Json::array();
    for (const auto& p : d.params) params.push_back(paramJson(p));
    j["params"] = params;
  }
  return j;
}

int cmdList(Args& args, const fl::ModuleRegistry& registry) {
  bool json = false;
  while (!args.done()) {
    const std::string a = args.next();
    if (a == "--json") {
      json = true;
    } else {
      usageError("list: unknown option '" + a + "'");
    }
  }
  if (json) {
    Json out = Json::array();
    for (const auto& d : registry.all()) out.push_back(descriptorJson(d, false));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  for (const auto& d : registry.all()) {
    std::string inputs;
    for (const auto& in : d.inputs) inputs += (inputs.empty() ? "" : ",") + in.name;
    std::printf("%-18s %-16s %-22s %s\n", d.id.c_str(), fl::moduleCategoryName(d.category),
                inputs.c_str(), d.displayName.c_str());
  }
  return 0;
}

int cmdInfo(Args& args, const fl::ModuleRegistry& registry) {
  std::string id;
  bool json = false;
  while (!args.done()) {
    const std::string a = args.next();
    if (a == "--json") {
      json = true;
    } else if (!a.empty() && a[0] == '-') {
      usageError("info: unknown option '" + a + "'");
    } else if (id.empty()) {
      id = a;
    } else {
      usageError("info: takes one MODULE, got '" + id + "' and '" + a + "'");
    }
  }
  if (id.empty()) usageError("info: missing MODULE (see `fusionlens-cli list`)");
  const fl::ModuleDescriptor& d = registry.get(id);
  if (json) {
    std::cout << descriptorJson(d, true).dump(2) << "\n";
    return 0;
  }
  std::cout << d.id << ": " << d.displayName << "\n  " << d.summary << "\n  " << d.citation
            << "\n  category: " << fl::moduleCategoryName(d.category) << "\ninputs:\n";
  for (const auto& in : d.inputs) std::cout << "  " << in.name << "  " << in.help << "\n";
  std::cout << "outputs:\n";
  for (const auto& o : d.outputs) std::cout << "  " << o << "\n";
  std::cout << "parameters:\n";
  if (d.params.empty()) std::cout << "  (none)\n";
  for (const auto& p : d.params) {
    std::cout << "  " << p.name << " (" << fl::paramTypeName(p.type) << ", default "
              << p.defaultValue << ")  " << p.help << "\n";
  }
  std::cout << "probes:\n";
  for (const auto& p : d.probes) {
    std::cout << "  " << p.name << " " << p.shape << " " << fl::probeKindName(p.kind);
    if (p.bounded()) std::cout << " range [" << p.lo << ", " << p.hi << "]";
    std::cout << "  " << p.help << "\n";
  }
  return 0;
}

int cmdRun(Args& args, const fl::ModuleRegistry& registry) {
  fl::RunRequest req;
  std::vector<std::string> inputs;
  std::string save;
  bool quiet = false;
  while (!args.done()) {
    const std::string a = args.next();
    if (a == "--module") {
      req.moduleId = args.value(a);
    } else if (a == "--set") {
      const std::string kv = args.value(a);
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) usageError("--set '" + kv + "' is not KEY=VALUE");
      req.params[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (a == "--weights") {
      req.weightsPath = args.value(a);
    } else if (a == "--seed") {
      req.seed = static_cast<uint64_t>(parseInt(a, args.value(a), 0, INT64_MAX));
    } else if (a == "--input") {
      inputs.push_back(args.value(a));
    } else if (a == "--save") {
      save = args.value(a);
    } else if (a == "--device") {
      req.device = fl::parseDevice(args.value(a));
    } else if (a == "--max-memory") {
      req.maxMemoryBytes = fl::parseBytes(args.value(a));
    } else if (a == "--threads") {
      at::set_num_threads(static_cast<int>(parseInt(a, args.value(a), 1, 1024)));
    } else if (a == "--quiet") {
      quiet = true;
    } else {
      usageError("run: unknown option '" + a + "' (see --help)");
    }
  }
  if (req.moduleId.empty()) usageError("run: missing --module ID (see `fusionlens-cli list`)");
  const fl::ModuleDescriptor& d = registry.get(req.moduleId);
  if (save.empty()) usageError("run: missing --save OUT.safetensors");
  if (std::filesystem::path(save).extension() != ".safetensors") {
    usageError("--save '" + save + "': the output must be a .safetensors file");
  }
  if (inputs.size() != d.inputs.size()) {
    std::string names;
    for (const auto& in : d.inputs) names += (names.empty() ? "" : ", ") + in.name;
    usageError("run: " + d.id + " takes " + std::to_string(d.inputs.size()) +
               " --input (" + names + "), got " + std::to_string(inputs.size()));
  }
  if (!req.weightsPath.empty() && !std::filesystem::exists(req.weightsPath)) {
    throw Error(ErrorKind::Input, req.weightsPath + ": no such file (--weights)");
  }
  for (const auto& spec : inputs) req.inputs.push_back(fl::readInputTensor(spec));

  const fl::RunResult res = fl::run(registry, req);
  if (!res.ok) throw Error(res.errorKind, res.error);

  fl::NamedTensors out;
  for (size_t i = 0; i < res.outputs.size(); ++i) out.emplace_back(res.outputNames[i], res.outputs[i]);
  for (const auto& p : res.probes) out.emplace_back("probe." + p.name, p.value);
  std::map<std::string, std::string> meta{{"module", d.id},
                                          {"fusionlens", kVersion},
                                          {"device", res.device},
                                          {"seed", std::to_string(req.seed)},
                                          {"weights", req.weightsPath}};
  for (const auto& [k, v] : req.params) meta["param." + k] = v;
  fl::writeSafetensors(save, out, meta);

  if (!quiet) {
    std::cout << d.id << " on " << res.device << ": " << res.forwardMs << " ms forward, "
              << res.totalMs << " ms total\n";
    if (!req.weightsPath.empty()) {
      std::cout << "weights: " << res.weights.matched.size() << " tensors matched from "
                << req.weightsPath << "\n";
    } else {
      std::cout << "weights: seeded init (seed " << req.seed << ")\n";
    }
    for (const auto& [name, t] : out) {
      std::cout << "  " << name << " " << fl::shapeText(t.sizes().vec()) << "\n";
    }
    std::cout << "saved " << save << "\n";
  }
  for (const auto& w : res.warnings) std::cerr << "warning: " << w << "\n";
  return 0;
}

int cmdBench(Args& args, const fl::ModuleRegistry& registry) {
  fl::BenchOptions opt;
  bool json = false;
  while (!args.done()) {
    const std::string a = args.next();
    if (a == "--module") {
      const std::string id = args.value(a);
      if (id != "all") {
        registry.get(id);
        opt.moduleIds.push_back(id);
      }
    } else if (a == "--shape") {
      const std::string text = args.value(a);
      fl::Shape shape;
      size_t start = 0;
      while (start <= text.size()) {
        const auto comma = text.find(',', start);
        const std::string part =
            text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        shape.push_back(parseInt("--shape", part, 1, 1 << 20));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      if (shape.size() != 4) usageError("--shape '" + text + "' is not B,C,H,W");
      opt.shape = shape;
    } else if (a == "--iters") {
      opt.iters = static_cast<int>(parseInt(a, args.value(a), 1, 100000));
    } else if (a == "--threads") {
      opt.threads = static_cast<int>(parseInt(a, args.value(a), 1, 1024));
    } else if (a == "--json") {
      json = true;
    } else {
      usageError("bench: unknown option '" + a + "'");
    }
  }
  const auto results = fl::bench(registry, opt);
  if (json) {
    Json out = Json::array();
    for (const auto& r : results) {
      Json j{{"module", r.moduleId}, {"shape", r.shape}, {"iters", r.iters},
             {"threads", r.threads}};
      if (r.error.empty()) {
        j["median_ms"] = r.medianMs;
        j["min_ms"] = r.minMs;
        j["estimated_peak_bytes"] = r.estimatedBytes;
        j["process_peak_rss_bytes"] = r.peakRssBytes;
      } else {
        j["error"] = r.error;
      }
      out.push_back(j);
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("%-18s %12s %10s %10s %14s %14s\n", "module", "shape", "median ms", "min ms",
              "est. peak", "process RSS");
  for (const auto& r : results) {
    if (!r.error.empty()) {
      std::printf("%-18s %12s  skipped: %s\n", r.moduleId.c_str(), fl::shapeText(r.shape).c_str(),
                  r.error.c_str());
      continue;
    }
    std::string shape = std::to_string(r.shape[0]) + "x" + std::to_string(r.shape[1]) + "x" +
                        std::to_string(r.shape[2]) + "x" + std::to_string(r.shape[3]);
    std::printf("%-18s %12s %10.3f %10.3f %14s %14s\n", r.moduleId.c_str(), shape.c_str(),
                r.medianMs, r.minMs, fl::formatBytes(r.estimatedBytes).c_str(),
                fl::formatBytes(r.peakRssBytes).c_str());
  }
  std::printf("threads: %d, iterations: %d after %d warm-up\n", at::get_num_threads(),
              opt.iters, opt.warmup);
  return 0;
}

int dispatch(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) args.items.emplace_back(argv[i]);
  if (args.done()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string cmd = args.next();
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (cmd == "--version") {
    std::cout << "fusionlens-cli " << kVersion << "\n";
    return 0;
  }
  fl::ModuleRegistry registry;
  fl::registerBuiltinModules(registry);
  if (cmd == "list") return cmdList(args, registry);
  if (cmd == "info") return cmdInfo(args, registry);
  if (cmd == "run") return cmdRun(args, registry);
  if (cmd == "bench") return cmdBench(args, registry);
  usageError("unknown command '" + cmd + "' (commands: list, info, run, bench; see --help)");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const Error& e) {
    std::cerr << "fusionlens-cli: " << e.what() << "\n";
    return e.kind() == ErrorKind::Internal ? 1 : 2;
  } catch (const c10::Error& e) {
    std::cerr << "fusionlens-cli: " << fl::firstLine(e.what_without_backtrace()) << "\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "fusionlens-cli: out of memory\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "fusionlens-cli: internal error: " << fl::firstLine(e.what()) << "\n";
    return 1;
  }
}
