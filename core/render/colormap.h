#pragma once
/// Colormaps for heatmaps: 256-entry 8-bit **RGB** lookup tables shared by the CLI renderer
/// (OpenCV) and the GUI colourbar, so exported figures and the screen match
/// (visualization-anchors.md §4.1). No Qt, no LibTorch.
///
/// Colour order: every colour and every image produced by core/render is **R, G, B** (index 0 is
/// red). OpenCV's own functions (cv::applyColorMap, cv::imwrite) use B, G, R; convert with
/// fl::render::rgbToBgr() (render.h) before cv::imwrite. Mixing the two is the cause of the
/// "inverted colours" reports in pytorch-grad-cam (#114, #123).
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace fl::render {

/// The colormaps FusionLens offers. Sequential maps are for non-negative data (gates, attention
/// probabilities, CAMs); `RdBu` is the diverging map for signed data (differences A-B, logits),
/// used with NormMode::Symmetric so that zero is white.
enum class Colormap {
  Viridis,  ///< default; perceptually uniform (CAM02-UCS), greyscale- and CVD-safe. CC0.
  Inferno,  ///< perceptually uniform, black -> yellow. CC0.
  Magma,    ///< perceptually uniform, black -> white-ish. CC0.
  Plasma,   ///< perceptually uniform, blue -> yellow. CC0.
  Cividis,  ///< optimised for red-green colour-vision deficiency (Nuñez et al. 2018).
  Turbo,    ///< "jet look" without jet's banding (Google 2019); not perceptually uniform.
  Jet,      ///< matplotlib/MATLAB jet (computed); offered to match older Grad-CAM figures only.
  Gray,     ///< black -> white (computed), entry i = (i, i, i).
  RdBu,     ///< diverging: ColorBrewer RdBu reversed, blue (t=0) - white (t=0.5) - red (t=1).
};

/// The default colormap for non-negative maps (visualization-anchors.md §4.1).
constexpr Colormap kDefaultColormap = Colormap::Viridis;
/// The default colormap for signed data.
constexpr Colormap kDefaultDivergingColormap = Colormap::RdBu;

/// One 8-bit colour, R, G, B.
using Rgb8 = std::array<uint8_t, 3>;
/// A 256-entry lookup table of R, G, B colours; entry 0 is t = 0, entry 255 is t = 1.
using ColormapLut = std::array<Rgb8, 256>;

/// The colour drawn for NaN (no data) pixels: a neutral mid-grey.
constexpr Rgb8 kNanColor = {128, 128, 128};

/// The names accepted by parseColormap(), in enum order: "viridis", "inferno", "magma",
/// "plasma", "cividis", "turbo", "jet", "gray", "rdbu".
const std::vector<std::string>& colormapNames();

/// The name of a colormap (an element of colormapNames()).
const std::string& colormapName(Colormap map);

/// Parses a colormap name (case-insensitive; "grey" is accepted for "gray", "rdbu_r" and
/// "diverging" for "rdbu"). Throws fl::Error(ErrorKind::Usage) naming the valid choices.
Colormap parseColormap(const std::string& name);

/// True for the diverging map(s), whose centre (t = 0.5) is meant to be the value zero.
bool isDiverging(Colormap map);

/// True for the maps whose lightness increases monotonically with t (viridis, inferno, magma,
/// plasma, cividis, gray).
bool isPerceptuallyUniform(Colormap map);

/// The full 256-entry RGB table (for a GUI colourbar: QCPColorGradient::setColorStops).
const ColormapLut& colormapLut(Colormap map);

/// The table index for t: floor(256 t) clamped to [0, 255], matplotlib's convention (so a value
/// normalised to t gets the same colour as matplotlib's ListedColormap gives it). t <= 0 -> 0,
/// t >= 1 -> 255. NaN -> -1 (no data).
int colormapIndex(double t);

/// The colour of t in [0, 1] (clamped; NaN -> kNanColor), R, G, B.
Rgb8 colormapColor(Colormap map, double t);

}  // namespace fl::render
