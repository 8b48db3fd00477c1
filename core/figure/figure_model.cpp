#include "core/figure/figure_model.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <opencv2/imgproc.hpp>

#include "core/common/error.h"
#include "core/common/numbers.h"
#include "core/common/sha256.h"
#include "core/features/features.h"
#include "core/io/image.h"
#include "core/render/reductions.h"
#include "core/run/inputs.h"
#include "core/script/capture.h"
#include "core/script/script_model.h"

namespace fl::figure {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// A row's view, parsed: "mean", "complement", "channel:N", "query:X,Y[:head=H]".
struct View {
  enum Kind { Mean, Complement, Channel, Query } kind = Mean;
  int64_t channel = 0;
  int64_t qx = -1, qy = -1;  ///< -1: the grid's centre
  int64_t head = -1;         ///< -1: mean of heads
};

/// The largest channel, query or head index a view may name (no run has more).
constexpr int64_t kMaxViewIndex = int64_t{1} << 31;

View parseView(const std::string& text, const std::string& where) {
  View v;
  auto fail = [&]() -> View {
    throw Error(ErrorKind::Usage,
                where + ": view '" + text +
                    "' is not one of mean, complement, channel:N, query:X,Y[:head=H]");
  };
  auto toInt = [&](const std::string& s) -> int64_t {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) fail();
    // Indices past 2^31 name nothing any run has; larger digit strings must not overflow.
    const auto v = toInteger(s);
    if (!v || *v > kMaxViewIndex) {
      throw Error(ErrorKind::Usage, where + ": view '" + clipForMessage(text) + "': index '" +
                                        clipForMessage(s) + "' is not in [0, " +
                                        std::to_string(kMaxViewIndex) + "]");
    }
    return *v;
  };
  if (text.empty() || text == "mean") return v;
  if (text == "complement") {
    v.kind = View::Complement;
    return v;
  }
  if (text.rfind("channel:", 0) == 0) {
    v.kind = View::Channel;
    v.channel = toInt(text.substr(8));
    return v;
  }
  if (text.rfind("query:", 0) == 0) {
    v.kind = View::Query;
    std::string rest = text.substr(6);
    const size_t colon = rest.find(':');
    if (colon != std::string::npos) {
      const std::string h = rest.substr(colon + 1);
      if (h.rfind("head=", 0) != 0) fail();
      v.head = toInt(h.substr(5));
      rest = rest.substr(0, colon);
    }
    const size_t comma = rest.find(',');
    if (comma == std::string::npos) fail();
    v.qx = toInt(rest.substr(0, comma));
    v.qy = toInt(rest.substr(comma + 1));
    return v;
  }
  return fail();
}

/// Short title of a module: the display name up to its first " (" ("AFF (Attentional ...)"
/// -> "AFF").
std::string shortName(const ModuleDescriptor& d) {
  const size_t p = d.displayName.find(" (");
  return p == std::string::npos ? d.displayName : d.displayName.substr(0, p);
}

struct Source {
  std::string name;
  ProbeKind kind = ProbeKind::FeatureMap;
  at::Tensor value;
  double lo = kNaN, hi = kNaN;
};

/// The tensor a row names in one run: a probe, "output[.N]" or "input.N"; "auto" picks the
/// first probe with a spatial view (then attention, matrices, channel weights).
std::optional<Source> findSource(const RunResult& r, const std::vector<at::Tensor>& inputs,
                                 const std::string& name, std::string* note) {
  if (name == "auto") {
    const ProbeKind order[] = {ProbeKind::SpatialMap, ProbeKind::Gate, ProbeKind::AttentionMatrix,
                               ProbeKind::ChannelMatrix, ProbeKind::ScaleWeights,
                               ProbeKind::ChannelWeights};
    for (ProbeKind k : order) {
      for (const auto& p : r.probes) {
        if (p.kind == k && p.value.defined()) return Source{p.name, p.kind, p.value, p.lo, p.hi};
      }
    }
    if (!r.outputs.empty() && r.outputs[0].defined()) {
      return Source{r.outputNames.empty() ? "output" : r.outputNames[0], ProbeKind::FeatureMap,
                    r.outputs[0]};
    }
    *note = "no probe to show";
    return std::nullopt;
  }
  if (const ProbeResult* p = r.findProbe(name)) {
    if (!p->value.defined()) {
      *note = "probe '" + name + "' was not recorded";
      return std::nullopt;
    }
    return Source{p->name, p->kind, p->value, p->lo, p->hi};
  }
  for (size_t i = 0; i < r.outputNames.size(); ++i) {
    if (r.outputNames[i] == name) {
      if (!r.outputs[i].defined()) {
        *note = "'" + name + "' was withheld (see the run's warnings)";
        return std::nullopt;
      }
      return Source{name, ProbeKind::FeatureMap, r.outputs[i]};
    }
  }
  if (name.rfind("input.", 0) == 0) {
    const std::string idx = name.substr(6);
    if (!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos) {
      const auto i = toInteger(idx);
      if (i && *i < static_cast<int64_t>(inputs.size())) return Source{name, ProbeKind::FeatureMap, inputs[static_cast<size_t>(*i)]};
    }
  }
  // Not this module's: the panel stays empty and says so (a row may name a probe that only
  // some columns have, e.g. iaff's weight2).
  // Say what it has instead, so "output" on a two-output module points at output.0/output.1.
  std::string has;
  for (const auto& o : r.outputNames) has += (has.empty() ? "" : ", ") + o;
  for (const auto& p : r.probes) has += (has.empty() ? "" : ", ") + p.name;
  *note = "has no '" + name + "' (it has " + (has.empty() ? std::string("nothing to show") : has) + ")";
  for (const auto& s : r.warnings) {
    if (s.find("'" + name + "'") != std::string::npos) *note = s;
  }
  return std::nullopt;
}

/// Reduces a source to what one panel shows.
void reduce(const Source& s, const View& view, int64_t batch, const std::vector<at::Tensor>& inputs,
            FigurePanel& p, double* lo, double* hi, const std::string& where) {
  const at::Tensor t = s.value;
  p.probe = s.name;
  *lo = s.lo;
  *hi = s.hi;
  if (t.dim() < 1 || batch >= t.size(0)) {
    p.note = s.name + " has no batch element " + std::to_string(batch);
    return;
  }
  switch (s.kind) {
    case ProbeKind::SpatialMap:
      p.kind = PanelKind::Map;
      p.values = t[batch].reshape({t.size(2), t.size(3)});
      p.spatial = true;
      p.what = "map";
      return;
    case ProbeKind::Gate:
    case ProbeKind::FeatureMap: {
      if (t.dim() != 4) break;
      p.kind = PanelKind::Map;
      p.spatial = true;
      if (view.kind == View::Channel) {
        if (view.channel >= t.size(1)) {
          throw Error(ErrorKind::Usage, where + ": channel " + std::to_string(view.channel) +
                                            " is out of range; " + s.name + " has " +
                                            std::to_string(t.size(1)) + " channels");
        }
        p.values = t[batch][view.channel].contiguous();
        p.what = "channel " + std::to_string(view.channel);
      } else if (view.kind == View::Complement) {
        if (s.kind != ProbeKind::Gate) {
          throw Error(ErrorKind::Usage, where + ": 'complement' (1 - gate) needs a gate; " + s.name +
                                            " is not one");
        }
        p.values = 1.0 - render::gateMeanMap(t, batch);
        p.what = "1 - channel mean";
        const double l = *lo, h = *hi;
        *lo = 1.0 - h;
        *hi = 1.0 - l;
      } else {
        p.values = render::gateMeanMap(t, batch);
        p.what = "channel mean";
      }
      return;
    }
    case ProbeKind::ChannelWeights:
      p.kind = PanelKind::Bars;
      p.values = t[batch].reshape({-1}).contiguous();
      p.what = "per channel";
      return;
    case ProbeKind::ScaleWeights:
      p.kind = PanelKind::Map;
      p.values = t[batch].t().contiguous();  // [S, C]: scales down, channels across
      p.what = "scale x channel";
      return;
    case ProbeKind::ChannelMatrix:
      p.kind = PanelKind::Map;
      p.values = t[batch].contiguous();
      p.what = "channel x channel";
      return;
    case ProbeKind::AttentionMatrix: {
      const int64_t nq = t.size(2), nk = t.size(3), heads = t.size(1);
      const at::Tensor& x = inputs.at(0);
      const int64_t qh = x.size(2), qw = x.size(3);
      if (qh * qw != nq) {
        p.note = s.name + ": its " + std::to_string(nq) + " queries do not match the " +
                 std::to_string(qh) + "x" + std::to_string(qw) + " input grid";
        return;
      }
      const int64_t qx = view.qx < 0 ? qw / 2 : view.qx, qy = view.qy < 0 ? qh / 2 : view.qy;
      if (qx >= qw || qy >= qh || view.head >= heads) {
        throw Error(ErrorKind::Usage, where + ": query (" + std::to_string(qx) + ", " +
                                          std::to_string(qy) + ") head " + std::to_string(view.head) +
                                          " is outside the " + std::to_string(qw) + "x" +
                                          std::to_string(qh) + " grid with " +
                                          std::to_string(heads) + " heads");
      }
      const auto [kh, kw] = render::attentionKeyGrid(nk, qh, qw);
      p.kind = PanelKind::Map;
      p.spatial = true;
      p.values = render::attentionRowMap(t, batch, view.head, qy * qw + qx, kh, kw);
      p.what = "query (" + std::to_string(qx) + ", " + std::to_string(qy) + "), " +
               (view.head < 0 ? "mean of " + std::to_string(heads) + " heads"
                              : "head " + std::to_string(view.head));
      // A softmax row sums to 1: its values sit near 1/Nk, blank on [0, 1]; scale it as an
      // unbounded map (as the explorer does).
      *lo = *hi = kNaN;
      return;
    }
  }
  p.note = s.name + " has an unexpected shape";
}

/// The SHA-256 of a file the spec names; refuses a missing file (`missing` says which) and,
/// when `check`, a file whose hash differs from the spec's (a spec promises the same figure).
std::string checkedHash(const std::string& path, const std::string& missing,
                        const std::string& expected, bool check) {
  if (!std::filesystem::exists(path)) throw Error(ErrorKind::Input, missing);
  const std::string hash = sha256File(path);
  if (check && !expected.empty() && expected != hash) {
    throw Error(ErrorKind::Input, path + ": changed since the spec was written (sha256 " +
                                      hash.substr(0, 12) + "..., the spec says " +
                                      expected.substr(0, 12) + "...)",
                fileSubject(path), fixBy(FixAction::IgnoreHashes));
  }
  return hash;
}

cv::Mat toRgb8(const cv::Mat& rgbFloat) {
  cv::Mat out;
  rgbFloat.convertTo(out, CV_8UC3, 255.0);
  return out;
}

bool nonNegative(const at::Tensor& t) { return t.numel() > 0 && t.min().item<double>() >= 0.0; }

void addStat(analysis::StatisticsTable& table, const std::string& stat, const std::string& row,
             const std::string& a, const std::string& b, double v) {
  table.rows.push_back({stat, row, a, b, analysis::formatStat(v)});
}

}  // namespace

at::Tensor channelScores(const RunResult& run, int64_t batch, std::string* source) {
  for (const auto& p : run.probes) {
    if (p.kind == ProbeKind::ChannelWeights && p.value.defined() && batch < p.value.size(0)) {
      if (source) *source = p.name;
      return p.value[batch].reshape({-1}).to(at::kDouble);
    }
  }
  for (const auto& p : run.probes) {
    if (p.kind == ProbeKind::Gate && p.value.defined() && p.value.dim() == 4 && batch < p.value.size(0)) {
      if (source) *source = p.name + " (spatial mean)";
      return p.value[batch].mean({1, 2}).to(at::kDouble);
    }
  }
  if (source) source->clear();
  return at::Tensor();
}

namespace {

/// Feature specs with their TorchScript model files resolved against `baseDir` and hashed
/// (`hashes` receives each file's SHA-256, checked against the spec's). `what` names them.
std::vector<std::string> resolvedFeatures(const std::vector<std::string>& specs, std::vector<std::string>& hashes,
                                          const std::string& baseDir, bool check, const std::string& what) {
  hashes.resize(specs.size());
  std::vector<std::string> out;
  for (size_t i = 0; i < specs.size(); ++i) {
    FeatureSpec f;
    try {
      f = parseFeatureSpec(specs[i]);
    } catch (const Error& e) {
      throw Error(ErrorKind::Usage, what + "[" + std::to_string(i) + "]: " + e.what());
    }
    if (f.kind != "torchscript") {
      if (!hashes[i].empty()) {
        throw Error(ErrorKind::Usage, what + "[" + std::to_string(i) + "]: a sha256 is only for a torchscript feature spec");
      }
      out.push_back(specs[i]);
      continue;
    }
    f.path = resolvePath(f.path, baseDir);
    hashes[i] = checkedHash(f.path, what + "[" + std::to_string(i) + "]: model '" + f.path + "' does not exist",
                            hashes[i], check);
    out.push_back(featureSpecText(f));
  }
  return out;
}

/// Every other input brought onto the first's grid: fusion needs one grid.
void onFirstGrid(std::vector<at::Tensor>& inputs, std::vector<std::string>& warnings, const std::string& who) {
  for (size_t i = 1; i < inputs.size(); ++i) {
    if (inputs[i].dim() == 4 && inputs[0].dim() == 4 &&
        (inputs[i].size(2) != inputs[0].size(2) || inputs[i].size(3) != inputs[0].size(3))) {
      warnings.push_back(who + "input " + std::to_string(i) + " resized from " +
                         std::to_string(inputs[i].size(2)) + "x" + std::to_string(inputs[i].size(3)) +
                         " to the first input's " + std::to_string(inputs[0].size(2)) + "x" +
                         std::to_string(inputs[0].size(3)));
      inputs[i] = resizeFeatures(inputs[i], inputs[0].size(2), inputs[0].size(3));
    }
  }
}

bool probabilityOp(const std::string& op) {
  return op.find("sigmoid") != std::string::npos || op.find("softmax") != std::string::npos;
}

/// A script run as a RunResult: its points as probes (named by point), outputs as outputs.
RunResult scriptResult(const std::string& id, const script::ScriptRunResult& r) {
  std::vector<std::pair<std::string, at::Tensor>> probes;
  std::vector<ProbeKind> kinds;
  for (const auto& p : r.points) {
    probes.emplace_back(p.spec.name, p.value);
    kinds.push_back(p.kind.value_or(ProbeKind::FeatureMap));
  }
  RunResult res = scriptRunAsResult(id, r.outputs, probes, kinds);
  for (size_t i = 0; i < r.points.size(); ++i) {
    // A sigmoid or softmax lies in [0, 1]: the natural scale shows it on that range.
    if (r.points[i].spec.attention && probabilityOp(r.points[i].spec.op)) {
      res.probes[i].lo = 0;
      res.probes[i].hi = 1;
    }
  }
  for (const auto& n : r.notes) res.warnings.push_back(n);
  return res;
}

/// The script column's point names, for messages.
std::string pointList(const std::vector<script::PointSpec>& points) {
  std::string out;
  int n = 0;
  for (const auto& p : points) {
    if (!p.capturable) continue;
    if (++n > 12) {
      out += ", ...";
      break;
    }
    out += (out.empty() ? "" : ", ") + p.name;
  }
  return out.empty() ? "none" : out;
}

RunResult failed(const Error& e) {
  RunResult r;
  r.ok = false;
  r.errorKind = e.kind();
  r.error = e.what();
  return r;
}

}  // namespace

RunResult runFigureColumn(const ModuleRegistry& registry, const RunRequest& request, const FigureColumn& column) {
  if (!column.module.empty()) return run(registry, request);
  try {
    const bool isCapture = !column.capture.empty();
    std::optional<Capture> cap;
    std::string file = column.script;
    if (isCapture) {
      cap = readCapture(column.capture);
      file = writeCaptureScript(*cap);
    }
    // The trace file of a capture is private and temporary: removed whatever happens.
    struct Remove {
      std::string path;
      ~Remove() {
        if (!path.empty()) removeCaptureScript(path);
      }
    } remove{isCapture ? file : std::string()};
    const std::string shown = isCapture ? column.capture : column.script;
    const auto model = script::ScriptModel::load(file);
    const std::vector<at::Tensor>& xs = isCapture ? cap->inputs : request.inputs;
    if (xs.size() < model->inputNames().size()) {
      std::string names;
      for (const auto& n : model->inputNames()) names += (names.empty() ? "" : ", ") + n;
      throw Error(ErrorKind::Usage, shown + " takes " + std::to_string(model->inputNames().size()) + " input(s) (" +
                                        names + "); the column has " + std::to_string(xs.size()));
    }
    // A point that is a submodule's output is only returned when asked for.
    bool moduleOutputs = false;
    if (!column.point.empty()) {
      const auto all = model->points(true);
      const auto it = std::find_if(all.begin(), all.end(), [&](const script::PointSpec& p) { return p.name == column.point; });
      if (it == all.end()) {
        throw Error(ErrorKind::Usage, shown + " has no point '" + clipForMessage(column.point) +
                                          "' (its attention points: " + pointList(model->points(false)) +
                                          "; fusionlens-cli inspect lists them all)");
      }
      if (!it->capturable) {
        throw Error(ErrorKind::Usage, shown + ": point '" + column.point + "' cannot be captured: " + it->reason);
      }
      moduleOutputs = !it->attention;
    }
    const std::vector<at::Tensor> used(xs.begin(), xs.begin() + static_cast<long>(model->inputNames().size()));
    RunResult r = scriptResult(isCapture ? "capture" : "script", model->run(used, moduleOutputs));
    r.device = "cpu";
    if (request.device != DeviceChoice::Cpu) r.warnings.push_back("TorchScript columns run on the CPU");
    return r;
  } catch (const Error& e) {
    return failed(e);
  } catch (const std::exception& e) {
    return failed(Error(ErrorKind::Input, e.what()));
  }
}

std::string columnTitle(const ModuleRegistry& registry, const FigureColumn& column) {
  if (!column.label.empty()) return column.label;
  if (!column.module.empty()) {
    const ModuleDescriptor* d = registry.find(column.module);
    return d ? shortName(*d) : column.module;
  }
  std::string stem = std::filesystem::path(column.script.empty() ? column.capture : column.script).stem().string();
  return stem;
}

namespace {

void mapFeatures(std::vector<std::string>& specs, const std::function<std::string(const std::string&)>& map) {
  for (auto& text : specs) {
    try {
      FeatureSpec f = parseFeatureSpec(text);
      if (f.kind != "torchscript" || f.path.empty()) continue;
      f.path = map(f.path);
      text = featureSpecText(f);
    } catch (const Error&) {
      // A bad spec is reported when the figure is built; its text stays as written.
    }
  }
}

}  // namespace

void mapColumnPaths(FigureColumn& c, const std::function<std::string(const std::string&)>& map) {
  if (!c.weights.path.empty()) c.weights.path = map(c.weights.path);
  if (!c.script.empty()) c.script = map(c.script);
  if (!c.capture.empty()) c.capture = map(c.capture);
  for (auto& in : c.inputs) in.path = map(in.path);
  mapFeatures(c.features, map);
}

void mapSpecPaths(FigureSpec& spec, const std::function<std::string(const std::string&)>& map) {
  for (auto& in : spec.inputs) in.path = map(in.path);
  mapFeatures(spec.features, map);
  for (auto& c : spec.columns) mapColumnPaths(c, map);
}

FigureData prepareFigure(const ModuleRegistry& registry, const FigureSpec& specIn,
                         const std::string& baseDir, const BuildOptions& options) {
  FigureData m;
  m.spec = specIn;
  m.baseDir = baseDir;
  FigureSpec& spec = m.spec;

  // Files: resolve, hash, and refuse a changed file.
  // `column` < 0: the spec's inputs ("input 1 '...'"), else a column's ("columns[2].inputs[1] '...'").
  const auto inputPaths = [&](std::vector<FigureInput>& list, int column) {
    std::vector<std::string> paths;
    for (size_t i = 0; i < list.size(); ++i) {
      FigureInput& in = list[i];
      const std::string path = resolvePath(in.path, baseDir);
      const std::string what = column < 0 ? "input " + std::to_string(i)
                                          : "columns[" + std::to_string(column) + "].inputs[" + std::to_string(i) + "]";
      in.sha256 = checkedHash(path, what + " '" + path + "' does not exist", in.sha256, options.checkHashes);
      paths.push_back(path);
    }
    return paths;
  };
  const std::vector<std::string> paths = inputPaths(spec.inputs, -1);
  const std::vector<std::string> features =
      resolvedFeatures(spec.features, spec.featuresSha256, baseDir, options.checkHashes, "features");
  struct Files {
    std::vector<std::string> paths, features;
  };
  std::vector<Files> own(spec.columns.size());
  for (size_t c = 0; c < spec.columns.size(); ++c) {
    FigureColumn& col = spec.columns[c];
    const std::string key = "columns[" + std::to_string(c) + "]";
    FigureWeights& w = col.weights;
    if (!w.path.empty()) {
      const std::string path = resolvePath(w.path, baseDir);
      w.sha256 = checkedHash(path, "column " + std::to_string(c) + " weights '" + path + "' do not exist",
                             w.sha256, options.checkHashes);
    }
    for (std::string* file : {&col.script, &col.capture}) {
      if (file->empty()) continue;
      const std::string path = resolvePath(*file, baseDir);
      col.sha256 = checkedHash(path, key + ": '" + path + "' does not exist", col.sha256, options.checkHashes);
    }
    own[c].paths = inputPaths(col.inputs, static_cast<int>(c));
    own[c].features = resolvedFeatures(col.features, col.featuresSha256, baseDir, options.checkHashes, key + ".features");
  }

  std::vector<at::Tensor> inputs = readInputs(paths, features, spec.channelsLast, m.warnings);
  onFirstGrid(inputs, m.warnings, "");
  if (spec.underlay >= 0 && spec.underlay < static_cast<int>(paths.size()) &&
      isImageFile(paths[spec.underlay])) {
    m.underlay = toRgb8(readImage(paths[spec.underlay]).rgb);
  }

  const int nCols = static_cast<int>(spec.columns.size());
  const DeviceChoice device = parseDevice(spec.device);
  for (int c = 0; c < nCols; ++c) {
    const FigureColumn& col = spec.columns[c];
    const std::string key = "columns[" + std::to_string(c) + "]";
    const ModuleDescriptor* d = nullptr;
    if (!col.module.empty()) {
      d = registry.find(col.module);
      if (!d) {
        throw Error(ErrorKind::Usage, key + ": unknown module '" + col.module + "' (fusionlens-cli list shows the ids)");
      }
    }
    // The column's own inputs or features, else the spec's.
    std::vector<at::Tensor> colInputs;
    if (!col.capture.empty()) {
      // a capture runs on the inputs it holds (runFigureColumn reads them)
    } else if (col.inputs.empty() && col.features.empty()) {
      colInputs = inputs;
    } else {
      const std::vector<std::string>& ps = col.inputs.empty() ? paths : own[c].paths;
      colInputs = readInputs(ps, col.features.empty() ? features : own[c].features, spec.channelsLast, m.warnings);
      onFirstGrid(colInputs, m.warnings, key + ": ");
    }
    if (d && colInputs.size() < d->inputs.size()) {
      throw Error(ErrorKind::Usage, key + ": " + col.module + " needs " + std::to_string(d->inputs.size()) +
                                        " inputs; the " + (col.inputs.empty() ? "spec" : "column") + " has " +
                                        std::to_string(colInputs.size()));
    }
    RunRequest req;
    req.moduleId = col.module;
    req.params = col.params;
    req.weightsPath = resolvePath(col.weights.path, baseDir);
    req.weightsPrefix = col.weights.prefix;
    req.seed = col.seed.value_or(spec.seed);
    req.device = device;
    req.inputs = colInputs;
    if (d) req.inputs.resize(d->inputs.size());
    FigureColumn resolved = col;
    mapColumnPaths(resolved, [&](const std::string& p) { return resolvePath(p, baseDir); });
    const std::string title = columnTitle(registry, col);
    if (options.progress) options.progress(c, nCols, title);
    RunResult r = options.runner ? options.runner(req, resolved) : runFigureColumn(registry, req, resolved);
    if (!r.ok) {
      throw Error(r.errorKind, key + " (" + title + "): " + r.error, r.errorSubject, r.errorFix);
    }
    for (const auto& w : r.warnings) m.warnings.push_back(title + ": " + w);
    if (!col.capture.empty()) {
      // What the trace ran on, for input.N rows and attention query grids.
      colInputs = readCapture(resolved.capture).inputs;
    }
    m.columnInputs.push_back(d ? req.inputs : colInputs);
    m.runs.push_back(std::move(r));
  }
  if (options.progress) options.progress(nCols, nCols, "");
  m.inputs = std::move(inputs);
  return m;
}

FigureModel composeFigure(const ModuleRegistry& registry, const FigureData& data, const FigureSpec& view) {
  if (view.columns.size() != data.spec.columns.size()) {
    throw Error(ErrorKind::Internal, "composeFigure: the spec has " + std::to_string(view.columns.size()) +
                                         " columns, the prepared data " + std::to_string(data.spec.columns.size()));
  }
  FigureModel m;
  m.spec = view;
  m.spec.inputs = data.spec.inputs;  // with their SHA-256
  for (size_t c = 0; c < m.spec.columns.size(); ++c) {
    // The hashes prepareFigure() filled in.
    const FigureColumn& d = data.spec.columns[c];
    FigureColumn& v = m.spec.columns[c];
    v.weights = d.weights;
    v.sha256 = d.sha256;
    v.inputs = d.inputs;
    v.featuresSha256 = d.featuresSha256;
  }
  m.spec.featuresSha256 = data.spec.featuresSha256;
  m.baseDir = data.baseDir;
  m.underlay = data.underlay;
  m.runs = data.runs;
  m.warnings = data.warnings;
  const FigureSpec& spec = m.spec;
  const int nCols = static_cast<int>(spec.columns.size());
  for (int c = 0; c < nCols; ++c) m.columnTitles.push_back(columnTitle(registry, spec.columns[c]));
  m.columnInputs = data.columnInputs;

  const bool diff = spec.difference.has_value();
  m.rows = static_cast<int>(spec.rows.size());
  m.columns = nCols + (diff ? 1 : 0);
  if (diff) {
    m.columnTitles.push_back(m.columnTitles[spec.difference->first] + " - " +
                             m.columnTitles[spec.difference->second]);
  }
  m.panels.resize(static_cast<size_t>(m.rows * m.columns));
  const bool symmetric = spec.scale.norm.mode == render::NormMode::Symmetric;
  const render::Colormap mapCmap = symmetric ? spec.scale.diverging : spec.scale.colormap;

  for (int r = 0; r < m.rows; ++r) {
    const FigureRow& row = spec.rows[r];
    const std::string where = "rows[" + std::to_string(r) + "]";
    const View view = parseView(row.view, where);
    std::vector<double> los(nCols, kNaN), his(nCols, kNaN);
    for (int c = 0; c < nCols; ++c) {
      FigurePanel& p = m.panels[r * m.columns + c];
      p.row = r;
      p.column = c;
      p.colormap = mapCmap;
      std::string note;
      const std::vector<at::Tensor>& modIn = data.columnInputs.at(static_cast<size_t>(c));
      // "auto" on a script or capture column shows the point it names.
      const std::string& point = spec.columns[c].point;
      const auto src = findSource(m.runs[c], modIn, row.probe == "auto" && !point.empty() ? point : row.probe, &note);
      if (!src) {
        p.note = m.columnTitles[c] + ": " + note;
        continue;
      }
      reduce(*src, view, spec.batch, modIn, p, &los[c], &his[c],
             where + ", " + m.columnTitles[c]);
      if (p.values.defined()) p.values = p.values.to(at::kFloat).contiguous();
    }
    std::string label = row.label;
    if (label.empty()) {
      // The probes actually shown, each once ("weight / spatial1" for aff next to cafm).
      std::vector<std::string> seen;
      for (int c = 0; c < nCols; ++c) {
        const FigurePanel& p = m.panels[r * m.columns + c];
        if (p.probe.empty()) continue;
        std::string s = p.probe;
        if (!p.what.empty() && p.what != "map") s += " (" + p.what + ")";
        if (std::find(seen.begin(), seen.end(), s) == seen.end()) seen.push_back(s);
      }
      for (const auto& s : seen) label += (label.empty() ? "" : " / ") + s;
      if (label.empty()) label = row.probe;
    }
    m.rowLabels.push_back(label);

    // Ranges: one per row over every module panel of a kind (shared), else one per panel.
    auto commonNatural = [&](PanelKind kind, double* lo, double* hi) {
      bool first = true;
      *lo = *hi = kNaN;
      for (int c = 0; c < nCols; ++c) {
        const FigurePanel& p = m.panels[r * m.columns + c];
        if (p.kind != kind) continue;
        if (first) {
          *lo = los[c];
          *hi = his[c];
          first = false;
        } else if (!(los[c] == *lo && his[c] == *hi)) {
          *lo = *hi = kNaN;  // different natural ranges: no common one, fall back to data
        }
      }
    };
    for (PanelKind kind : {PanelKind::Map, PanelKind::Bars}) {
      std::vector<at::Tensor> values;
      for (int c = 0; c < nCols; ++c) {
        const FigurePanel& p = m.panels[r * m.columns + c];
        if (p.kind == kind) values.push_back(p.values);
      }
      if (values.empty()) continue;
      if (spec.scale.shared) {
        double lo, hi;
        commonNatural(kind, &lo, &hi);
        const render::Range range = render::computeSharedRange(values, spec.scale.norm, lo, hi);
        int bar = -1;
        if (kind == PanelKind::Map) {
          bar = static_cast<int>(m.colorbars.size());
          m.colorbars.push_back({range, mapCmap, range.description});
        }
        for (int c = 0; c < nCols; ++c) {
          FigurePanel& p = m.panels[r * m.columns + c];
          if (p.kind != kind) continue;
          p.range = range;
          p.colorbar = bar;
        }
      } else {
        for (int c = 0; c < nCols; ++c) {
          FigurePanel& p = m.panels[r * m.columns + c];
          if (p.kind != kind) continue;
          p.range = render::computeRange(p.values, spec.scale.norm, los[c], his[c]);
          if (kind == PanelKind::Map) {
            p.colorbar = static_cast<int>(m.colorbars.size());
            m.colorbars.push_back({p.range, mapCmap, p.range.description});
          }
        }
      }
    }
    if (diff) {
      FigurePanel& p = m.panels[r * m.columns + nCols];
      p.row = r;
      p.column = nCols;
      p.difference = true;
      p.colormap = spec.scale.diverging;
      const FigurePanel& a = m.panels[r * m.columns + spec.difference->first];
      const FigurePanel& b = m.panels[r * m.columns + spec.difference->second];
      if (a.kind != PanelKind::Map || b.kind != PanelKind::Map) {
        p.note = "difference: both panels must be maps";
      } else if (!a.values.sizes().equals(b.values.sizes())) {
        p.note = "difference: the maps' sizes differ";
      } else {
        p.kind = PanelKind::Map;
        p.spatial = a.spatial && b.spatial;
        p.values = (a.values - b.values).contiguous();
        p.probe = a.probe;
        p.what = "A - B";
        render::NormSpec sym;
        sym.mode = render::NormMode::Symmetric;
        p.range = render::computeRange(p.values, sym, kNaN, kNaN);
        p.range.description = "A - B " + p.range.description;
        p.colorbar = static_cast<int>(m.colorbars.size());
        m.colorbars.push_back({p.range, p.colormap, p.range.description});
      }
    }
  }
  // Letters in reading order, skipping empty panels.
  int letter = 0;
  for (auto& p : m.panels) {
    if (p.kind == PanelKind::Empty) continue;
    std::string s;
    for (int n = letter++; ; n = n / 26 - 1) {
      s.insert(s.begin(), static_cast<char>('a' + n % 26));
      if (n < 26) break;
    }
    p.letter = s;
  }

  // Statistics beside the figure, long format: statistic, row, module_a, module_b, value.
  analysis::StatisticsTable& t = m.statistics;
  t.columns = {"statistic", "row", "module_a", "module_b", "value"};
  std::vector<at::Tensor> scores(nCols);
  for (int c = 0; c < nCols; ++c) {
    std::string source;
    const std::string& point = spec.columns[c].point;
    if (point.empty()) {
      scores[c] = channelScores(m.runs[c], spec.batch, &source);
    } else {
      // A network's column stands for its point: the channel scores are that point's, never
      // those of another depth of the network.
      RunResult only;
      if (const ProbeResult* p = m.runs[c].findProbe(point)) only.probes.push_back(*p);
      scores[c] = channelScores(only, spec.batch, &source);
    }
    if (!scores[c].defined()) continue;
    if (nonNegative(scores[c])) {
      addStat(t, "channel_entropy", source, m.columnTitles[c], "", analysis::normalizedEntropy(scores[c]));
    }
    addStat(t, "channel_gini", source, m.columnTitles[c], "", analysis::giniSparsity(scores[c]));
  }
  for (int r = 0; r < m.rows; ++r) {
    for (int c = 0; c < nCols; ++c) {
      const FigurePanel& p = m.panel(r, c);
      if (p.kind != PanelKind::Map || !p.spatial) continue;
      if (nonNegative(p.values) && p.values.sum().item<double>() > 0) {
        addStat(t, "map_entropy", m.rowLabels[r], m.columnTitles[c], "", analysis::normalizedEntropy(p.values));
      }
      addStat(t, "map_gini", m.rowLabels[r], m.columnTitles[c], "", analysis::giniSparsity(p.values));
    }
  }
  for (int a = 0; a < nCols; ++a) {
    for (int b = a + 1; b < nCols; ++b) {
      if (scores[a].defined() && scores[b].defined() && scores[a].numel() == scores[b].numel()) {
        addStat(t, "channel_spearman", "", m.columnTitles[a], m.columnTitles[b],
                analysis::spearman(scores[a], scores[b]));
      }
      for (int r = 0; r < m.rows; ++r) {
        const FigurePanel& pa = m.panel(r, a);
        const FigurePanel& pb = m.panel(r, b);
        if (pa.kind == PanelKind::Map && pb.kind == PanelKind::Map && pa.spatial && pb.spatial &&
            pa.values.sizes().equals(pb.values.sizes())) {
          char stat[64];
          std::snprintf(stat, sizeof stat, "map_iou_top%g%%", spec.statsTopPercent);
          addStat(t, stat, m.rowLabels[r], m.columnTitles[a], m.columnTitles[b],
                  analysis::topKIoU(pa.values, pb.values, spec.statsTopPercent));
        }
      }
    }
  }
  return m;
}

FigureModel buildFigure(const ModuleRegistry& registry, const FigureSpec& spec,
                        const std::string& baseDir, const BuildOptions& options) {
  return composeFigure(registry, prepareFigure(registry, spec, baseDir, options), spec);
}

cv::Mat composePanel(const FigureModel& model, const FigurePanel& panel, cv::Size size) {
  if (panel.kind != PanelKind::Map) throw Error(ErrorKind::Internal, "composePanel: not a map panel");
  const cv::Mat heat = render::applyColormap(render::normalise(panel.values, panel.range), panel.colormap);
  if (panel.spatial && !model.underlay.empty() && !panel.difference) {
    cv::Mat base;
    const bool shrink = size.width < model.underlay.cols;
    cv::resize(model.underlay, base, size, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    return render::overlay(base, heat, model.spec.alpha, model.spec.interpolation);
  }
  return render::resizeMap(heat, size, model.spec.interpolation);
}

std::string statisticsCsv(const FigureModel& model) { return analysis::toCsv(model.statistics); }

}  // namespace fl::figure
