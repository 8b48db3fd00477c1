#include "core/figure/figure_spec.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/common/error.h"
#include "core/common/file_io.h"
#include "core/common/json_fields.h"

namespace fl::figure {
namespace {

using json::Json;
using json::bad;
using json::boolean;
using json::integer;
using json::num;
using json::onlyKeys;
using json::paramText;
using json::str;
namespace fs = std::filesystem;

render::Colormap colormapOf(const Json& j, const std::string& where, const std::string& key) {
  try {
    return render::parseColormap(str(j, where, key));
  } catch (const Error& e) {
    bad(where, key, e.what());
  }
}

/// A SHA-256 field: 64 lowercase hex digits (a truncated or upper-case copy would never match).
std::string sha256Field(const Json& j, const std::string& where, const std::string& key) {
  const std::string h = str(j, where, key);
  if (!isSha256Text(h)) bad(where, key, "must be a SHA-256: 64 lowercase hex digits");
  return h;
}

/// `inputs`: a list of paths or {"path", "sha256"}; `allowEmpty` for layouts.
std::vector<FigureInput> inputList(const Json& list, const std::string& where, const std::string& key) {
  std::vector<FigureInput> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& in = list[i];
    const std::string k = key + "[" + std::to_string(i) + "]";
    FigureInput fi;
    if (in.is_string()) {
      fi.path = in.get<std::string>();
    } else if (in.is_object()) {
      onlyKeys(in, {"path", "sha256"}, where, k + ".");
      if (!in.contains("path")) bad(where, k + ".path", "is missing");
      fi.path = str(in["path"], where, k + ".path");
      if (in.contains("sha256")) fi.sha256 = str(in["sha256"], where, k + ".sha256");
    } else {
      bad(where, k, "must be a path or {\"path\": ..., \"sha256\": ...}");
    }
    if (fi.path.empty()) bad(where, k, "has an empty path");
    out.push_back(fi);
  }
  return out;
}

/// `features`: a feature spec or {"spec", "sha256"}, or a list of them.
void featureList(const Json& f, const std::string& where, const std::string& key,
                 std::vector<std::string>& specs, std::vector<std::string>& hashes) {
  const auto one = [&](const Json& e, const std::string& k) {
    if (e.is_string()) {
      specs.push_back(e.get<std::string>());
      hashes.emplace_back();
    } else if (e.is_object()) {
      onlyKeys(e, {"spec", "sha256"}, where, k + ".");
      if (!e.contains("spec")) bad(where, k + ".spec", "is missing");
      specs.push_back(str(e["spec"], where, k + ".spec"));
      hashes.push_back(e.contains("sha256") ? sha256Field(e["sha256"], where, k + ".sha256") : std::string());
    } else {
      bad(where, k, "must be a feature spec or {\"spec\": ..., \"sha256\": ...}");
    }
    if (specs.back().empty()) bad(where, k, "is empty");
  };
  if (f.is_array()) {
    for (size_t i = 0; i < f.size(); ++i) one(f[i], key + "[" + std::to_string(i) + "]");
  } else if (f.is_string() || f.is_object()) {
    one(f, key);
  } else {
    bad(where, key, "must be a feature spec or a list of them");
  }
}

Json featuresJson(const std::vector<std::string>& specs, const std::vector<std::string>& hashes) {
  Json out = Json::array();
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string h = i < hashes.size() ? hashes[i] : std::string();
    out.push_back(h.empty() ? Json(specs[i]) : Json{{"spec", specs[i]}, {"sha256", h}});
  }
  return out;
}

Json inputsJson(const std::vector<FigureInput>& inputs) {
  Json out = Json::array();
  for (const auto& in : inputs) {
    Json j{{"path", in.path}};
    if (!in.sha256.empty()) j["sha256"] = in.sha256;
    out.push_back(j);
  }
  return out;
}

}  // namespace

bool isSha256Text(const std::string& text) {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

FigureSpec parseFigureSpec(const std::string& jsonText, const std::string& where, bool layoutOnly) {
  Json root = json::parseObject(jsonText, where, "figure spec");
  onlyKeys(root,
           {"schema_version", "inputs", "features", "channels_last", "seed", "device", "batch",
            "columns", "rows", "difference", "scale", "interpolation", "alpha", "underlay",
            "layout", "stats_top_percent", "output", "comment"},
           where, "");
  FigureSpec spec;
  spec.schemaVersion = json::schemaVersion(root, where, kFigureSchemaVersion, "figure spec");
  // A layout (layoutOnly) may leave the inputs and columns empty; a figure needs both.
  const auto requireList = [&](const char* key, const std::string& of) {
    if (!root.contains(key) || !root[key].is_array() || (root[key].empty() && !layoutOnly)) {
      bad(where, key, layoutOnly ? "must be a list of " + of + " (may be empty)" : "must be a non-empty list of " + of);
    }
  };
  requireList("inputs", "files");
  spec.inputs = inputList(root["inputs"], where, "inputs");
  if (root.contains("features")) featureList(root["features"], where, "features", spec.features, spec.featuresSha256);
  if (root.contains("channels_last")) spec.channelsLast = boolean(root["channels_last"], where, "channels_last");
  if (root.contains("seed")) spec.seed = static_cast<uint64_t>(integer(root["seed"], where, "seed", 0, INT64_MAX));
  if (root.contains("device")) spec.device = str(root["device"], where, "device");
  if (root.contains("batch")) spec.batch = integer(root["batch"], where, "batch", 0, 1 << 20);

  requireList("columns", "columns");
  for (size_t i = 0; i < root["columns"].size(); ++i) {
    const Json& c = root["columns"][i];
    const std::string key = "columns[" + std::to_string(i) + "]";
    FigureColumn col;
    if (c.is_string()) {
      col.module = c.get<std::string>();
      if (col.module.empty()) bad(where, key + ".module", "is empty");
    } else if (c.is_object()) {
      onlyKeys(c, {"label", "module", "params", "weights", "seed", "script", "capture", "sha256", "point",
                   "inputs", "features"},
               where, key + ".");
      // Exactly one source: a built-in module, a TorchScript file or a capture.
      int sources = 0;
      for (const char* k : {"module", "script", "capture"}) {
        if (c.contains(k)) {
          ++sources;
          const std::string v = str(c[k], where, key + "." + k);
          if (v.empty()) bad(where, key + "." + k, "is empty");
          (std::string(k) == "module" ? col.module : std::string(k) == "script" ? col.script : col.capture) = v;
        }
      }
      if (sources != 1) {
        bad(where, key, sources == 0 ? "needs one of \"module\", \"script\" or \"capture\""
                                     : "names more than one of \"module\", \"script\" and \"capture\"");
      }
      const bool isModule = !col.module.empty();
      const std::string source = isModule ? "a module column" : col.script.empty() ? "a capture column" : "a script column";
      // Keys that only one kind of column honours are refused on the others, so a spec never
      // looks as if it set something it did not.
      const std::vector<std::string> others =
          isModule ? std::vector<std::string>{"sha256", "point"} : std::vector<std::string>{"params", "weights", "seed"};
      for (const std::string& k : others) {
        if (c.contains(k)) {
          bad(where, key + "." + k, "does not apply to " + source +
                                        (isModule ? " (it is for \"script\" and \"capture\")" : " (it is for \"module\")"));
        }
      }
      if (!col.capture.empty()) {
        for (const char* k : {"inputs", "features"}) {
          if (c.contains(k)) bad(where, key + "." + k, "does not apply to a capture column: it runs on the inputs it holds");
        }
      }
      if (c.contains("sha256")) col.sha256 = sha256Field(c["sha256"], where, key + ".sha256");
      if (c.contains("point")) {
        col.point = str(c["point"], where, key + ".point");
        if (col.point.empty()) bad(where, key + ".point", "is empty");
      }
      if (c.contains("inputs")) {
        if (!c["inputs"].is_array() || c["inputs"].empty()) bad(where, key + ".inputs", "must be a non-empty list of files");
        col.inputs = inputList(c["inputs"], where, key + ".inputs");
      }
      if (c.contains("features")) featureList(c["features"], where, key + ".features", col.features, col.featuresSha256);
      if (c.contains("seed")) col.seed = static_cast<uint64_t>(integer(c["seed"], where, key + ".seed", 0, INT64_MAX));
      if (c.contains("label")) col.label = str(c["label"], where, key + ".label");
      if (c.contains("params")) {
        if (!c["params"].is_object()) bad(where, key + ".params", "must be an object");
        for (auto it = c["params"].begin(); it != c["params"].end(); ++it) {
          col.params[it.key()] = paramText(it.value(), where, key + ".params." + it.key());
        }
      }
      if (c.contains("weights")) {
        const Json& w = c["weights"];
        if (w.is_string()) {
          col.weights.path = w.get<std::string>();
        } else if (w.is_object()) {
          onlyKeys(w, {"path", "sha256", "prefix"}, where, key + ".weights.");
          if (w.contains("path")) col.weights.path = str(w["path"], where, key + ".weights.path");
          if (w.contains("sha256")) col.weights.sha256 = str(w["sha256"], where, key + ".weights.sha256");
          if (w.contains("prefix") && !w["prefix"].is_null()) {
            col.weights.prefix = str(w["prefix"], where, key + ".weights.prefix");
          }
        } else if (!w.is_null()) {
          bad(where, key + ".weights", "must be a path or {\"path\", \"sha256\", \"prefix\"}");
        }
      }
    } else {
      bad(where, key, "must be a module id or an object with \"module\", \"script\" or \"capture\"");
    }
    spec.columns.push_back(col);
  }

  if (root.contains("rows")) {
    const Json& rows = root["rows"];
    if (!rows.is_array() || rows.empty()) bad(where, "rows", "must be a non-empty list");
    spec.rows.clear();
    for (size_t i = 0; i < rows.size(); ++i) {
      const std::string key = "rows[" + std::to_string(i) + "]";
      FigureRow row;
      if (rows[i].is_string()) {
        row.probe = rows[i].get<std::string>();
      } else if (rows[i].is_object()) {
        onlyKeys(rows[i], {"probe", "view", "label"}, where, key + ".");
        if (rows[i].contains("probe")) row.probe = str(rows[i]["probe"], where, key + ".probe");
        if (rows[i].contains("view")) row.view = str(rows[i]["view"], where, key + ".view");
        if (rows[i].contains("label")) row.label = str(rows[i]["label"], where, key + ".label");
      } else {
        bad(where, key, "must be a probe name or {\"probe\", \"view\", \"label\"}");
      }
      spec.rows.push_back(row);
    }
  }
  if (root.contains("difference") && !root["difference"].is_null()) {
    const Json& d = root["difference"];
    if (!d.is_array() || d.size() != 2) bad(where, "difference", "must be [A, B]: two column indices");
    const int n = static_cast<int>(spec.columns.size());
    const int a = static_cast<int>(integer(d[0], where, "difference[0]", 0, n - 1));
    const int b = static_cast<int>(integer(d[1], where, "difference[1]", 0, n - 1));
    if (a == b) bad(where, "difference", "needs two different columns");
    spec.difference = std::make_pair(a, b);
  }
  if (root.contains("scale")) {
    const Json& s = root["scale"];
    if (!s.is_object()) bad(where, "scale", "must be an object");
    onlyKeys(s, {"normalisation", "shared", "lo", "hi", "p_lo", "p_hi", "colormap", "diverging"},
             where, "scale.");
    if (s.contains("normalisation")) {
      try {
        spec.scale.norm.mode = render::parseNormMode(str(s["normalisation"], where, "scale.normalisation"));
      } catch (const Error& e) {
        bad(where, "scale.normalisation", e.what());
      }
    }
    if (s.contains("shared")) spec.scale.shared = boolean(s["shared"], where, "scale.shared");
    if (s.contains("lo")) spec.scale.norm.lo = num(s["lo"], where, "scale.lo", -1e30, 1e30);
    if (s.contains("hi")) spec.scale.norm.hi = num(s["hi"], where, "scale.hi", -1e30, 1e30);
    if (s.contains("p_lo")) spec.scale.norm.pLo = num(s["p_lo"], where, "scale.p_lo", 0, 100);
    if (s.contains("p_hi")) spec.scale.norm.pHi = num(s["p_hi"], where, "scale.p_hi", 0, 100);
    if (s.contains("colormap")) spec.scale.colormap = colormapOf(s["colormap"], where, "scale.colormap");
    if (s.contains("diverging")) spec.scale.diverging = colormapOf(s["diverging"], where, "scale.diverging");
    if (spec.scale.norm.mode == render::NormMode::Fixed && !(spec.scale.norm.lo < spec.scale.norm.hi)) {
      bad(where, "scale", "fixed normalisation needs lo < hi");
    }
    if (spec.scale.norm.mode == render::NormMode::Percentile && !(spec.scale.norm.pLo < spec.scale.norm.pHi)) {
      bad(where, "scale", "percentile normalisation needs p_lo < p_hi");
    }
  }
  if (root.contains("interpolation")) {
    const std::string i = str(root["interpolation"], where, "interpolation");
    if (i == "nearest") {
      spec.interpolation = render::Interpolation::Nearest;
    } else if (i == "bilinear") {
      spec.interpolation = render::Interpolation::Bilinear;
    } else {
      bad(where, "interpolation", "must be \"nearest\" or \"bilinear\", got \"" + i + "\"");
    }
  }
  if (root.contains("alpha")) spec.alpha = num(root["alpha"], where, "alpha", 0, 1);
  if (root.contains("underlay")) {
    // A layout has no inputs yet: its underlay is checked once inputs are known.
    const int64_t hi = layoutOnly ? 1 << 10 : static_cast<int64_t>(spec.inputs.size()) - 1;
    spec.underlay = static_cast<int>(integer(root["underlay"], where, "underlay", -1, hi));
  }
  if (root.contains("layout")) {
    const Json& l = root["layout"];
    if (!l.is_object()) bad(where, "layout", "must be an object");
    onlyKeys(l, {"width", "width_in", "dpi", "raster_dpi", "font_family", "font_size_pt",
                 "panel_letters", "titles"},
             where, "layout.");
    if (l.contains("width")) {
      const std::string w = str(l["width"], where, "layout.width");
      if (w == "single") {
        spec.layout.widthIn = 3.5;
      } else if (w == "double") {
        spec.layout.widthIn = 7.16;
      } else {
        bad(where, "layout.width", "must be \"single\" (3.5 in) or \"double\" (7.16 in); use width_in for others");
      }
    }
    if (l.contains("width_in")) spec.layout.widthIn = num(l["width_in"], where, "layout.width_in", 1, 40);
    if (l.contains("dpi")) spec.layout.dpi = num(l["dpi"], where, "layout.dpi", 72, 1200);
    if (l.contains("raster_dpi")) spec.layout.rasterDpi = num(l["raster_dpi"], where, "layout.raster_dpi", 300, 1200);
    if (l.contains("font_family")) spec.layout.fontFamily = str(l["font_family"], where, "layout.font_family");
    if (l.contains("font_size_pt")) spec.layout.fontSizePt = num(l["font_size_pt"], where, "layout.font_size_pt", 4, 24);
    if (l.contains("panel_letters")) spec.layout.panelLetters = boolean(l["panel_letters"], where, "layout.panel_letters");
    if (l.contains("titles")) spec.layout.titles = boolean(l["titles"], where, "layout.titles");
  }
  if (root.contains("stats_top_percent")) {
    spec.statsTopPercent = num(root["stats_top_percent"], where, "stats_top_percent", 0.001, 100);
  }
  if (root.contains("output")) spec.output = str(root["output"], where, "output");
  return spec;
}

FigureSpec readFigureSpec(const std::string& path) {
  // Regular files only, at most json::kMaxFileBytes: a FIFO or /dev/zero named as a spec
  // must not hang, and a huge one must not cost gigabytes.
  const InputFile in(path);
  return parseFigureSpec(in.readAllText(json::kMaxFileBytes, "a figure spec"), path);
}

std::string figureSpecJson(const FigureSpec& spec) {
  Json root;
  root["schema_version"] = spec.schemaVersion;
  root["inputs"] = inputsJson(spec.inputs);
  root["features"] = featuresJson(spec.features, spec.featuresSha256);
  root["channels_last"] = spec.channelsLast;
  root["seed"] = spec.seed;
  root["device"] = spec.device;
  root["batch"] = spec.batch;
  root["columns"] = Json::array();
  for (const auto& c : spec.columns) {
    Json j{{"label", c.label}};
    if (!c.module.empty()) {
      j["module"] = c.module;
      j["params"] = Json::object();
      for (const auto& [k, v] : c.params) j["params"][k] = v;
      Json w{{"path", c.weights.path}};
      if (!c.weights.sha256.empty()) w["sha256"] = c.weights.sha256;
      w["prefix"] = c.weights.prefix ? Json(*c.weights.prefix) : Json(nullptr);
      j["weights"] = w;
      if (c.seed) j["seed"] = *c.seed;
    } else {
      j[c.script.empty() ? "capture" : "script"] = c.script.empty() ? c.capture : c.script;
      if (!c.sha256.empty()) j["sha256"] = c.sha256;
      if (!c.point.empty()) j["point"] = c.point;
    }
    if (!c.inputs.empty()) j["inputs"] = inputsJson(c.inputs);
    if (!c.features.empty()) j["features"] = featuresJson(c.features, c.featuresSha256);
    root["columns"].push_back(j);
  }
  root["rows"] = Json::array();
  for (const auto& r : spec.rows) root["rows"].push_back({{"probe", r.probe}, {"view", r.view}, {"label", r.label}});
  root["difference"] = spec.difference ? Json::array({spec.difference->first, spec.difference->second})
                                       : Json(nullptr);
  root["scale"] = {{"normalisation", render::normModeName(spec.scale.norm.mode)},
                   {"shared", spec.scale.shared},
                   {"lo", spec.scale.norm.lo},
                   {"hi", spec.scale.norm.hi},
                   {"p_lo", spec.scale.norm.pLo},
                   {"p_hi", spec.scale.norm.pHi},
                   {"colormap", render::colormapName(spec.scale.colormap)},
                   {"diverging", render::colormapName(spec.scale.diverging)}};
  root["interpolation"] = spec.interpolation == render::Interpolation::Nearest ? "nearest" : "bilinear";
  root["alpha"] = spec.alpha;
  root["underlay"] = spec.underlay;
  root["layout"] = {{"width_in", spec.layout.widthIn},
                    {"dpi", spec.layout.dpi},
                    {"raster_dpi", spec.layout.rasterDpi},
                    {"font_family", spec.layout.fontFamily},
                    {"font_size_pt", spec.layout.fontSizePt},
                    {"panel_letters", spec.layout.panelLetters},
                    {"titles", spec.layout.titles}};
  root["stats_top_percent"] = spec.statsTopPercent;
  root["output"] = spec.output;
  return root.dump(2) + "\n";
}

std::string resolvePath(const std::string& path, const std::string& baseDir) {
  if (path.empty()) return path;
  const fs::path p(path);
  if (p.is_absolute() || baseDir.empty()) return p.lexically_normal().string();
  return (fs::path(baseDir) / p).lexically_normal().string();
}

std::string relativePath(const std::string& path, const std::string& baseDir) {
  if (path.empty()) return path;
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec).lexically_normal();
  const fs::path base = fs::absolute(baseDir.empty() ? "." : baseDir, ec).lexically_normal();
  if (abs.root_path() != base.root_path()) return abs.string();
  const fs::path rel = abs.lexically_relative(base);
  return rel.empty() ? abs.string() : rel.string();
}

}  // namespace fl::figure
