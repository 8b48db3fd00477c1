// TorchScript files and PyTorch captures in the CLI (see cli_script.h).
#include "app/cli_script.h"
#include "app/cli_wording.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/common/error.h"
#include "core/common/sha256.h"
#include "core/io/tensor_io.h"
#include "core/run/inputs.h"
#include "core/run/result_export.h"
#include "core/script/capture.h"
#include "core/script/script_model.h"
#include "core/io/torchscript_safety.h"
#include "core/common/memory.h"
#include "core/common/numbers.h"
#include "core/features/preprocess.h"
#include "core/io/image.h"

namespace fl::cli {

const char* const kScriptUsage = R"(TorchScript files and captures from PyTorch (docs/your-network.md):
  fusionlens-cli inspect FILE.pt [--json] [--shape B,C,H,W]... | [--input FILE]...
                         [--features SPEC] [--channels-last] [--module-outputs]
  fusionlens-cli run --script FILE.pt --input FILE [--input FILE]... --save OUT.safetensors
                     [--features SPEC] [--channels-last] [--module-outputs] [--threads N]
                     [--max-memory SIZE] [--quiet]
  fusionlens-cli run --script NET.pt --input PHOTO --preprocess TEXT --save OUT.safetensors
  fusionlens-cli run --capture FILE.flcap [--save OUT.safetensors] [--module-outputs]
                     [--max-memory SIZE] [--quiet]

  A TorchScript file (torch.jit.trace(m, x).save(p) or torch.jit.script(m).save(p)) is a
  program: it is refused unless every operator of its inlined forward is allow-listed
  tensor maths (the message names the operator and its module path). Its attention points
  are the outputs of sigmoid, hardsigmoid and softmax, named by module path (e.g.
  layer3.1.cbam.SpatialGate.sigmoid) and classified by shape; --module-outputs adds the
  output of every submodule. Points inside scripted if/loops are listed as not capturable.
  inspect runs the file once at --shape (one per input, or one for all) or on --input
  files; without them at a shape guessed from the first weights (said so).
  run --script saves the outputs and every point as probe.<name> (plus kind and stride in
  the metadata). --preprocess feeds a whole network the photo itself, made ready as TEXT says:
  size=none|WxH|multiple:N, order=rgb|bgr|gray, range=1|255, mean=M[:M:M], std=S[:S:S]
  (e.g. the ImageNet preset "size=224x224,order=rgb,range=1,mean=0.485:0.456:0.406,
  std=0.229:0.224:0.225"); strides then map each point onto that photo. run --capture opens a file written by python/fusionlens_capture.py: when
  the class is a built-in module it runs the built-in with the captured weights and inputs
  and checks it against the captured output ("matches your PyTorch run, max |diff| ...");
  when they differ it says by how much, runs the capture's own trace with its attention
  points instead, and exits 3. A network's memory cannot be estimated before it runs (an
  attention inside grows as (H*W)^2 with the input), so --max-memory (default 60% of free
  RAM) caps the tensors its forward allocates: the first allocation past it stops the run,
  exit 2, naming its size.
)";

namespace {

using Json = nlohmann::ordered_json;

[[noreturn]] void usage(const std::string& m) { throw Error(ErrorKind::Usage, m); }

struct ArgList {
  const std::vector<std::string>& items;
  size_t pos = 0;
  bool done() const { return pos >= items.size(); }
  const std::string& next() { return items[pos++]; }
  std::string value(const std::string& flag) {
    if (done()) usage(flag + " needs a value");
    return next();
  }
};

std::vector<int64_t> parseShapeText(const std::string& text) {
  std::vector<int64_t> shape;
  size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    const std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const std::optional<int64_t> v = fl::toInteger(part);
    if (!v || *v < 1 || *v > (1 << 20)) {
      usage("--shape '" + fl::clipForMessage(text) + "' is not a list of sizes like 1,64,32,32");
    }
    shape.push_back(*v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return shape;
}

/// "2e-7" rather than printf's "2e-07".
std::string shortNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g", v);
  std::string s = buf;
  const auto e = s.find("e-0");
  if (e != std::string::npos) s.erase(e + 2, 1);
  const auto p = s.find("e+0");
  if (p != std::string::npos) s.erase(p + 2, 1);
  return s;
}

std::string strideText(const script::ScriptPoint& p) {
  if (p.strideH <= 0) return "";
  char buf[64];
  if (p.strideH == p.strideW) {
    std::snprintf(buf, sizeof buf, "stride %g", p.strideH);
  } else {
    std::snprintf(buf, sizeof buf, "stride %gx%g", p.strideH, p.strideW);
  }
  return buf;
}

Json pointJson(const script::ScriptPoint& p) {
  Json j{{"name", p.spec.name},
         {"module", p.spec.modulePath},
         {"op", p.spec.op},
         {"kind", script::pointKindName(p.kind)},
         {"shape", p.value.sizes().vec()},
         {"raw_shape", p.rawShape}};
  j["stride"] = p.strideH > 0 ? Json::array({p.strideH, p.strideW}) : Json(nullptr);
  if (!p.note.empty()) j["note"] = p.note;
  return j;
}

Json specJson(const script::PointSpec& s) {
  return Json{{"name", s.name}, {"module", s.modulePath}, {"op", s.op}, {"reason", s.reason}};
}

void printPoints(const script::ScriptRunResult& r) {
  size_t width = 8;
  for (const auto& p : r.points) width = std::max(width, p.spec.name.size());
  std::cout << "attention points (" << r.points.size() << "):\n";
  for (const auto& p : r.points) {
    std::printf("  %-*s %-16s %-16s %s%s%s\n", static_cast<int>(width), p.spec.name.c_str(),
                script::pointKindName(p.kind).c_str(), shapeText(p.value.sizes()).c_str(),
                p.spec.op.c_str(), p.strideH > 0 ? ("  " + strideText(p)).c_str() : "",
                p.note.empty() ? "" : ("  (" + p.note + ")").c_str());
  }
  if (!r.notCaptured.empty()) {
    std::cout << "not capturable (" << r.notCaptured.size() << "):\n";
    for (const auto& s : r.notCaptured) std::cout << "  " << s.name << "  " << s.op << "  " << s.reason << "\n";
  }
}

/// The probes and metadata of a script run for result_export's writer.
RunResult asResult(const std::string& id, const script::ScriptRunResult& r,
                   std::map<std::string, std::string>& meta) {
  std::vector<std::pair<std::string, at::Tensor>> probes;
  std::vector<ProbeKind> kinds;
  for (const auto& p : r.points) {
    probes.emplace_back(p.spec.name, p.value);
    kinds.push_back(p.kind.value_or(ProbeKind::FeatureMap));
    meta["point." + p.spec.name + ".kind"] = script::pointKindName(p.kind);
    meta["point." + p.spec.name + ".op"] = p.spec.op;
    if (p.strideH > 0) meta["point." + p.spec.name + ".stride"] = strideText(p).substr(7);
  }
  for (const auto& s : r.notCaptured) meta["not_captured." + s.name] = s.reason;
  return scriptRunAsResult(id, r.outputs, probes, kinds);
}

}  // namespace

bool isScriptFile(const std::string& path) { return script::looksLikeTorchScript(path); }

int cmdInspectScript(const std::vector<std::string>& argv) {
  ArgList args{argv};
  std::string file;
  bool json = false, moduleOutputs = false, channelsLast = false;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<std::string> inputs, features;
  while (!args.done()) {
    const std::string a = args.next();
    if (a == "--json") {
      json = true;
    } else if (a == "--module-outputs") {
      moduleOutputs = true;
    } else if (a == "--channels-last") {
      channelsLast = true;
    } else if (a == "--shape") {
      shapes.push_back(parseShapeText(args.value(a)));
    } else if (a == "--input") {
      inputs.push_back(args.value(a));
    } else if (a == "--features") {
      features.push_back(args.value(a));
    } else if (!a.empty() && a[0] == '-') {
      usage("inspect: unknown option '" + a + "' for a TorchScript file (see --help)");
    } else if (file.empty()) {
      file = a;
    } else {
      usage("inspect: takes one FILE, got '" + file + "' and '" + a + "'");
    }
  }
  if (!shapes.empty() && !inputs.empty()) usage("inspect: give --shape or --input, not both");
  const auto model = script::ScriptModel::load(file);
  const auto& names = model->inputNames();

  std::vector<at::Tensor> xs;
  bool assumed = false;
  std::vector<std::string> warnings;
  if (!inputs.empty()) {
    xs = readInputs(inputs, features, channelsLast, warnings);
  } else {
    if (shapes.empty()) {
      if (const auto guess = model->guessInputShapes()) {
        shapes = *guess;
        assumed = true;
      }
    }
    if (shapes.size() == 1) shapes.resize(names.size(), shapes.front());
    if (!shapes.empty() && shapes.size() != names.size()) {
      usage("inspect: " + file + " takes " + std::to_string(names.size()) +
            " input(s); give one --shape for all or one per input, got " + std::to_string(shapes.size()));
    }
    at::manual_seed(0);
    for (const auto& s : shapes) xs.push_back(at::randn(s));
  }

  std::optional<script::ScriptRunResult> r;
  std::string runError;
  if (!xs.empty()) {
    try {
      r = model->run(xs, moduleOutputs);
    } catch (const Error& e) {
      if (!assumed) throw;  // the shapes the user gave must work
      runError = cliText(e);
    }
  }

  Json out{{"file", file}, {"format", "torchscript"}, {"sha256", sha256File(file)}};
  Json ins = Json::array();
  for (size_t i = 0; i < names.size(); ++i) {
    Json j{{"name", names[i]}};
    j["shape"] = i < xs.size() ? Json(xs[i].sizes().vec()) : Json(nullptr);
    j["assumed"] = assumed;
    ins.push_back(j);
  }
  out["inputs"] = ins;
  Json outs = Json::array(), pts = Json::array(), notCap = Json::array();
  if (r) {
    for (const auto& [n, t] : r->outputs) outs.push_back({{"name", n}, {"shape", t.sizes().vec()}});
    for (const auto& p : r->points) pts.push_back(pointJson(p));
    for (const auto& s : r->notCaptured) notCap.push_back(specJson(s));
  } else {
    for (const auto& s : model->points(moduleOutputs)) {
      if (s.capturable) {
        pts.push_back({{"name", s.name}, {"module", s.modulePath}, {"op", s.op}, {"kind", nullptr}, {"shape", nullptr}});
      } else {
        notCap.push_back(specJson(s));
      }
    }
  }
  out["outputs"] = outs;
  out["points"] = pts;
  out["not_capturable"] = notCap;
  Json ops = Json::object();
  for (const auto& [op, n] : model->operatorCounts()) ops[op] = n;
  out["operators"] = ops;
  if (!runError.empty()) out["run_error"] = runError;

  if (json) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << file << ": TorchScript, " << names.size() << " input(s); it runs code from the file: "
            << "only allow-listed tensor operators (" << ops.size() << " kinds), checked\n";
  std::cout << "inputs:\n";
  for (size_t i = 0; i < names.size(); ++i) {
    std::cout << "  " << names[i];
    if (i < xs.size()) std::cout << " " << shapeText(xs[i].sizes());
    if (assumed) std::cout << " (assumed; give --shape or --input)";
    std::cout << "\n";
  }
  if (r) {
    std::cout << "outputs:\n";
    for (const auto& [n, t] : r->outputs) std::cout << "  " << n << " " << shapeText(t.sizes()) << "\n";
    for (const auto& n : r->notes) std::cout << "  " << n << "\n";
    printPoints(*r);
  } else {
    if (!runError.empty()) {
      std::cout << "(not run at the assumed shape: " << runError << ")\n";
    } else {
      std::cout << "(not run: no input shape could be guessed; give --shape or --input for kinds and shapes)\n";
    }
    std::cout << "attention points:\n";
    for (const auto& s : model->points(moduleOutputs)) {
      std::cout << "  " << s.name << "  " << s.op;
      if (!s.capturable) std::cout << "  not capturable: " << s.reason;
      std::cout << "\n";
    }
  }
  for (const auto& w : warnings) std::cerr << "warning: " << w << "\n";
  return 0;
}

int cmdRunScript(const std::vector<std::string>& argv) {
  ArgList args{argv};
  std::string file, save;
  std::optional<std::string> preprocess;
  bool moduleOutputs = false, channelsLast = false, quiet = false;
  int64_t maxMemory = 0;  // 0: the default budget
  std::vector<std::string> inputs, features;
  while (!args.done()) {
    const std::string a = args.next();
    if (a == "--preprocess") {
      preprocess = args.value(a);
    } else if (a == "--script") {
      file = args.value(a);
    } else if (a == "--input") {
      inputs.push_back(args.value(a));
    } else if (a == "--features") {
      features.push_back(args.value(a));
    } else if (a == "--channels-last") {
      channelsLast = true;
    } else if (a == "--module-outputs") {
      moduleOutputs = true;
    } else if (a == "--save") {
      save = args.value(a);
    } else if (a == "--quiet") {
      quiet = true;
    } else if (a == "--threads") {
      // the CLI's one number parser: overflow and junk are usage errors naming --threads
      at::set_num_threads(static_cast<int>(parseInteger(args.value(a), a, 1, 1024)));
    } else if (a == "--max-memory") {
      maxMemory = parseBytes(args.value(a), a);
      setImageDecodeBudget(maxMemory);  // images are decoded under the same budget
    } else {
      usage("run --script: unknown option '" + a + "' (see --help)");
    }
  }
  if (save.empty()) usage("run --script: missing --save OUT.safetensors");
  std::optional<Preprocess> pre;
  if (preprocess) {
    pre = parsePreprocess(*preprocess);  // a typo is a usage error before anything loads
    if (inputs.size() != 1 || !isImageFile(inputs.front()) || !features.empty()) {
      usage("run --script: --preprocess takes one --input image (png, jpg, ...) and no --features");
    }
  }
  if (std::filesystem::path(save).extension() != ".safetensors") {
    usage("--save '" + save + "': the output must be a .safetensors file");
  }
  const auto model = script::ScriptModel::load(file);
  if (inputs.size() != model->inputNames().size()) {
    std::string names;
    for (const auto& n : model->inputNames()) names += (names.empty() ? "" : ", ") + n;
    usage("run: " + file + " takes " + std::to_string(model->inputNames().size()) + " --input (" + names +
          "), got " + std::to_string(inputs.size()));
  }
  std::vector<std::string> warnings;
  std::vector<at::Tensor> xs;
  if (pre) {
    const Image image = readImage(inputs.front());
    warnings.insert(warnings.end(), image.warnings.begin(), image.warnings.end());
    xs.push_back(preprocessImage(image.rgb, *pre).tensor);
  } else {
    xs = readInputs(inputs, features, channelsLast, warnings);
  }
  const script::ScriptRunResult r = model->run(xs, moduleOutputs, maxMemory);
  std::map<std::string, std::string> meta{{"script", file}, {"script.sha256", sha256File(file)}};
  if (pre) meta["preprocess"] = preprocessText(*pre);
  const RunResult res = asResult("script", r, meta);
  writeResultSafetensors(res, save, /*overwrite=*/true, meta);
  if (!quiet) {
    std::cout << file << ": " << r.points.size() << " point(s) captured\n";
    for (const auto& [n, t] : r.outputs) std::cout << "  " << n << " " << shapeText(t.sizes()) << "\n";
    printPoints(r);
    std::cout << "saved " << save << "\n";
  }
  for (const auto& w : warnings) std::cerr << "warning: " << w << "\n";
  for (const auto& n : r.notes) std::cerr << "note: " << n << "\n";
  return 0;
}

int cmdRunCapture(const std::vector<std::string>& argv, const ModuleRegistry& registry) {
  ArgList args{argv};
  std::string file, save;
  bool moduleOutputs = false, quiet = false;
  int64_t maxMemory = 0;  // 0: the default budget
  while (!args.done()) {
    const std::string a = args.next();
    if (a == "--capture") {
      file = args.value(a);
    } else if (a == "--save") {
      save = args.value(a);
    } else if (a == "--module-outputs") {
      moduleOutputs = true;
    } else if (a == "--quiet") {
      quiet = true;
    } else if (a == "--max-memory") {
      maxMemory = parseBytes(args.value(a), a);
    } else {
      usage("run --capture: unknown option '" + a + "' (see --help)");
    }
  }
  if (!save.empty() && std::filesystem::path(save).extension() != ".safetensors") {
    usage("--save '" + save + "': the output must be a .safetensors file");
  }
  const Capture cap = readCapture(file);
  const CaptureCheck check = checkCapture(registry, cap);
  std::map<std::string, std::string> meta{{"capture", file},
                                          {"capture.sha256", sha256File(file)},
                                          {"capture.class", cap.className},
                                          {"capture.module_path", cap.modulePath}};
  const std::string where = "class " + cap.className + (cap.modulePath.empty() ? "" : " at '" + cap.modulePath + "'");
  if (check.matches) {
    std::string params;
    for (const auto& [k, v] : check.params) params += (params.empty() ? "" : ", ") + k + "=" + v;
    std::cout << file << ": " << where << " -> built-in " << check.moduleId << " (" << params << ")\n"
              << "matches your PyTorch run, max |diff| " << shortNumber(check.maxDiff) << "\n";
    if (!save.empty()) {
      for (const auto& [k, v] : check.params) meta["param." + k] = v;
      meta["check"] = "matches, max |diff| " + shortNumber(check.maxDiff);
      writeResultSafetensors(check.result, save, /*overwrite=*/true, meta);
      if (!quiet) std::cout << "saved " << save << " (the built-in's outputs and probes)\n";
    }
    return 0;
  }
  const bool mismatch = !check.moduleId.empty();
  if (mismatch) {
    std::cout << file << ": " << where << " -> built-in " << check.moduleId << "\n";
    if (check.ran) {
      std::cout << "differs from your module by " << shortNumber(check.maxDiff) << ": your " << cap.className
                << " is not the standard " << check.moduleId << "; showing its own TorchScript instead\n";
    } else {
      std::cout << "differs from your module: " << check.reason << "; showing its own TorchScript instead\n";
    }
    meta["check"] = "differs: " + check.reason;
  } else {
    std::cout << file << ": " << where << " is not a built-in module; running its TorchScript trace\n";
  }
  const std::string trace = writeCaptureScript(cap);
  std::optional<script::ScriptRunResult> r;
  try {
    r = script::ScriptModel::load(trace)->run(cap.inputs, moduleOutputs, maxMemory);
  } catch (...) {
    removeCaptureScript(trace);
    throw;
  }
  removeCaptureScript(trace);
  double diff = 0;
  for (size_t i = 0; i < r->outputs.size() && i < cap.outputs.size(); ++i) {
    const auto& a = r->outputs[i].second;
    const auto& b = cap.outputs[i].second;
    if (a.sizes() != b.sizes()) {
      diff = INFINITY;
      break;
    }
    diff = std::max(diff, (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>());
  }
  if (diff <= kCaptureTolerance) {
    std::cout << "the trace reproduces your run, max |diff| " << shortNumber(diff) << "\n";
  } else {
    std::cout << "warning: the trace differs from your run by " << shortNumber(diff)
              << " (a trace records one path through Python control flow)\n";
  }
  if (!quiet) printPoints(*r);
  if (!save.empty()) {
    const RunResult res = asResult("capture-trace", *r, meta);
    writeResultSafetensors(res, save, /*overwrite=*/true, meta);
    if (!quiet) std::cout << "saved " << save << "\n";
  }
  return mismatch ? 3 : 0;
}

}  // namespace fl::cli
