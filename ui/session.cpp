#include "ui/session.h"

#include <QCoreApplication>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>
#include <QSaveFile>
#include <functional>

#include "core/common/error.h"
#include "core/common/file_io.h"
#include "core/common/json_fields.h"
#include "core/features/preprocess.h"
#include "core/io/tensor_file.h"
#include "core/figure/figure_model.h"
#include "ui/document.h"

namespace fl::ui {
namespace {

using json::Json;

const char* deviceName(DeviceChoice d) {
  switch (d) {
    case DeviceChoice::Cpu: return "cpu";
    case DeviceChoice::Cuda: return "cuda";
    case DeviceChoice::Auto: break;
  }
  return "auto";
}

std::string folderOf(const QString& sessionPath) {
  return QFileInfo(sessionPath).absolutePath().toStdString();
}

/// An input path may end in ":NAME" (one tensor of a file): split as readInputTensor() does,
/// the file's existence judged relative to the session's folder.
TensorSpecParts splitInputPath(const std::string& path, const std::string& base) {
  return splitTensorSpec(path, [&](const std::string& p) {
    return QFileInfo::exists(QString::fromStdString(figure::resolvePath(p, base)));
  });
}

std::string relative(const QString& path, const std::string& base) {
  const auto [file, name] = splitInputPath(path.toStdString(), base);
  return figure::relativePath(file, base) + name;
}

QString resolved(const std::string& path, const std::string& base) {
  const auto [file, name] = splitInputPath(path, base);
  return QString::fromStdString(figure::resolvePath(file, base) + name);
}

/// A torchscript feature source names a model file: it moves with the session like the inputs.
const QRegularExpression& modelPathInFeatures() {
  static const QRegularExpression re(QStringLiteral("^(torchscript:(?:.*,)?path=)([^,]+)"));
  return re;
}

QString featuresWithPath(const QString& features, const std::function<QString(const QString&)>& map) {
  const QRegularExpressionMatch m = modelPathInFeatures().match(features);
  if (!m.hasMatch()) return features;
  QString out = features;
  out.replace(m.capturedStart(2), m.capturedLength(2), map(m.captured(2)));
  return out;
}

Json viewJson(const ViewSettings& v) {
  Json j;
  j["tensor"] = v.tensor.toStdString();
  j["colormap"] = v.colormap.toStdString();
  j["normalisation"] = v.normalisation.toStdString();
  j["percentiles"] = Json::array({v.percentileLo, v.percentileHi});
  j["alpha"] = v.alpha;
  j["batch"] = v.batch;
  j["channel"] = v.channel;
  j["head"] = v.head;
  j["query"] = Json::array({v.queryX, v.queryY});
  j["complement"] = v.complement;
  j["pca"] = v.pca;
  j["sort_bars"] = v.sortBars;
  j["top_k"] = v.topK;
  return j;
}

ViewSettings parseView(const Json& j, const std::string& where) {
  if (!j.is_object()) json::bad(where, "view", "must be an object");
  json::onlyKeys(j, {"tensor", "colormap", "normalisation", "percentiles", "alpha", "batch", "channel", "head",
                     "query", "complement", "pca", "sort_bars", "top_k"},
                 where, "view.");
  ViewSettings v;
  const auto qstr = [&](const char* key) { return QString::fromStdString(json::str(j[key], where, std::string("view.") + key)); };
  const auto i32 = [&](const Json& e, const std::string& key, int lo) {
    return static_cast<int>(json::integer(e, where, "view." + key, lo, 1 << 30));
  };
  if (j.contains("tensor")) v.tensor = qstr("tensor");
  if (j.contains("colormap")) v.colormap = qstr("colormap");
  if (j.contains("normalisation")) v.normalisation = qstr("normalisation");
  if (j.contains("percentiles")) {
    const Json& p = j["percentiles"];
    if (!p.is_array() || p.size() != 2) json::bad(where, "view.percentiles", "must be [LO, HI]");
    v.percentileLo = json::num(p[0], where, "view.percentiles[0]", 0, 100);
    v.percentileHi = json::num(p[1], where, "view.percentiles[1]", 0, 100);
  }
  if (j.contains("alpha")) v.alpha = json::num(j["alpha"], where, "view.alpha", 0, 1);
  if (j.contains("batch")) v.batch = i32(j["batch"], "batch", 0);
  if (j.contains("channel")) v.channel = i32(j["channel"], "channel", -1);
  if (j.contains("head")) v.head = i32(j["head"], "head", -1);
  if (j.contains("query")) {
    const Json& q = j["query"];
    if (!q.is_array() || q.size() != 2) json::bad(where, "view.query", "must be [X, Y]");
    v.queryX = i32(q[0], "query[0]", -1);
    v.queryY = i32(q[1], "query[1]", -1);
  }
  if (j.contains("complement")) v.complement = json::boolean(j["complement"], where, "view.complement");
  if (j.contains("pca")) v.pca = json::boolean(j["pca"], where, "view.pca");
  if (j.contains("sort_bars")) v.sortBars = json::boolean(j["sort_bars"], where, "view.sort_bars");
  if (j.contains("top_k")) v.topK = i32(j["top_k"], "top_k", 0);
  return v;
}

}  // namespace

std::string sessionJson(const SessionState& s, const QString& sessionPath) {
  const std::string base = folderOf(sessionPath);
  Json root;
  root["schema_version"] = s.schemaVersion;
  root["app"] = "FusionLens " + QCoreApplication::applicationVersion().toStdString();
  root["inputs"] = Json::array();
  for (const auto& in : s.inputs) {
    Json j;
    j["path"] = relative(in.path, base);
    if (!in.features.isEmpty()) {
      j["features"] = featuresWithPath(in.features, [&](const QString& p) {
                        return QString::fromStdString(figure::relativePath(p.toStdString(), base));
                      }).toStdString();
    }
    root["inputs"].push_back(j);
  }
  root["assignment"] = s.assignment;
  root["module"] = s.module.toStdString();
  Json params = Json::object();
  for (const auto& [k, v] : s.params) params[k] = v;
  root["params"] = params;
  root["weights"] = s.weights.isEmpty() ? Json(nullptr) : Json(relative(s.weights, base));
  root["device"] = deviceName(s.device);
  root["memory_budget"] = s.memoryBudget;
  root["view"] = viewJson(s.view);
  Json compare;
  compare["visible"] = s.compareVisible;
  if (s.compare) {
    figure::FigureSpec layout = *s.compare;
    layout.inputs.clear();  // the comparison follows the session's inputs
    layout.features.clear();
    for (auto& c : layout.columns) {
      figure::mapColumnPaths(c, [&](const std::string& p) { return relative(QString::fromStdString(p), base); });
    }
    compare["layout"] = Json::parse(figure::figureSpecJson(layout));
  } else {
    compare["layout"] = nullptr;
  }
  root["compare"] = compare;
  if (s.script) {
    Json j;
    j["path"] = relative(s.script->path, base);
    j["sha256"] = s.script->sha256.toStdString();
    j["preprocess"] = s.script->preprocess;
    j["image_input"] = s.script->imageInput;
    j["module_outputs"] = s.script->moduleOutputs;
    root["script"] = j;
  }
  return root.dump(2) + "\n";
}

SessionState parseSession(const std::string& text, const QString& sessionPath) {
  const std::string where = sessionPath.toStdString();
  const std::string base = folderOf(sessionPath);
  const Json root = json::parseObject(text, where, "FusionLens session");
  json::onlyKeys(root,
                 {"schema_version", "app", "comment", "inputs", "assignment", "module", "params", "weights",
                  "device", "memory_budget", "view", "compare", "script"},
                 where, "");
  SessionState s;
  s.schemaVersion = json::schemaVersion(root, where, kSessionSchemaVersion, "FusionLens session");
  if (root.contains("inputs")) {
    if (!root["inputs"].is_array()) json::bad(where, "inputs", "must be a list");
    for (size_t i = 0; i < root["inputs"].size(); ++i) {
      const Json& in = root["inputs"][i];
      const std::string key = "inputs[" + std::to_string(i) + "]";
      if (!in.is_object()) json::bad(where, key, "must be an object with a path");
      json::onlyKeys(in, {"path", "features"}, where, key + ".");
      if (!in.contains("path")) json::bad(where, key + ".path", "is missing");
      const std::string path = json::str(in["path"], where, key + ".path");
      if (path.empty()) json::bad(where, key + ".path", "is empty");
      SessionInput si{resolved(path, base), {}};
      if (in.contains("features")) {
        si.features = featuresWithPath(QString::fromStdString(json::str(in["features"], where, key + ".features")),
                                       [&](const QString& p) { return QString::fromStdString(figure::resolvePath(p.toStdString(), base)); });
      }
      s.inputs.push_back(si);
    }
  }
  if (root.contains("assignment")) {
    if (!root["assignment"].is_array()) json::bad(where, "assignment", "must be a list of input indices");
    const int64_t n = static_cast<int64_t>(s.inputs.size());
    for (size_t i = 0; i < root["assignment"].size(); ++i) {
      s.assignment.push_back(static_cast<int>(
          json::integer(root["assignment"][i], where, "assignment[" + std::to_string(i) + "]", -1, n - 1)));
    }
  }
  if (root.contains("module")) s.module = QString::fromStdString(json::str(root["module"], where, "module"));
  if (root.contains("params")) {
    const Json& p = root["params"];
    if (!p.is_object()) json::bad(where, "params", "must be an object of NAME: VALUE");
    for (auto it = p.begin(); it != p.end(); ++it) {
      s.params[it.key()] = json::paramText(it.value(), where, "params." + it.key());
    }
  }
  if (root.contains("weights") && !root["weights"].is_null()) {
    const std::string w = json::str(root["weights"], where, "weights");
    if (!w.empty()) s.weights = resolved(w, base);
  }
  if (root.contains("device")) {
    const std::string d = json::str(root["device"], where, "device");
    try {
      s.device = parseDevice(d);
    } catch (const Error& e) {
      json::bad(where, "device", e.what());
    }
  }
  if (root.contains("memory_budget")) {
    s.memoryBudget = json::integer(root["memory_budget"], where, "memory_budget", 0, INT64_MAX);
  }
  if (root.contains("view")) s.view = parseView(root["view"], where);
  if (root.contains("compare")) {
    const Json& c = root["compare"];
    if (!c.is_object()) json::bad(where, "compare", "must be an object");
    json::onlyKeys(c, {"visible", "layout"}, where, "compare.");
    if (c.contains("visible")) s.compareVisible = json::boolean(c["visible"], where, "compare.visible");
    if (c.contains("layout") && !c["layout"].is_null()) {
      figure::FigureSpec layout = figure::parseFigureSpec(c["layout"].dump(), where + " (compare.layout)", true);
      for (auto& col : layout.columns) {
        figure::mapColumnPaths(col, [&](const std::string& p) { return resolved(p, base).toStdString(); });
      }
      s.compare = layout;
    }
  }
  if (root.contains("script") && !root["script"].is_null()) {
    const Json& j = root["script"];
    if (!j.is_object()) json::bad(where, "script", "must be an object with a path");
    json::onlyKeys(j, {"path", "sha256", "preprocess", "image_input", "module_outputs"}, where, "script.");
    if (!j.contains("path")) json::bad(where, "script.path", "is missing");
    SessionScript sc;
    const std::string path = json::str(j["path"], where, "script.path");
    if (path.empty()) json::bad(where, "script.path", "is empty");
    sc.path = QString::fromStdString(figure::resolvePath(path, base));
    if (j.contains("sha256")) sc.sha256 = QString::fromStdString(json::str(j["sha256"], where, "script.sha256"));
    if (j.contains("preprocess")) {
      sc.preprocess = json::str(j["preprocess"], where, "script.preprocess");
      try {
        parsePreprocess(sc.preprocess);
      } catch (const Error& e) {
        json::bad(where, "script.preprocess", e.what());
      }
    }
    if (j.contains("image_input")) sc.imageInput = json::boolean(j["image_input"], where, "script.image_input");
    if (j.contains("module_outputs")) sc.moduleOutputs = json::boolean(j["module_outputs"], where, "script.module_outputs");
    s.script = sc;
  }
  return s;
}

SessionState readSession(const QString& path) {
  // The core's one way to read a file: regular files only, at most json::kMaxFileBytes.
  const InputFile in(path.toStdString());
  return parseSession(in.readAllText(json::kMaxFileBytes, "a session"), QFileInfo(path).absoluteFilePath());
}

void writeSession(const SessionState& state, const QString& path) {
  requireReplaceableTarget(path.toStdString());  // QSaveFile would rename over a FIFO or device
  const std::string text = sessionJson(state, QFileInfo(path).absoluteFilePath());
  QSaveFile f(path);
  if (!f.open(QIODevice::WriteOnly) || f.write(text.data(), static_cast<qint64>(text.size())) < 0 || !f.commit()) {
    throw Error(ErrorKind::Input, path.toStdString() + ": the session cannot be written (" + f.errorString().toStdString() + ")");
  }
}

SessionState captureSession(const Document& document, bool compareVisible) {
  SessionState s;
  for (const InputItem& in : document.inputs()) {
    s.inputs.push_back({QFileInfo(in.path).isRelative() ? QFileInfo(in.path).absoluteFilePath() : in.path, in.featureSpec});
  }
  s.assignment = document.assignment();
  s.module = document.moduleId();
  s.params = document.params();
  s.weights = document.weightsPath().isEmpty() ? QString() : QFileInfo(document.weightsPath()).absoluteFilePath();
  s.device = document.device();
  s.memoryBudget = document.memoryBudget();
  s.view = document.view();
  s.compareVisible = compareVisible;
  if (!document.comparison().columns.empty()) {
    figure::FigureSpec layout = document.comparisonSpec();
    for (auto& c : layout.columns) {
      figure::mapColumnPaths(c, [](const std::string& p) { return QFileInfo(QString::fromStdString(p)).absoluteFilePath().toStdString(); });
    }
    s.compare = layout;
  }
  if (const ScriptSource* sc = document.script()) {
    s.script = SessionScript{QFileInfo(sc->path).absoluteFilePath(), sc->sha256, sc->preprocess, sc->imageInput,
                             sc->moduleOutputs};
  }
  return s;
}

QString inputFile(const QString& inputPath) {
  return QString::fromStdString(splitInputPath(inputPath.toStdString(), "").file);
}

QStringList missingFiles(const SessionState& s) {
  QStringList out;
  const auto fileOf = inputFile;
  for (size_t i = 0; i < s.inputs.size(); ++i) {
    if (!QFileInfo::exists(fileOf(s.inputs[i].path))) {
      out << QCoreApplication::translate("Session", "input %1: %2").arg(i + 1).arg(fileOf(s.inputs[i].path));
    }
  }
  for (size_t i = 0; i < s.inputs.size(); ++i) {
    const QRegularExpressionMatch m = modelPathInFeatures().match(s.inputs[i].features);
    if (m.hasMatch() && !QFileInfo::exists(m.captured(2))) {
      out << QCoreApplication::translate("Session", "feature model of input %1: %2").arg(i + 1).arg(m.captured(2));
    }
  }
  if (!s.weights.isEmpty() && !QFileInfo::exists(s.weights)) {
    out << QCoreApplication::translate("Session", "weights of %1: %2").arg(s.module, s.weights);
  }
  if (s.script && !QFileInfo::exists(s.script->path)) {
    out << QCoreApplication::translate("Session", "script: %1").arg(s.script->path);
  }
  if (s.compare) {
    for (size_t i = 0; i < s.compare->columns.size(); ++i) {
      const auto& c = s.compare->columns[i];
      const QString w = QString::fromStdString(c.weights.path);
      if (!w.isEmpty() && !QFileInfo::exists(w)) {
        out << QCoreApplication::translate("Session", "weights of compare column %1 (%2): %3")
                   .arg(i + 1)
                   .arg(QString::fromStdString(c.module), w);
      }
    }
  }
  return out;
}

}  // namespace fl::ui
