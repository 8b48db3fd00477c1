#include "ui/result_export.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QMessageBox>
#include <algorithm>
#include <exception>

#include "core/run/result_export.h"
#include "ui/document.h"
#include "ui/settings.h"

namespace fl::ui {
namespace {

QString tr(const char* text) { return QCoreApplication::translate("ResultExport", text); }

QString noResult() { return tr("Nothing to export yet: run a module first."); }

/// The tensor the view shows (ViewSettings::tensor), raw; sets `error` when there is none.
at::Tensor selectedTensor(const Document& doc, const RunResult& res, QString* error) {
  const QString name = doc.view().tensor;
  if (name.isEmpty()) {
    *error = tr("No tensor is selected in the view.");
    return {};
  }
  if (name.startsWith(QStringLiteral("probe."))) {
    if (const ProbeResult* p = res.findProbe(name.mid(6).toStdString())) return p->value;
    *error = doc.isOnDemandProbe(name)
                 ? tr("%1 was withheld over the memory budget (rows are computed per pixel); raise the "
                      "budget and run again to export it whole.").arg(name)
                 : tr("The result has no %1.").arg(name);
    return {};
  }
  for (size_t i = 0; i < res.outputNames.size() && i < res.outputs.size(); ++i) {
    if (name == QString::fromStdString(res.outputNames[i])) return res.outputs[i];
  }
  const ModuleDescriptor* d = doc.registry().find(res.moduleId);
  if (d && name.startsWith(QStringLiteral("input."))) {
    for (size_t i = 0; i < d->inputs.size(); ++i) {
      if (name.mid(6) == QString::fromStdString(d->inputs[i].name)) {
        const at::Tensor t = doc.resultInput(static_cast<int>(i));
        if (t.defined()) return t;
        *error = tr("The input that fed %1 is no longer open.").arg(name);
        return {};
      }
    }
  }
  *error = tr("The result has no %1.").arg(name);
  return {};
}

/// What made the shown result, when the document still knows (its request came with it).
std::map<std::string, std::string> metadataOf(const Document& doc, const RunResult& res) {
  const RunRequest& req = doc.resultContext().request;
  if (req.moduleId != res.moduleId || req.requestId != res.requestId) return {};
  auto meta = requestMetadata(req);
  // The GUI hands weights over already read; name their file when they are still the
  // document's (same state_dict object), else say only that some were loaded.
  if (req.weights) {
    meta["weights"] = doc.makeRequest(0).weights == req.weights && !doc.weightsPath().isEmpty()
                          ? doc.weightsPath().toStdString()
                          : std::string("(a state_dict loaded in the explorer)");
  }
  return meta;
}

/// The view's batch element, clamped as the views clamp it.
int64_t viewBatch(const Document& doc, const RunResult& res) {
  int64_t n = 1;
  if (!res.outputs.empty() && res.outputs[0].defined() && res.outputs[0].dim() > 0) n = res.outputs[0].size(0);
  return std::clamp<int64_t>(doc.view().batch, 0, std::max<int64_t>(n - 1, 0));
}

/// `path` with `suffix` when it has none of `known`: a typed name without an extension
/// still gets the format that was picked.
QString withSuffix(const QString& path, const QStringList& known, const QString& suffix) {
  const QString ext = QFileInfo(path).suffix().toLower();
  return known.contains(ext) ? path : path + QLatin1Char('.') + suffix;
}

/// Asks for a file; "" when cancelled or when the person declines replacing a file.
/// `overwrite` is true only when an existing file was confirmed for replacing.
QString askPath(QWidget* parent, const QString& title, const QString& fileName, const QString& filters,
                const QStringList& known, bool* overwrite) {
  QString selected;
  const QString dir = prefs::startDirectory();
  QString path = QFileDialog::getSaveFileName(parent, title, dir.isEmpty() ? fileName : QDir(dir).filePath(fileName),
                                              filters, &selected);
  if (path.isEmpty()) return {};
  // The dialog confirmed replacing `path` itself; a suffix added here names another file,
  // which gets its own question.
  const int open = selected.lastIndexOf(QStringLiteral("*.")), close = selected.lastIndexOf(QLatin1Char(')'));
  const QString suffix = open >= 0 && close > open ? selected.mid(open + 2, close - open - 2) : known.front();
  const QString full = withSuffix(path, known, suffix);
  if (full != path && QFileInfo::exists(full) &&
      QMessageBox::question(parent, tr("Replace file?"), tr("%1 exists. Replace it?").arg(full)) != QMessageBox::Yes) {
    return {};
  }
  *overwrite = QFileInfo::exists(full);
  return full;
}

}  // namespace

QString exportResult(const Document& document, const QString& path, bool overwrite) {
  const RunResult* res = document.result();
  if (!res) return noResult();
  const std::string file = path.toStdString();
  const QString ext = QFileInfo(path).suffix().toLower();
  try {
    if (ext == QLatin1String("safetensors")) {
      writeResultSafetensors(*res, file, overwrite, metadataOf(document, *res));
    } else if (ext == QLatin1String("npy")) {
      QString error;
      const at::Tensor t = selectedTensor(document, *res, &error);
      if (!t.defined()) return error;
      writeTensorNpy(t, file, overwrite);
    } else if (ext == QLatin1String("csv") || ext == QLatin1String("json")) {
      writeChannelScores(*res, viewBatch(document, *res), file, overwrite);
    } else {
      return tr("%1: export as .safetensors (every output and probe), .npy (the selected tensor), "
                ".csv or .json (channel scores)").arg(path);
    }
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

ExportReport exportProbesDialog(QWidget* parent, Document& document) {
  const RunResult* res = document.result();
  if (!res) return {noResult(), true};
  // osra's and cmgm's full attention matrix and cmgm's cam are computed only when shown or
  // exported: an export of a result that left them out asks the next run for everything.
  const QStringList missing = document.notComputed();
  if (!missing.isEmpty()) {
    document.requestEverything();
    return {tr("This result left out %1 (computed only when shown or exported); computing them now: "
               "choose Export probes... again when the run is done.")
                .arg(missing.join(QStringLiteral(", "))),
            false};
  }
  bool overwrite = false;
  const QString path = askPath(
      parent, tr("Export probes"), QString::fromStdString(res->moduleId) + QStringLiteral("_probes.safetensors"),
      tr("Every output and probe (*.safetensors);;The tensor selected in the view, raw (*.npy)"),
      {QStringLiteral("safetensors"), QStringLiteral("npy")}, &overwrite);
  if (path.isEmpty()) return {};
  const QString error = exportResult(document, path, overwrite);
  if (!error.isEmpty()) return {error, true};
  return {QFileInfo(path).suffix().toLower() == QLatin1String("npy")
              ? tr("Wrote %1 (%2)").arg(path, document.view().tensor)
              : tr("Wrote %1 (every output and probe)").arg(path),
          false};
}

ExportReport exportChannelScoresDialog(QWidget* parent, const Document& document) {
  const RunResult* res = document.result();
  if (!res) return {noResult(), true};
  const int64_t batch = viewBatch(document, *res);
  try {
    channelScoreTable(*res, batch);  // say so now rather than after a file was chosen
  } catch (const std::exception& e) {
    return {QString::fromUtf8(e.what()), true};
  }
  bool overwrite = false;
  const QString path = askPath(parent, tr("Export channel scores"),
                               QString::fromStdString(res->moduleId) + QStringLiteral("_channel_scores.csv"),
                               tr("CSV: probe,channel,score,rank (*.csv);;JSON (*.json)"),
                               {QStringLiteral("csv"), QStringLiteral("json")}, &overwrite);
  if (path.isEmpty()) return {};
  const QString error = exportResult(document, path, overwrite);
  if (!error.isEmpty()) return {error, true};
  return {tr("Wrote the channel scores of batch element %1 to %2").arg(batch).arg(path), false};
}

}  // namespace fl::ui
