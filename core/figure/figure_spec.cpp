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

}  // namespace

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
  for (size_t i = 0; i < root["inputs"].size(); ++i) {
    const Json& in = root["inputs"][i];
    const std::string key = "inputs[" + std::to_string(i) + "]";
    FigureInput fi;
    if (in.is_string()) {
      fi.path = in.get<std::string>();
    } else if (in.is_object()) {
      onlyKeys(in, {"path", "sha256"}, where, key + ".");
      if (!in.contains("path")) bad(where, key + ".path", "is missing");
      fi.path = str(in["path"], where, key + ".path");
      if (in.contains("sha256")) fi.sha256 = str(in["sha256"], where, key + ".sha256");
    } else {
      bad(where, key, "must be a path or {\"path\": ..., \"sha256\": ...}");
    }
    if (fi.path.empty()) bad(where, key, "has an empty path");
    spec.inputs.push_back(fi);
  }
  if (root.contains("features")) {
    const Json& f = root["features"];
    if (f.is_string()) {
      spec.features.push_back(f.get<std::string>());
    } else if (f.is_array()) {
      for (size_t i = 0; i < f.size(); ++i) {
        spec.features.push_back(str(f[i], where, "features[" + std::to_string(i) + "]"));
      }
    } else {
      bad(where, "features", "must be a feature spec or a list of them");
    }
  }
  if (root.contains("channels_last")) spec.channelsLast = boolean(root["channels_last"], where, "channels_last");
  if (root.contains("seed")) spec.seed = static_cast<uint64_t>(integer(root["seed"], where, "seed", 0, INT64_MAX));
  if (root.contains("device")) spec.device = str(root["device"], where, "device");
  if (root.contains("batch")) spec.batch = integer(root["batch"], where, "batch", 0, 1 << 20);

  requireList("columns", "modules");
  for (size_t i = 0; i < root["columns"].size(); ++i) {
    const Json& c = root["columns"][i];
    const std::string key = "columns[" + std::to_string(i) + "]";
    FigureColumn col;
    if (c.is_string()) {
      col.module = c.get<std::string>();
    } else if (c.is_object()) {
      onlyKeys(c, {"label", "module", "params", "weights", "seed"}, where, key + ".");
      if (c.contains("seed")) col.seed = static_cast<uint64_t>(integer(c["seed"], where, key + ".seed", 0, INT64_MAX));
      if (!c.contains("module")) bad(where, key + ".module", "is missing");
      col.module = str(c["module"], where, key + ".module");
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
      bad(where, key, "must be a module id or an object with \"module\"");
    }
    if (col.module.empty()) bad(where, key + ".module", "is empty");
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
  root["inputs"] = Json::array();
  for (const auto& in : spec.inputs) {
    Json j{{"path", in.path}};
    if (!in.sha256.empty()) j["sha256"] = in.sha256;
    root["inputs"].push_back(j);
  }
  root["features"] = spec.features;
  root["channels_last"] = spec.channelsLast;
  root["seed"] = spec.seed;
  root["device"] = spec.device;
  root["batch"] = spec.batch;
  root["columns"] = Json::array();
  for (const auto& c : spec.columns) {
    Json j{{"label", c.label}, {"module", c.module}};
    j["params"] = Json::object();
    for (const auto& [k, v] : c.params) j["params"][k] = v;
    Json w{{"path", c.weights.path}};
    if (!c.weights.sha256.empty()) w["sha256"] = c.weights.sha256;
    w["prefix"] = c.weights.prefix ? Json(*c.weights.prefix) : Json(nullptr);
    j["weights"] = w;
    if (c.seed) j["seed"] = *c.seed;
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
