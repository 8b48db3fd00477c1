#include "app/cli_render.h"
#include "app/cli_wording.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "core/common/error.h"
#include "core/common/file_io.h"
#include "core/figure/figure_model.h"
#include "core/figure/figure_spec.h"
#include "core/io/image.h"
#include "core/modules/registry.h"

#ifdef FL_HAVE_FIGURE
#include <QGuiApplication>

#include "ui/figure/figure_export.h"
#endif

namespace fl::cli {

const char* const kRenderUsage = R"(render: a figure from a figure spec (JSON; docs/figures.md), with no display.
  fusionlens-cli render SPEC.json [--out FILE.png|.svg|.pdf] [--overwrite] [--ignore-hashes]
                        [--batch DIR [--out-dir DIR]] [--quiet]
  --out FILE         the figure (default: the spec's "output", relative to the spec); its
                     spec is written beside it as FILE.spec.json, the statistics as
                     FILE.stats.csv. A spec written beside a figure renders it again.
  --overwrite        replace existing files (otherwise an existing file is an error)
  --ignore-hashes    render even when an input, weights, script, capture or feature
                     model file changed since the spec (its sha256 differs)
  Columns may be built-in modules, or points of TorchScript files and captures
  ({"script": "net.pt", "point": "layer1.cbam.spatial.sigmoid", "sha256": ...}).
  --batch DIR        one figure per image in DIR (sorted by name), each replacing the
                     spec's first input; written to --out-dir (default .) as NAME.EXT,
                     EXT from --out or the spec's output (default png); a progress bar
                     on the terminal; exit 2 when any image failed
)";

namespace fs = std::filesystem;

namespace {

[[noreturn]] void usage(const std::string& m) { throw Error(ErrorKind::Usage, m); }

/// A one-line progress bar on a terminal; plain lines when stderr is a file or pipe.
void progress(int done, int total, const std::string& name, bool tty) {
  if (tty) {
    constexpr int kWidth = 30;
    const int fill = total > 0 ? done * kWidth / total : kWidth;
    std::fprintf(stderr, "\r[%s%s] %d/%d %-40.40s", std::string(fill, '#').c_str(),
                 std::string(kWidth - fill, '-').c_str(), done, total, name.c_str());
    if (done == total) std::fputc('\n', stderr);
  } else if (done < total) {
    std::fprintf(stderr, "[%d/%d] %s\n", done + 1, total, name.c_str());
  }
  std::fflush(stderr);
}

}  // namespace

int cmdRender(const std::vector<std::string>& args) {
  std::string specPath, out, batchDir, outDir = ".";
  bool overwrite = false, ignoreHashes = false, quiet = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) usage(a + " needs a value");
      return args[++i];
    };
    if (a == "--out") {
      out = value();
    } else if (a == "--overwrite") {
      overwrite = true;
    } else if (a == "--ignore-hashes") {
      ignoreHashes = true;
    } else if (a == "--batch") {
      batchDir = value();
    } else if (a == "--out-dir") {
      outDir = value();
    } else if (a == "--quiet") {
      quiet = true;
    } else if (!a.empty() && a[0] == '-') {
      usage("render: unknown option '" + a + "' (see --help)");
    } else if (specPath.empty()) {
      specPath = a;
    } else {
      usage("render: takes one SPEC.json, got '" + specPath + "' and '" + a + "'");
    }
  }
  if (specPath.empty()) usage("render: missing SPEC.json (docs/figures.md describes the format)");
#ifndef FL_HAVE_FIGURE
  usage("render: this fusionlens-cli was built without Qt (FL_BUILD_GUI=OFF), so it cannot draw figures");
#else
  const figure::FigureSpec spec = figure::readFigureSpec(specPath);
  const std::string baseDir = fs::absolute(specPath).parent_path().string();
  if (out.empty() && !spec.output.empty()) out = figure::resolvePath(spec.output, baseDir);
  if (batchDir.empty() && out.empty()) usage("render: no --out FILE and the spec has no \"output\"");
  if (!out.empty()) {  // refuse a bad extension or an unreplaceable target before any work
    figure::formatForPath(out);
    requireReplaceableTarget(out);
  }

  // Figures are painted with QPainter on the offscreen platform: no display needed, and the
  // same fonts (fontconfig) as the GUI.
  qputenv("QT_QPA_PLATFORM", "offscreen");
  if (qEnvironmentVariableIsEmpty("XDG_RUNTIME_DIR")) {
    // Qt warns on every run without one; a private folder of our own keeps stderr clean.
    const fs::path runtime = fs::temp_directory_path() / ("fusionlens-runtime-" + std::to_string(getuid()));
    std::error_code ec;
    fs::create_directories(runtime, ec);
    fs::permissions(runtime, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (!ec) qputenv("XDG_RUNTIME_DIR", runtime.string().c_str());
  }
  static int argc = 1;
  static char name[] = "fusionlens-cli";
  static char* argv[] = {name, nullptr};
  QGuiApplication app(argc, argv);

  ModuleRegistry registry;
  registerBuiltinModules(registry);
  figure::BuildOptions build;
  build.checkHashes = !ignoreHashes;
  figure::ExportOptions exportOptions;
  exportOptions.overwrite = overwrite;

  if (batchDir.empty()) {
    const figure::FigureModel model = figure::buildFigure(registry, spec, baseDir, build);
    if (!quiet) {
      for (const auto& w : model.warnings) std::cerr << "fusionlens-cli: warning: " << w << "\n";
    }
    for (const auto& f : figure::exportFigure(model, out, exportOptions)) std::cout << "wrote " << f << "\n";
    return 0;
  }

  if (!fs::is_directory(batchDir)) usage("--batch '" + batchDir + "' is not a folder");
  std::vector<std::string> images;
  for (const auto& e : fs::directory_iterator(batchDir)) {
    if (e.is_regular_file() && isImageFile(e.path().string())) images.push_back(e.path().string());
  }
  std::sort(images.begin(), images.end());
  if (images.empty()) usage("--batch '" + batchDir + "' holds no images (png, jpg, bmp, tif, webp)");
  std::error_code ec;
  fs::create_directories(outDir, ec);
  if (ec) throw Error(ErrorKind::Input, "--out-dir '" + outDir + "' cannot be created: " + ec.message());
  const std::string ext = out.empty() ? std::string(".png") : fs::path(out).extension().string();
  const bool tty = isatty(fileno(stderr)) != 0;
  int failed = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string stem = fs::path(images[i]).stem().string();
    if (!quiet) progress(static_cast<int>(i), static_cast<int>(images.size()), stem, tty);
    figure::FigureSpec one = spec;
    one.inputs[0].path = fs::absolute(images[i]).string();
    one.inputs[0].sha256.clear();
    const std::string target = (fs::path(outDir) / (stem + ext)).string();
    try {
      const figure::FigureModel model = figure::buildFigure(registry, one, baseDir, build);
      figure::exportFigure(model, target, exportOptions);
    } catch (const Error& e) {
      ++failed;
      if (tty && !quiet) std::fputc('\n', stderr);
      std::cerr << "fusionlens-cli: " << images[i] << ": " << cliText(e) << "\n";
    }
  }
  if (!quiet) progress(static_cast<int>(images.size()), static_cast<int>(images.size()), "done", tty);
  std::cout << "wrote " << images.size() - failed << " of " << images.size() << " figures to " << outDir << "\n";
  return failed ? 2 : 0;
#endif
}

}  // namespace fl::cli
