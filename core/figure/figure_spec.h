#pragma once
/// A figure spec: everything needed to reproduce a comparison figure exactly
/// (visualization-anchors.md §4.5-4.6). JSON with a `schema_version`; written beside every
/// exported figure and read by `fusionlens-cli render SPEC.json`. Paths are stored relative to
/// the spec file's folder and resolved against it; input and weights files carry their SHA-256
/// so a re-render can tell when a file changed.
///
/// Grid: columns are modules (or weight files, or parameter variants of one module), rows are
/// probes (one `FigureRow` each); an optional difference column shows A - B of two columns on a
/// symmetric, diverging scale.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/render/colormap.h"
#include "core/render/normalise.h"
#include "core/render/render.h"

namespace fl::figure {

/// The schema this build writes and reads.
constexpr int kFigureSchemaVersion = 1;

/// One input file (image or tensor file), in the modules' input order.
struct FigureInput {
  std::string path;    ///< as written in the spec (relative to the spec's folder, or absolute)
  std::string sha256;  ///< empty: not checked
};

/// A module's weights file.
struct FigureWeights {
  std::string path;                   ///< empty: deterministic init from the spec's seed
  std::string sha256;                 ///< empty: not checked
  std::optional<std::string> prefix;  ///< absent: detected
};

/// One column: a built-in module with its parameters and weights, or a point of a TorchScript
/// file (`script`) or of a PyTorch capture (`capture`); exactly one of the three is set.
struct FigureColumn {
  std::string label;   ///< panel title; empty: the module's display name, or the file's stem
  std::string module;  ///< registry id, e.g. "aff"
  std::string script;   ///< a TorchScript file (a module or a whole network)
  std::string capture;  ///< a capture (.flcap, python/fusionlens_capture.py); runs its trace
  std::string sha256;   ///< of `script` or `capture`; empty: not checked
  /// The point (probe) that "auto" rows show for a script or capture column; empty: the
  /// first spatial one, as for modules. Other rows may name any point.
  std::string point;
  /// This column's own inputs and features (e.g. a network's stem, or an image a network
  /// reads); empty: the spec's. A capture runs on the inputs it holds: neither is allowed.
  std::vector<FigureInput> inputs;
  std::vector<std::string> features;        ///< as FigureSpec::features
  std::vector<std::string> featuresSha256;  ///< as FigureSpec::featuresSha256
  std::map<std::string, std::string> params;  ///< as `--set KEY=VALUE`
  FigureWeights weights;
  /// Init seed of this column when it has no weights (absent: the spec's seed). Two modules
  /// that share submodule names (aff, iaff) get identical random weights from one seed.
  std::optional<uint64_t> seed;
};

/// One row: which probe each column shows, and how it is reduced to a 2-D map.
struct FigureRow {
  /// A probe name ("weight", "spatial_weight", ...), "auto" (each module's first probe that
  /// has a spatial view), or "output" / "output.N" / "input.N".
  std::string probe = "auto";
  /// How a [C,H,W] tensor becomes a map: "mean" (channel mean; gates, features),
  /// "complement" (1 - channel mean: the weight an AFF-style gate gives the other input),
  /// "channel:N", or for attention "query:X,Y" (query pixel in the query grid) with an
  /// optional ":head=H" (default: mean of heads). Spatial maps ignore it.
  std::string view = "mean";
  std::string label;  ///< row label; empty: the probe name and view
};

/// The colour scale of the figure's maps.
struct FigureScale {
  render::NormSpec norm;         ///< mode, fixed lo/hi, percentiles
  bool shared = true;            ///< one range per row over all module columns (else per panel)
  render::Colormap colormap = render::Colormap::Viridis;
  render::Colormap diverging = render::Colormap::RdBu;  ///< difference column and symmetric mode
};

/// Physical layout and typography.
struct FigureLayout {
  double widthIn = 7.16;   ///< 3.5 (IEEE single column) or 7.16 (double column), or any width
  double dpi = 300;        ///< PNG pixel density (written into the file); SVG/PDF resolution
  double rasterDpi = 300;  ///< heatmap rasters inside SVG/PDF: at least 300
  std::string fontFamily = "DejaVu Sans";
  double fontSizePt = 8;
  bool panelLetters = true;  ///< (a), (b), ... in each panel's corner
  bool titles = true;        ///< column titles and row labels
};

/// A whole figure spec.
struct FigureSpec {
  int schemaVersion = kFigureSchemaVersion;
  std::vector<FigureInput> inputs;
  /// Per image input, as `--features`. JSON: a spec text or `{"spec", "sha256"}` (the SHA-256
  /// of the TorchScript file a `torchscript:path=...` spec names), one or a list.
  std::vector<std::string> features;
  /// Parallel to `features`: "" when not checked or not a torchscript spec.
  std::vector<std::string> featuresSha256;
  bool channelsLast = false;
  uint64_t seed = 0;        ///< init of modules without weights
  std::string device = "cpu";
  int64_t batch = 0;        ///< batch element shown
  std::vector<FigureColumn> columns;
  std::vector<FigureRow> rows = {FigureRow{}};
  /// Difference column: A - B of these two module columns (0-based), or absent.
  std::optional<std::pair<int, int>> difference;
  FigureScale scale;
  render::Interpolation interpolation = render::Interpolation::Nearest;
  double alpha = 0.6;       ///< heatmap opacity over the underlay image
  int underlay = 0;         ///< input index whose image lies under spatial maps; -1: none
  FigureLayout layout;
  double statsTopPercent = 10;  ///< k of the top-k% IoU statistic
  std::string output;       ///< default output path (relative to the spec); may be empty
};

/// Parses a spec from JSON text. `where` names the source in messages. Unknown keys are
/// refused (a typo must not silently change a figure). Throws fl::Error(Usage) naming the key
/// and what is wrong. With `layoutOnly`, `inputs` and `columns` may be empty lists: a
/// comparison layout without its data (a session stores the compare panel's layout so).
FigureSpec parseFigureSpec(const std::string& jsonText, const std::string& where,
                           bool layoutOnly = false);

/// Reads and parses a spec file (fl::Error(Input) when unreadable).
FigureSpec readFigureSpec(const std::string& path);

/// The spec as pretty-printed JSON (2-space indent, keys in a fixed order, ends with "\n").
std::string figureSpecJson(const FigureSpec& spec);

/// `path` resolved against `baseDir` when it is relative.
std::string resolvePath(const std::string& path, const std::string& baseDir);

/// `path` made relative to `baseDir` when both are on the same root (for writing specs and
/// sessions); otherwise absolute.
std::string relativePath(const std::string& path, const std::string& baseDir);

/// Whether a string is a SHA-256 as specs write it (64 lowercase hex digits).
bool isSha256Text(const std::string& text);

}  // namespace fl::figure
