#pragma once
// Painting and exporting a figure (core/figure/figure_model.h) with QPainter: PNG with its DPI
// in the file, SVG, and PDF with heatmaps as rasters of at least 300 dpi and the colour bars,
// ticks, labels and panel letters as vector text in an embedded font (visualization-anchors.md
// §4.5). Qt Gui only (no widgets), so `fusionlens-cli render` uses the very same code as the
// GUI: one spec, one PNG.
#include <QImage>
#include <QPainter>
#include <QSizeF>
#include <string>
#include <vector>

#include "core/figure/figure_model.h"

namespace fl::figure {

enum class FigureFormat { Png, Svg, Pdf };

/// The format of an output path by its extension (.png, .svg, .pdf; case-insensitive).
/// Throws fl::Error(Usage) for another one.
FigureFormat formatForPath(const std::string& path);

/// The figure's physical size in inches: the spec's width, the height that the panels'
/// aspect ratios and the labels need.
QSizeF figureSizeInches(const FigureModel& model);

/// What the interactive compare view adds on screen; exports use the default (whole maps, no
/// crosshair).
struct FigureViewport {
  /// The part of every map shown, in unit coordinates of the map (linked zoom and pan: one
  /// viewport for all panels).
  QRectF unit{0, 0, 1, 1};
  /// A crosshair at this point of every map (unit coordinates), or none when negative.
  QPointF crosshair{-1, -1};
};

/// Where a panel was painted, in the painter's coordinates.
struct PaintedPanel {
  int row = 0, column = 0;
  QRectF box;
};

/// Paints the whole figure on `painter` as if its device had `dpi` dots per inch (fonts are
/// sized for that, whatever the device's own dpi), figureSizeInches() large. Heatmap rasters
/// are composed at `rasterDpi` (for a PNG, equal to dpi, so each raster pixel is one image
/// pixel). Returns the panels' boxes (for hit testing on screen).
std::vector<PaintedPanel> paintFigure(QPainter& painter, const FigureModel& model, double dpi,
                                      double rasterDpi, const FigureViewport& viewport = {});

/// The figure as a white-background RGB image at the spec's dpi, with that dpi set as its
/// dots per metre (written to the PNG's pHYs chunk).
QImage renderFigureImage(const FigureModel& model);

struct ExportOptions {
  bool overwrite = false;  ///< replace existing files (otherwise refuse: never overwrite silently)
  bool writeSpec = true;   ///< write OUT.spec.json beside the figure
  bool writeStats = true;  ///< write OUT.stats.csv beside the figure (when there are statistics)
};

/// The files an export to `path` writes: the figure, OUT.spec.json, OUT.stats.csv.
std::vector<std::string> exportFiles(const std::string& path, const ExportOptions& options);

/// Writes the figure to `path` (format by extension), then its spec (paths relative to the
/// figure's folder, every file's SHA-256, the size and fonts used) and its statistics.
/// Returns the files written. Throws fl::Error(Usage) when a file exists and !overwrite
/// (naming it), fl::Error(Input) when a file cannot be written. Files are written atomically
/// (QSaveFile).
std::vector<std::string> exportFigure(const FigureModel& model, const std::string& path,
                                      const ExportOptions& options = {});

/// The spec to write beside a figure at `figurePath`: the model's spec with paths made
/// relative to the figure's folder and `output` set to the figure's file name.
FigureSpec specForExport(const FigureModel& model, const std::string& figurePath);

}  // namespace fl::figure
