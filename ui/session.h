#pragma once
// Sessions: everything the explorer shows, saved as JSON so that File > Open session
// brings it back: the inputs (paths relative to the session file, with the feature source of
// each image), which input feeds which module input, the module with its parameters, weights,
// device and memory budget, the view settings and the comparison (its columns and layout, as a
// figure spec without inputs). Written atomically (QSaveFile). A session whose files moved
// still opens: what is missing is listed, the rest is restored.
#include <QString>
#include <QStringList>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/figure/figure_spec.h"
#include "core/run/run.h"
#include "ui/view_settings.h"

namespace fl::ui {

class Document;

/// The session schema this build writes and reads.
constexpr int kSessionSchemaVersion = 1;

struct SessionInput {
  QString path;      ///< absolute once read; may end in ":NAME" (one tensor of a file)
  QString features;  ///< images: the feature source (as `--features`); tensor files: empty
};

/// A TorchScript file or capture opened instead of a module (ui/script_source.h), with what
/// identifies it (its SHA-256: a changed file is said so, not shown under the old name) and
/// how it runs.
struct SessionScript {
  QString path;    ///< absolute once read
  QString sha256;
  std::string preprocess;  ///< core/features/preprocess.h's text form; "" default
  bool imageInput = false;
  bool moduleOutputs = false;
};

/// What a session file holds. Paths are absolute in memory, relative to the session's folder
/// in the file.
struct SessionState {
  int schemaVersion = kSessionSchemaVersion;
  std::vector<SessionInput> inputs;
  std::vector<int> assignment;  ///< per module input: index into `inputs`, -1 none
  QString module;               ///< registry id; empty: none chosen
  std::map<std::string, std::string> params;
  QString weights;              ///< empty: seeded init
  DeviceChoice device = DeviceChoice::Auto;
  int64_t memoryBudget = 0;
  ViewSettings view;
  bool compareVisible = false;
  /// The comparison: its columns (module, parameters, weights) and layout; no inputs (the
  /// comparison follows the session's inputs). Absent: nothing compared.
  std::optional<figure::FigureSpec> compare;
  /// The script source shown instead of the module (its selected point is view.tensor).
  std::optional<SessionScript> script;
};

/// The session as JSON, paths made relative to `sessionPath`'s folder.
std::string sessionJson(const SessionState& state, const QString& sessionPath);

/// Parses a session; relative paths resolve against `sessionPath`'s folder. Unknown keys and
/// a newer schema are refused. Throws fl::Error(Usage) naming the file and the key.
SessionState parseSession(const std::string& json, const QString& sessionPath);

/// Reads a session file (fl::Error(Input) when it cannot be read).
SessionState readSession(const QString& path);

/// Writes a session atomically: the old file stays intact if anything fails. Throws
/// fl::Error(Input) naming the file.
void writeSession(const SessionState& state, const QString& path);

/// The session of the document now (its comparison included).
SessionState captureSession(const Document& document, bool compareVisible);

/// The file part of an input path ("feats.npz:x" -> "feats.npz").
QString inputFile(const QString& inputPath);

/// The files a session refers to that do not exist, each as "what: path" (inputs, weights,
/// the comparison's weights).
QStringList missingFiles(const SessionState& state);

}  // namespace fl::ui
