// fusionlens-cli: headless access to the FusionLens core (architecture.md, "The CLI contract").
// Wiring only: parsing arguments, calling core, printing. Exit 0 on success, 2 on bad usage
// or bad input (one line on stderr naming what and where), 1 on an internal error.
#include <algorithm>
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/cli_render.h"
#include "app/cli_script.h"
#include "app/cli_wording.h"
#include "core/common/blas_info.h"
#include "core/common/error.h"
#include "core/common/file_io.h"
#include "core/common/numbers.h"
#include "core/common/versions.h"
#include "core/features/features.h"
#include "core/run/inputs.h"
#include "core/io/image.h"
#include "core/io/safetensors.h"
#include "core/io/state_dict.h"
#include "core/io/tensor_file.h"
#include "core/modules/module_instance.h"
#include "core/modules/params.h"
#include "core/modules/registry.h"
#include "core/run/bench.h"
#include "core/run/estimate.h"
#include "core/common/memory.h"
#include "core/run/result_export.h"
#include "core/run/run.h"
#include "core/run/weights_match.h"

namespace {

using fl::Error;
using fl::ErrorKind;
using Json = nlohmann::ordered_json;


const char* kUsage = R"(fusionlens-cli: run and inspect attention / feature-fusion modules headless.

Usage:
  fusionlens-cli list [--json]
  fusionlens-cli info MODULE [--json]
  fusionlens-cli run --module ID [--set KEY=VALUE]... [--weights FILE [--prefix P]] [--seed N]
                     --input FILE [--input FILE]... [--features SPEC]... [--channels-last]
                     --save OUT.safetensors [--scores FILE.csv|FILE.json]
                     [--outputs NAME[,NAME]...] [--device auto|cpu|cuda]
                     [--max-memory SIZE] [--max-time DURATION] [--threads N]
                     [--progress] [--quiet]
  fusionlens-cli inspect FILE [--json]
                     [--module ID [--set KEY=VALUE]... [--shape B,C,H,W]... [--prefix P]]
  fusionlens-cli bench [--module ID|all] [--shape B,C,H,W] [--iters N] [--threads N[,N]...]
                       [--outputs NAME[,NAME]...] [--json]
  fusionlens-cli render SPEC.json [--out FILE] [--overwrite] [--ignore-hashes]
                        [--batch DIR [--out-dir DIR]] [--quiet]
  fusionlens-cli --help | --version

run:
  --module ID        a module id from `list` (e.g. aff, eca, ms-cam)
  --set KEY=VALUE    a module parameter (see `info ID`); repeatable
  --weights FILE     a checkpoint (.pt/.pth/.bin/.ckpt from torch.save, or .safetensors):
                     a state_dict, a nested training checkpoint ({'state_dict': ...},
                     {'model': ...}, {'params_ema': ...}), DataParallel ('module.') or a
                     whole network holding the module. Loading is strict (every key and
                     shape must match). Without it the module gets a deterministic init
                     seeded by --seed.
  --prefix P         take the module's tensors from under P (e.g. decoder.GF.); without
                     it the prefix is detected when exactly one fits
  --seed N           seed for that init (default 0)
  --input FILE       .npy, .npz, .pt/.pth or .safetensors (FILE:NAME picks one tensor),
                     shape [H,W], [C,H,W] or [B,C,H,W]; or an image (png, jpg, bmp, tif,
                     webp) turned into features; one per module input, in `info` order
  --features SPEC    feature extractor for image inputs: the i-th image uses the i-th
                     --features, else the last given, else the default
                     (e.g. filterbank:channels=64,stride=4 | random:channels=64,stride=8,
                     seed=1 | rgb | torchscript:path=m.pt,output=0)
  --channels-last    tensor inputs are [H,W,C] / [B,H,W,C] (numpy/OpenCV layout)
  --save OUT         .safetensors with `output` (or output.0, output.1, ...) and
                     `probe.NAME` for every probe
  --scores FILE      also write the channel scores of batch element 0 as .csv
                     (probe,channel,score,rank) or .json: every channel_weights probe as
                     is, every gate probe as its spatial mean per channel; a module
                     without such probes is an error. --save and --scores replace
                     existing files
  --outputs NAMES    compute and save only these outputs and probes (comma-separated, as
                     saved: output.1, probe.attention; default all). osra and cmgm compute
                     the full attention probe and cmgm's cam (output.1), which need
                     (H*W)^2 memory and time, only when they are named here (or by default);
                     `--outputs output.0` runs cmgm in O(H*W) memory
  --device D         auto (CUDA when available), cpu or cuda (default auto)
  --max-memory SIZE  refuse runs estimated above SIZE (e.g. 2G), before anything is built:
                     the module's weights, the --weights file while it is read, inputs,
                     activations, probes and outputs; images are decoded under it too.
                     Default 60% of free RAM
  --max-time T       refuse runs estimated to take longer than T (seconds, or 90s, 10m,
                     2h; 0 = no limit; default 5m). The estimate comes from the module's
                     FLOPs and rates measured at start-up; runs estimated over 2 s print it,
                     and osra/cmgm print progress with an ETA. Ctrl-C stops a run between
                     pieces of work: exit 130, no output files written
  --threads N        LibTorch threads (default: the number of cores)
  --progress         print the estimate and progress lines even for short runs
  --quiet            print nothing on success (warnings and errors still go to stderr)

inspect: what a tensor file or checkpoint holds (names, shapes, dtypes, nesting); with
  --module, the weights report against that module's keys and shapes at --shape (one per
  input, or one for all; default 1,64,32,32), computed without building the module:
  matched, missing, unexpected, mismatched keys.

bench: forward time (median, min over --iters after warm-up) per module at --shape
  (default 1,64,32,32), default parameters, seeded weights, probes off, at each --threads
  count (default 1 and the number of cores); with --outputs (e.g. output.0) osra and cmgm
  skip cam and the full attention. Prints the BLAS in use (warning when it is the slow
  reference BLAS) and the estimated time per module from its FLOPs (see --max-time).

%SCRIPT%
%RENDER%
Exit status: 0 success, 2 bad usage or bad input (or over --max-memory / --max-time),
3 run --capture: the built-in differs from the captured run, 1 internal error,
130 interrupted (Ctrl-C).
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

/// One `--set KEY=VALUE` into `params`.
void addSetting(const std::string& kv, std::map<std::string, std::string>* params) {
  const auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) usageError("--set '" + kv + "' is not KEY=VALUE");
  (*params)[kv.substr(0, eq)] = kv.substr(eq + 1);
}

int64_t parseInt(const std::string& flag, const std::string& text, int64_t min, int64_t max) {
  return fl::parseInteger(text, flag, min, max);  // fl::Error(Usage) naming the flag and range
}

fl::Shape parseShape(const std::string& flag, const std::string& text) {
  fl::Shape shape;
  size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const std::string part =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    shape.push_back(parseInt(flag, part, 1, 1 << 20));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (shape.size() != 4) usageError(flag + " '" + text + "' is not B,C,H,W");
  return shape;
}

/// --prefix P: "" or "." mean the checkpoint's root.
std::optional<std::string> prefixArg(const std::string& text) { return text; }

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

// Ctrl-C: the first one asks the run to stop at its next piece of work (a LibTorch call cannot
// be interrupted); SA_RESETHAND makes a second one end the process at once.
std::atomic<bool> gInterrupted{false};

void onInterrupt(int) { gInterrupted.store(true); }  // lock-free atomic: signal-safe

void installInterruptHandler() {
  struct sigaction sa {};
  sa.sa_handler = onInterrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
}

/// Progress lines on stderr for runs that take a while: the estimate first, then per phase
/// "cmgm: attention 37% (74/200), 4.1 s elapsed, ETA 7.0 s" at most once a second.
class ProgressPrinter {
 public:
  /// `always`: print progress even for runs estimated under kLongSeconds (--progress).
  ProgressPrinter(bool enabled, bool always)
      : enabled_(enabled), always_(always), tty_(isatty(2) == 1) {}
  ~ProgressPrinter() {
    if (openLine_) std::cerr << "\n";
  }

  void estimate(const fl::RunEstimate& e) {
    long_ = always_ || e.seconds >= kLongSeconds;
    start_ = Clock::now();
    if (!enabled_ || !long_) return;
    std::cerr << e.moduleId << ": estimated " << fl::durationText(e.seconds) << " and "
              << fl::formatBytes(e.bytes) << " of memory; Ctrl-C stops it" << std::endl;
  }

  void update(const fl::progress::Update& u) {
    if (!enabled_) return;
    const auto now = Clock::now();
    const double elapsed = seconds(start_, now);
    if (!long_ && elapsed < kLongSeconds) return;
    if (u.phase == phase_ && seconds(lastPrint_, now) < 1.0 && u.done < u.total) {
      lastUpdate_ = now;
      return;
    }
    const bool newPhase = u.phase != phase_;
    if (newPhase) {
      // a phase starts when the previous one ended (the first when the run did)
      phaseStart_ = phase_.empty() ? start_ : lastUpdate_;
      phase_ = u.phase;
      lastPrint_ = lastUpdate_ = now;
    } else if (seconds(lastPrint_, now) < 1.0 && u.done < u.total) {
      return;
    }
    lastPrint_ = now;
    lastUpdate_ = now;
    const double inPhase = seconds(phaseStart_, now);
    const double f = u.total > 0 ? static_cast<double>(u.done) / static_cast<double>(u.total) : 1;
    char line[256];
    std::snprintf(line, sizeof line, "%s %3.0f%% (%lld/%lld), %s elapsed, ETA %s",
                  u.phase.c_str(), 100 * f, static_cast<long long>(u.done),
                  static_cast<long long>(u.total), fl::durationText(elapsed).c_str(),
                  f > 0 ? fl::durationText(inPhase * (1 - f) / f).c_str() : "unknown");
    if (tty_) {
      std::cerr << "\r" << line << "\033[K" << std::flush;
      openLine_ = u.done < u.total;
      if (!openLine_) std::cerr << "\n";
    } else {
      std::cerr << "progress: " << line << std::endl;
    }
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr double kLongSeconds = 2.0;
  static double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  }
  bool enabled_, always_, tty_;
  bool long_ = false, openLine_ = false;
  std::string phase_;
  Clock::time_point start_ = Clock::now(), phaseStart_, lastPrint_, lastUpdate_;
};

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) items.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

int cmdRun(Args& args, const fl::ModuleRegistry& registry) {
  fl::RunRequest req;
  std::vector<std::string> inputs;
  std::string save;
  std::string scores;
  std::vector<std::string> features;
  bool channelsLast = false;
  bool quiet = false;
  bool threadsGiven = false;
  bool progressAlways = false;
  req.maxSeconds = 300;  // refuse what would run for hours unless --max-time allows it
  while (!args.done()) {
    const std::string a = args.next();
    if (a == "--module") {
      req.moduleId = args.value(a);
    } else if (a == "--prefix") {
      req.weightsPrefix = prefixArg(args.value(a));
    } else if (a == "--features") {
      features.push_back(args.value(a));
    } else if (a == "--channels-last") {
      channelsLast = true;
    } else if (a == "--set") {
      addSetting(args.value(a), &req.params);
    } else if (a == "--weights") {
      req.weightsPath = args.value(a);
    } else if (a == "--seed") {
      req.seed = static_cast<uint64_t>(parseInt(a, args.value(a), 0, INT64_MAX));
    } else if (a == "--input") {
      inputs.push_back(args.value(a));
    } else if (a == "--save") {
      save = args.value(a);
    } else if (a == "--scores") {
      scores = args.value(a);
    } else if (a == "--device") {
      req.device = fl::parseDevice(args.value(a));
    } else if (a == "--max-memory") {
      req.maxMemoryBytes = fl::parseBytes(args.value(a), "--max-memory");
      fl::setImageDecodeBudget(req.maxMemoryBytes);  // images are decoded under the same budget
    } else if (a == "--max-time") {
      req.maxSeconds = fl::parseDuration(args.value(a));
    } else if (a == "--outputs") {
      for (const auto& name : splitList(args.value(a))) req.outputs.push_back(name);
    } else if (a == "--threads") {
      at::set_num_threads(static_cast<int>(parseInt(a, args.value(a), 1, 1024)));
      threadsGiven = true;
    } else if (a == "--progress") {
      progressAlways = true;
    } else if (a == "--quiet") {
      quiet = true;
    } else {
      usageError("run: unknown option '" + a + "' (see --help)");
    }
  }
  if (req.moduleId.empty()) usageError("run: missing --module ID (see `fusionlens-cli list`)");
  const fl::ModuleDescriptor& d = registry.get(req.moduleId);
  if (!threadsGiven) at::set_num_threads(fl::hardwareThreads());
  fl::selectOutputs(d, req.outputs);  // a bad --outputs name fails before any work
  if (save.empty()) usageError("run: missing --save OUT.safetensors");
  if (std::filesystem::path(save).extension() != ".safetensors") {
    usageError("--save '" + save + "': the output must be a .safetensors file");
  }
  // Checked before the run: a bad name must not cost a forward pass, and a target that is a
  // device or FIFO is refused (and left untouched) before any work.
  const fl::ScoresFormat scoresFormat = scores.empty() ? fl::ScoresFormat::Csv : fl::scoresFormatFor(scores);
  fl::requireReplaceableTarget(save);
  if (!scores.empty()) fl::requireReplaceableTarget(scores);
  if (inputs.size() != d.inputs.size()) {
    std::string names;
    for (const auto& in : d.inputs) names += (names.empty() ? "" : ", ") + in.name;
    usageError("run: " + d.id + " takes " + std::to_string(d.inputs.size()) +
               " --input (" + names + "), got " + std::to_string(inputs.size()));
  }
  if (!req.weightsPath.empty() && !std::filesystem::exists(req.weightsPath)) {
    throw Error(ErrorKind::Input, req.weightsPath + ": no such file (--weights)");
  }
  if (req.weightsPrefix && req.weightsPath.empty()) usageError("--prefix needs --weights FILE");
  std::vector<std::string> inputWarnings;
  req.inputs = fl::readInputs(inputs, features, channelsLast, inputWarnings);

  installInterruptHandler();
  ProgressPrinter printer(!quiet, progressAlways);
  req.onEstimate = [&printer](const fl::RunEstimate& e) { printer.estimate(e); };
  req.onProgress = [&printer](const fl::progress::Update& u) { printer.update(u); };
  req.cancel = &gInterrupted;
  const fl::RunResult res = fl::run(registry, req);
  if (!res.ok) throw res.failure();
  const auto interrupted = [] {
    return Error(ErrorKind::Cancelled, "interrupted; no output file was written");
  };
  if (gInterrupted.load()) throw interrupted();

  // Scores first: a module without channel probes fails before any file is written.
  const std::string scoresText = scores.empty() ? std::string() : fl::channelScoresText(res, 0, scoresFormat);
  // The command line names its output files: replacing them is what was asked (as --save
  // always did), so overwrite.
  fl::writeResultSafetensors(res, save, /*overwrite=*/true, fl::requestMetadata(req));
  if (!scores.empty()) fl::writeTextFile(scores, scoresText, /*overwrite=*/true);
  if (gInterrupted.load()) {  // Ctrl-C while writing: the files are whole (renamed), but unwanted
    std::remove(save.c_str());
    if (!scores.empty()) std::remove(scores.c_str());
    throw interrupted();
  }

  if (!quiet) {
    std::cout << d.id << " on " << res.device << ": " << res.forwardMs << " ms forward, "
              << res.totalMs << " ms total\n";
    if (!req.weightsPath.empty()) {
      std::cout << "weights: " << res.weights.matched.size() << " tensors matched from "
                << req.weightsPath;
      if (!res.weights.prefix.empty()) std::cout << " under '" << res.weights.prefix << "'";
      std::cout << "\n";
      for (const auto& n : res.weights.notes) std::cout << "  " << n << "\n";
    } else {
      std::cout << "weights: seeded init (seed " << req.seed << ")\n";
    }
    for (const auto& [name, t] : fl::resultTensors(res)) {
      std::cout << "  " << name << " " << fl::shapeText(t.sizes()) << "\n";
    }
    std::cout << "saved " << save << "\n";
    if (!scores.empty()) std::cout << "channel scores (batch element 0) saved " << scores << "\n";
  }
  for (const auto& w : inputWarnings) std::cerr << "warning: " << w << "\n";
  for (const auto& w : res.warnings) std::cerr << "warning: " << w << "\n";
  return 0;
}

Json reportJson(const fl::WeightsReport& r) {
  return Json{{"ok", r.ok()},           {"prefix", r.prefix},         {"notes", r.notes},
              {"matched", r.matched},   {"missing", r.missing},       {"unexpected", r.unexpected},
              {"mismatched", r.mismatched}};
}

int cmdInspect(Args& args, const fl::ModuleRegistry& registry) {
  std::string file, moduleId;
  std::map<std::string, std::string> params;
  std::vector<fl::Shape> shapes;
  std::optional<std::string> prefix;
  bool json = false;
  while (!args.done()) {
    const std::string a = args.next();
    if (a == "--json") {
      json = true;
    } else if (a == "--module") {
      moduleId = args.value(a);
    } else if (a == "--set") {
      addSetting(args.value(a), &params);
    } else if (a == "--shape") {
      shapes.push_back(parseShape(a, args.value(a)));
    } else if (a == "--prefix") {
      prefix = prefixArg(args.value(a));
    } else if (!a.empty() && a[0] == '-') {
      usageError("inspect: unknown option '" + a + "' (see --help)");
    } else if (file.empty()) {
      file = a;
    } else {
      usageError("inspect: takes one FILE, got '" + file + "' and '" + a + "'");
    }
  }
  if (file.empty()) usageError("inspect: missing FILE");
  if (moduleId.empty() && (!params.empty() || !shapes.empty() || prefix)) {
    usageError("inspect: --set, --shape and --prefix need --module ID");
  }
  if (!std::filesystem::exists(file)) throw Error(ErrorKind::Input, file + ": no such file");

  Json out{{"file", file}};
  if (fl::isImageFile(file)) {
    const fl::Image img = fl::readImage(file);
    out["format"] = "image";
    out["width"] = img.sourceWidth;
    out["height"] = img.sourceHeight;
    out["channels"] = img.sourceChannels;
    out["bit_depth"] = img.bitDepth;
    out["warnings"] = img.warnings;
    if (!moduleId.empty()) usageError("inspect: --module needs a checkpoint, not an image");
    if (json) {
      std::cout << out.dump(2) << "\n";
    } else {
      std::cout << file << ": image " << img.sourceWidth << "x" << img.sourceHeight << ", "
                << img.sourceChannels << " channel(s), " << img.bitDepth
                << "-bit; use it as --input with --features SPEC (default "
                << fl::defaultFeatureSpecText() << ")\n";
    }
    return 0;
  }

  fl::Checkpoint cp;
  const std::string ext = std::filesystem::path(file).extension().string();
  if (ext == ".npy" || ext == ".npz" || ext == ".NPY" || ext == ".NPZ") {
    cp.path = file;
    cp.format = ext == ".npy" || ext == ".NPY" ? "npy" : "npz";
    cp.rootType = cp.format == "npy" ? "array" : "dict";
    cp.tensors = fl::readTensorFile(file);
  } else {
    cp = fl::readCheckpoint(file);
  }
  // The nesting: top-level groups and how many tensors each holds (compared as views: one
  // string per group, not one per tensor).
  std::vector<std::pair<std::string, size_t>> groups;
  for (const auto& [name, t] : cp.tensors) {
    const auto dot = name.find('.');
    const std::string_view top = dot == std::string::npos ? std::string_view() : std::string_view(name).substr(0, dot + 1);
    if (groups.empty() || groups.back().first != top) groups.emplace_back(std::string(top), 0);
    ++groups.back().second;
  }
  if (json) {  // built only when printed: 100,000 tensors make 100,000 JSON objects
    out["format"] = cp.format;
    out["root"] = cp.rootType;
    Json tensors = Json::array();
    tensors.get_ref<Json::array_t&>().reserve(cp.tensors.size());
    for (const auto& [name, t] : cp.tensors) {
      tensors.push_back({{"name", name}, {"shape", t.sizes().vec()},
                         {"dtype", std::string(c10::toString(t.scalar_type()))}});
    }
    out["tensors"] = std::move(tensors);
    out["skipped"] = cp.skipped;
    Json groupsJson = Json::object();
    for (const auto& [g, n] : groups) groupsJson[g.empty() ? "(top level)" : g] = n;
    out["groups"] = std::move(groupsJson);
  }

  std::optional<fl::WeightsReport> report;
  if (!moduleId.empty()) {
    const fl::ModuleDescriptor& d = registry.get(moduleId);
    const fl::Params p = fl::resolveParams(d.id, d.params, params);
    if (shapes.empty()) shapes.push_back({1, 64, 32, 32});
    if (shapes.size() != 1 && shapes.size() != d.inputs.size()) {
      usageError("inspect: " + d.id + " takes " + std::to_string(d.inputs.size()) +
                 " inputs; give one --shape for all or one per input, got " +
                 std::to_string(shapes.size()));
    }
    while (shapes.size() < d.inputs.size()) shapes.push_back(shapes.front());
    if (const fl::Problem pr = d.check(p, shapes); !pr.empty()) throw pr.error(ErrorKind::Input);
    // Keys and shapes from the descriptor's state list: the module is never built.
    report = fl::matchWeights(d, p, shapes, cp.tensors, prefix, file);
    if (json) {
      Json r = reportJson(*report);
      r["module"] = d.id;
      out["weights"] = std::move(r);
    }
  }

  if (json) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << file << ": " << cp.format << ", root " << cp.rootType << ", "
            << cp.tensors.size() << " tensor(s)\n";
  if (groups.size() > 1 || (groups.size() == 1 && !groups.front().first.empty())) {
    std::cout << "nesting:\n";
    for (const auto& [g, n] : groups)
      std::cout << "  " << (g.empty() ? "(top level)" : g) << "  " << n << " tensor(s)\n";
  }
  std::cout << "tensors:\n";
  for (const auto& [name, t] : cp.tensors) {
    std::cout << "  " << (name.empty() ? "(root)" : name) << " "
              << fl::shapeText(t.sizes()) << " " << c10::toString(t.scalar_type()) << "\n";
  }
  if (!cp.skipped.empty()) {
    std::cout << "skipped (not tensors):\n";
    for (const auto& s : cp.skipped) std::cout << "  " << s << "\n";
  }
  if (report) {
    std::cout << "weights report for " << moduleId << " (prefix '" << report->prefix
              << "'): " << report->matched.size() << " matched, " << report->missing.size()
              << " missing, " << report->unexpected.size() << " unexpected, "
              << report->mismatched.size() << " mismatched\n";
    for (const auto& n : report->notes) std::cout << "  note: " << n << "\n";
    for (const auto& k : report->missing) std::cout << "  missing: " << k << "\n";
    for (const auto& k : report->unexpected) std::cout << "  unexpected: " << k << "\n";
    for (const auto& k : report->mismatched) std::cout << "  mismatched: " << k << "\n";
    std::cout << (report->ok() ? "loads strictly: yes" : "loads strictly: no") << "\n";
  }
  return 0;
}

int cmdBench(Args& args, const fl::ModuleRegistry& registry) {
  fl::BenchOptions opt;
  std::vector<int> threadCounts;
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
      opt.shape = parseShape(a, args.value(a));
    } else if (a == "--iters") {
      opt.iters = static_cast<int>(parseInt(a, args.value(a), 1, 100000));
    } else if (a == "--threads") {
      const std::string list = args.value(a);
      for (const auto& t : splitList(list)) {
        threadCounts.push_back(static_cast<int>(parseInt(a, t, 1, 1024)));
      }
      if (threadCounts.empty()) usageError("--threads '" + list + "' names no thread count");
    } else if (a == "--outputs") {
      for (const auto& name : splitList(args.value(a))) opt.outputs.push_back(name);
    } else if (a == "--json") {
      json = true;
    } else {
      usageError("bench: unknown option '" + a + "'");
    }
  }
  if (threadCounts.empty()) {  // 1 and all cores: the single-thread speed and what a run gets
    threadCounts.push_back(1);
    if (fl::hardwareThreads() > 1) threadCounts.push_back(fl::hardwareThreads());
  }
  // A bad --outputs name is refused for every module alike, before anything runs.
  for (const auto& id : opt.moduleIds) fl::selectOutputs(registry.get(id), opt.outputs);
  std::vector<fl::BenchResult> results;
  for (const int t : threadCounts) {
    opt.threads = t;
    for (auto& r : fl::bench(registry, opt)) results.push_back(std::move(r));
  }
  const fl::BlasInfo& blas = fl::blasInfo();
  if (json) {
    Json out = Json::array();
    for (const auto& r : results) {
      Json j{{"module", r.moduleId}, {"shape", r.shape}, {"iters", r.iters},
             {"threads", r.threads}, {"blas", blas.name}, {"blas_library", blas.library}};
      if (r.error.empty()) {
        j["median_ms"] = r.medianMs;
        j["min_ms"] = r.minMs;
        j["estimated_peak_bytes"] = r.estimatedBytes;
        j["process_peak_rss_bytes"] = r.peakRssBytes;
        j["estimated_ms"] = r.estimatedMs;
        j["gemm_flops"] = r.work.gemmFlops;
        j["attention_scores"] = r.work.attentionScores;
        j["head_dim"] = r.work.headDim;
        j["bytes_moved"] = r.work.bytes;
        // the machine's measured rates at this thread count: the bounds in bench/results.md
        at::set_num_threads(r.threads);
        const fl::MachineRates& rates = fl::machineRates();
        j["machine_gemm_gflops"] = rates.gemmFlopsPerSecond / 1e9;
        j["machine_bandwidth_gbs"] = rates.bytesPerSecond / 1e9;
        if (r.work.attentionScores > 0) {
          j["attention_ns_per_score"] = 1e9 * fl::attentionScoreSeconds(r.work.headDim);
        }
      } else {
        j["error"] = r.error;
      }
      out.push_back(j);
    }
    std::cout << out.dump(2) << "\n";
    if (blas.reference) std::cerr << "warning: " << fl::blasStatus() << "\n";
    return 0;
  }
  std::printf("%s\n", fl::blasStatus().c_str());
  if (blas.reference) {
    std::printf("WARNING: LibTorch runs on the reference (netlib) BLAS: matrix products are "
                "several times slower than with OpenBLAS (apt-get install libopenblas0-openmp)\n");
  }
  std::printf("%-18s %12s %7s %10s %10s %10s %14s %14s\n", "module", "shape", "threads",
              "median ms", "min ms", "est. ms", "est. peak", "process RSS");
  for (const auto& r : results) {
    if (!r.error.empty()) {
      std::printf("%-18s %12s %7d  skipped: %s\n", r.moduleId.c_str(),
                  fl::shapeText(r.shape).c_str(), r.threads, r.error.c_str());
      continue;
    }
    std::string shape = std::to_string(r.shape[0]) + "x" + std::to_string(r.shape[1]) + "x" +
                        std::to_string(r.shape[2]) + "x" + std::to_string(r.shape[3]);
    std::printf("%-18s %12s %7d %10.3f %10.3f %10.3f %14s %14s\n", r.moduleId.c_str(),
                shape.c_str(), r.threads, r.medianMs, r.minMs, r.estimatedMs,
                fl::formatBytes(r.estimatedBytes).c_str(), fl::formatBytes(r.peakRssBytes).c_str());
  }
  std::printf("iterations: %d after %d warm-up\n", opt.iters, opt.warmup);
  return 0;
}

int dispatch(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) args.items.emplace_back(argv[i]);
  if (args.done()) {
    std::cerr << "Usage: fusionlens-cli list|info|run|inspect|bench|render ... (see --help)\n";
    return 2;
  }
  const std::string cmd = args.next();
  // `fusionlens-cli bench --help` (any command): the same usage a person expects there.
  const bool helpAfterCommand =
      std::find(args.items.begin() + 1, args.items.end(), std::string("--help")) != args.items.end();
  if (cmd == "--help" || cmd == "-h" || cmd == "help" || helpAfterCommand) {
    std::string usage = kUsage;
    usage.replace(usage.find("%SCRIPT%"), 8, fl::cli::kScriptUsage);
    usage.replace(usage.find("%RENDER%"), 8, fl::cli::kRenderUsage);
    std::cout << usage;
    return 0;
  }
  if (cmd == "--version") {
    std::cout << "fusionlens-cli " << fl::fusionLensVersion() << "\nLibTorch " << fl::libtorchVersion() << ", "
              << fl::blasStatus() << "\n" << fl::cudaStatus() << "\nthreads: " << fl::hardwareThreads()
              << " by default (the number of cores; run and bench take --threads)\n";
    return 0;
  }
  // Every command uses all cores unless it is given --threads (LibTorch's own default here
  // is one thread); run and bench set theirs again from their options.
  at::set_num_threads(fl::hardwareThreads());
  fl::ModuleRegistry registry;
  fl::registerBuiltinModules(registry);
  if (cmd == "list") return cmdList(args, registry);
  if (cmd == "info") return cmdInfo(args, registry);
  if (cmd == "run" || cmd == "inspect") {
    // TorchScript files and PyTorch captures (app/cli_script.cpp).
    const std::vector<std::string> rest(args.items.begin() + 1, args.items.end());
    for (const auto& a : rest) {
      if (cmd == "run" && a == "--script") return fl::cli::cmdRunScript(rest);
      if (cmd == "run" && a == "--capture") return fl::cli::cmdRunCapture(rest, registry);
      if (cmd == "inspect" && !a.empty() && a[0] != '-' && fl::cli::isScriptFile(a)) {
        return fl::cli::cmdInspectScript(rest);
      }
    }
  }
  if (cmd == "run") return cmdRun(args, registry);
  if (cmd == "bench") return cmdBench(args, registry);
  if (cmd == "inspect") return cmdInspect(args, registry);
  if (cmd == "render") {
    return fl::cli::cmdRender(std::vector<std::string>(args.items.begin() + 1, args.items.end()));
  }
  usageError("unknown command '" + cmd +
             "' (commands: list, info, run, inspect, bench, render; see --help)");
}

}  // namespace

int main(int argc, char** argv) {
  fl::setAllocatorPolicy();
  try {
    return dispatch(argc, argv);
  } catch (const Error& e) {
    std::cerr << "fusionlens-cli: " << fl::cli::cliText(e) << "\n";
    if (e.kind() == ErrorKind::Cancelled) return 130;  // as a shell reports SIGINT
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
