#pragma once
// File > Export probes... and Export channel scores...: the shown result written as the CLI
// writes it (core/run/result_export.h). The dialogs live here; MainWindow only wires them.
#include <QString>

class QWidget;

namespace fl::ui {

class Document;

/// Writes the document's shown result to `path`, by its extension:
///   .safetensors  every output and probe (the names of `fusionlens-cli run --save`), with
///                 the run's module, device, seed, weights and parameters as metadata;
///   .npy          the tensor selected in the view (ViewSettings::tensor), raw, full shape;
///   .csv / .json  the channel scores of the view's batch element.
/// Refuses an existing file unless `overwrite`. Returns "" or the error (one line).
QString exportResult(const Document& document, const QString& path, bool overwrite);

/// What a dialog did, for the status bar; an empty text when the person cancelled.
struct ExportReport {
  QString text;
  bool error = false;
};

/// Asks for a .safetensors (every output and probe) or .npy (the selected tensor) file and
/// writes it. Overwrites only after the dialog's own confirmation. A result that left out
/// what is computed only on request (Document::notComputed) is not exported: the document
/// asks the next run for everything (Document::requestEverything) and the report says so.
ExportReport exportProbesDialog(QWidget* parent, Document& document);

/// Asks for a .csv or .json file and writes the channel scores of the shown result.
ExportReport exportChannelScoresDialog(QWidget* parent, const Document& document);

}  // namespace fl::ui
