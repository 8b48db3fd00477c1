#include "ui/figure/figure_export.h"

#include <QFile>
#include <QFileInfo>
#include <QFont>
#include <QFontMetricsF>
#include <QPageSize>
#include <QBuffer>
#include <QDateTime>
#include <QPdfWriter>
#include <QSaveFile>
#include <QSvgGenerator>

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>

#include "core/common/error.h"
#include "core/common/file_io.h"
#include "core/common/versions.h"
#include "core/render/colormap.h"

namespace fl::figure {
namespace {

/// Geometry in points (1/72 in); painting multiplies by the device's dots per point.
struct Layout {
  double fs = 8;          // font size
  double margin = 3, gap = 4;
  double titleH = 0, rowLabelW = 0;
  double cbBar = 6, cbSpace = 0;
  double panelW = 0;
  std::vector<double> colX;   // module columns, then the difference column
  std::vector<bool> colBar;   // a per-panel colour bar right of this column
  double sharedBarX = -1;     // shared bars: x of the bar after the module columns
  std::vector<double> rowY, rowH;
  double width = 0, height = 0;
};

double panelAspect(const FigureModel& m, const FigurePanel& p) {
  if (p.kind == PanelKind::Bars) return 0.62;
  if (p.kind != PanelKind::Map) return 0.0;
  if (p.spatial && !m.underlay.empty() && !p.difference) {
    return static_cast<double>(m.underlay.rows) / m.underlay.cols;
  }
  const double a = static_cast<double>(p.values.size(0)) / static_cast<double>(p.values.size(1));
  return std::clamp(a, 0.2, 5.0);
}

Layout computeLayout(const FigureModel& m) {
  Layout L;
  const FigureSpec& s = m.spec;
  L.fs = s.layout.fontSizePt;
  L.titleH = s.layout.titles ? L.fs * 1.6 : 0;
  L.rowLabelW = s.layout.titles ? L.fs * 1.6 : 0;
  // bar, tick marks and labels ("-5e-07" in about 3 em), the rotated range label
  L.cbSpace = 2 + L.cbBar + 2 + L.fs * 3.0 + L.fs * 1.4;
  const int nMod = static_cast<int>(s.columns.size());
  const bool diff = s.difference.has_value();
  bool anyMap = false;
  L.colBar.assign(m.columns, false);
  for (int c = 0; c < nMod; ++c) {
    for (int r = 0; r < m.rows; ++r) {
      if (m.panel(r, c).kind == PanelKind::Map) {
        anyMap = true;
        if (!s.scale.shared) L.colBar[c] = true;
      }
    }
  }
  if (diff) L.colBar[nMod] = true;
  const double widthPt = s.layout.widthIn * 72.0;
  double fixed = 2 * L.margin + L.rowLabelW + (m.columns - 1) * L.gap;
  for (int c = 0; c < m.columns; ++c) fixed += L.colBar[c] ? L.cbSpace : 0;
  if (s.scale.shared && anyMap) fixed += L.cbSpace + L.gap;
  L.panelW = (widthPt - fixed) / m.columns;
  if (L.panelW < 12) {
    throw Error(ErrorKind::Usage, "the figure is too narrow: " + std::to_string(m.columns) +
                                      " panels in " + std::to_string(s.layout.widthIn) +
                                      " in leave under 12 pt each; widen layout.width_in");
  }
  double x = L.margin + L.rowLabelW;
  for (int c = 0; c < m.columns; ++c) {
    if (c == nMod && s.scale.shared && anyMap) {
      L.sharedBarX = x - L.gap + 2;
      x += L.cbSpace + L.gap - 2 + 2;
    }
    L.colX.push_back(x);
    x += L.panelW + (L.colBar[c] ? L.cbSpace : 0) + L.gap;
  }
  if (!diff && s.scale.shared && anyMap) L.sharedBarX = x - L.gap + 2;
  L.width = widthPt;
  // Colour-bar tick labels are centred on their ticks: the ones at a bar's ends reach half a
  // line (of the 0.85 em tick font) beyond the bar, which the 3 pt margin did not hold (the
  // bottom "0" was cut by the page edge).
  const double tickOverhang = L.fs * 0.85 * 0.75;
  double y = std::max(L.margin + L.titleH, tickOverhang);
  for (int r = 0; r < m.rows; ++r) {
    double a = 0;
    for (int c = 0; c < m.columns; ++c) a = std::max(a, panelAspect(m, m.panel(r, c)));
    if (a == 0) a = 0.4;
    L.rowY.push_back(y);
    L.rowH.push_back(L.panelW * a);
    y += L.panelW * a + L.gap;
  }
  L.height = y - L.gap + std::max(L.margin, tickOverhang);
  return L;
}

/// `fontScale` = figure dpi / device dpi: 1 for exports (the device has the figure's dpi), the
/// screen's ratio in the compare view.
///
/// One face only, no bold: Qt writes a PDF's embedded fonts in the order of a salted QHash,
/// so a second face (bold letters) made the same spec give two different PDFs by chance.
QFont makeFont(const FigureModel& m, double sizePt, double fontScale) {
  QFont f(QString::fromStdString(m.spec.layout.fontFamily));
  f.setPointSizeF(sizePt * fontScale);
  // Hinting depends on the platform's settings; without it GUI and CLI draw the same glyphs.
  f.setHintingPreference(QFont::PreferNoHinting);
  f.setKerning(true);
  f.setStyleStrategy(QFont::NoSubpixelAntialias);  // subpixel AA follows the screen: not in figures
  return f;
}

QString fmt(double v) {
  if (std::fabs(v) < 1e-300) v = 0.0;  // no "-0"
  return QString::number(v, 'g', 3);
}

/// "Nice" tick values (1, 2, 5 x 10^k steps) within [lo, hi], at most about five.
std::vector<double> niceTicks(double lo, double hi) {
  std::vector<double> t;
  const double span = hi - lo;
  if (!(span > 0) || !std::isfinite(span)) return {lo};
  const double raw = span / 4.0;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  double step = p;
  for (double k : {1.0, 2.0, 5.0, 10.0}) {
    step = k * p;
    if (span / step <= 5.0) break;
  }
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  }
  return t;
}

QImage toQImage(const cv::Mat& rgb) {
  QImage img(rgb.data, rgb.cols, rgb.rows, static_cast<int>(rgb.step), QImage::Format_RGB888);
  return img.copy();
}

class Painter {
 public:
  Painter(QPainter& p, const FigureModel& m, double dpi, double rasterDpi, const FigureViewport& vp)
      : p_(p), m_(m), L_(computeLayout(m)), u_(dpi / 72.0), rasterDpi_(rasterDpi), dpi_(dpi), vp_(vp) {
    const int deviceDpi = p.device() ? p.device()->logicalDpiY() : 0;
    fs_ = deviceDpi > 0 ? dpi / deviceDpi : 1.0;
  }

  std::vector<PaintedPanel> panels;

  void paint() {
    p_.save();
    p_.setRenderHint(QPainter::Antialiasing, true);
    p_.setRenderHint(QPainter::TextAntialiasing, true);
    p_.setRenderHint(QPainter::SmoothPixmapTransform, false);
    p_.setRenderHint(QPainter::LosslessImageRendering, true);  // PDF: Flate, never JPEG
    const FigureSpec& s = m_.spec;
    const int nMod = static_cast<int>(s.columns.size());
    if (s.layout.titles) {
      p_.setFont(makeFont(m_, L_.fs, fs_));
      p_.setPen(Qt::black);
      for (int c = 0; c < m_.columns; ++c) {
        const QRectF r = rect(L_.colX[c], L_.margin, L_.panelW, L_.titleH);
        p_.drawText(r, Qt::AlignHCenter | Qt::AlignVCenter,
                    elide(QString::fromStdString(m_.columnTitles[c]), r.width()));
      }
      for (int r = 0; r < m_.rows; ++r) {
        p_.save();
        const double cx = (L_.margin + L_.rowLabelW / 2) * u_, cy = (L_.rowY[r] + L_.rowH[r] / 2) * u_;
        p_.translate(cx, cy);
        p_.rotate(-90);
        const double w = L_.rowH[r] * u_, h = L_.rowLabelW * u_;
        fitFont(QString::fromStdString(m_.rowLabels[r]), w, L_.fs);
        p_.drawText(QRectF(-w / 2, -h / 2, w, h), Qt::AlignCenter,
                    elide(QString::fromStdString(m_.rowLabels[r]), w));
        p_.restore();
      }
    }
    for (int r = 0; r < m_.rows; ++r) {
      for (int c = 0; c < m_.columns; ++c) {
        const FigurePanel& panel = m_.panel(r, c);
        const double a = panelAspect(m_, panel);
        const double h = a > 0 ? L_.panelW * a : L_.rowH[r];
        const QRectF box = snap(rect(L_.colX[c], L_.rowY[r], L_.panelW, h));
        panels.push_back({r, c, box});
        switch (panel.kind) {
          case PanelKind::Map: drawMap(panel, box); break;
          case PanelKind::Bars: drawBars(panel, box); break;
          case PanelKind::Empty: drawEmpty(panel, box); break;
        }
        if (panel.kind == PanelKind::Map && L_.colBar[c]) {
          drawColorbar(m_.colorbars[panel.colorbar],
                       rect(L_.colX[c] + L_.panelW + 2, L_.rowY[r], L_.cbBar, h));
        }
      }
      if (s.scale.shared && L_.sharedBarX >= 0) {
        for (int c = 0; c < nMod; ++c) {
          const FigurePanel& panel = m_.panel(r, c);
          if (panel.kind != PanelKind::Map) continue;
          drawColorbar(m_.colorbars[panel.colorbar], rect(L_.sharedBarX, L_.rowY[r], L_.cbBar, L_.rowH[r]));
          break;
        }
      }
    }
    p_.restore();
  }

  const Layout& layout() const { return L_; }

 private:
  QRectF rect(double x, double y, double w, double h) const {
    return QRectF(x * u_, y * u_, w * u_, h * u_);
  }
  /// Whole device pixels, so a PNG raster maps 1:1 onto image pixels.
  static QRectF snap(const QRectF& r) {
    const double x0 = std::round(r.left()), y0 = std::round(r.top());
    return QRectF(x0, y0, std::max(1.0, std::round(r.right()) - x0), std::max(1.0, std::round(r.bottom()) - y0));
  }
  QString elide(const QString& text, double width) const {
    return QFontMetricsF(p_.font(), p_.device()).elidedText(text, Qt::ElideRight, width);
  }

  /// Sets the largest font from `size` down to 5 pt in which `text` fits `width` (it is
  /// elided below that).
  void fitFont(const QString& text, double width, double size) {
    while (size > 5.0 && QFontMetricsF(makeFont(m_, size, fs_), p_.device()).horizontalAdvance(text) > width) {
      size -= 0.5;
    }
    p_.setFont(makeFont(m_, size, fs_));
  }

  void drawLetter(const FigurePanel& panel, const QRectF& box) {
    if (!m_.spec.layout.panelLetters || panel.letter.empty()) return;
    p_.save();
    // "(a)" in the text face, the IEEE style of subfigure labels (see makeFont()).
    p_.setFont(makeFont(m_, L_.fs, fs_));
    const QString text = QStringLiteral("(%1)").arg(QString::fromStdString(panel.letter));
    const QFontMetricsF fm(p_.font(), p_.device());
    const double pad = 1.2 * u_;
    const QRectF tr(box.left() + pad, box.top() + pad, fm.horizontalAdvance(text) + 2 * pad,
                    fm.height() + 0.5 * pad);
    p_.setPen(Qt::NoPen);
    p_.setBrush(QColor(255, 255, 255, 210));
    p_.drawRect(tr);
    p_.setPen(Qt::black);
    p_.drawText(tr, Qt::AlignCenter, text);
    p_.restore();
  }

  void drawMap(const FigurePanel& panel, const QRectF& box) {
    // PNG: one raster pixel per image pixel; SVG/PDF: rasterDpi (>= 300).
    const double scale = rasterDpi_ / dpi_;
    const QRectF& u = vp_.unit;
    // Zoomed (on screen only): compose the whole map at the zoomed size, draw the visible part.
    const double zx = 1.0 / std::max(u.width(), 1.0 / 64), zy = 1.0 / std::max(u.height(), 1.0 / 64);
    const int w = std::max(1, static_cast<int>(std::lround(box.width() * scale * zx)));
    const int h = std::max(1, static_cast<int>(std::lround(box.height() * scale * zy)));
    const QImage img = toQImage(composePanel(m_, panel, cv::Size(w, h)));
    if (u == QRectF(0, 0, 1, 1)) {
      p_.drawImage(box, img);
    } else {
      p_.drawImage(box, img, QRectF(u.left() * w, u.top() * h, u.width() * w, u.height() * h));
    }
    if (vp_.crosshair.x() >= 0 && u.contains(vp_.crosshair)) {
      const double cx = box.left() + (vp_.crosshair.x() - u.left()) / u.width() * box.width();
      const double cy = box.top() + (vp_.crosshair.y() - u.top()) / u.height() * box.height();
      p_.save();
      p_.setPen(QPen(QColor(255, 255, 255, 220), 2.2));
      p_.drawLine(QPointF(cx, box.top()), QPointF(cx, box.bottom()));
      p_.drawLine(QPointF(box.left(), cy), QPointF(box.right(), cy));
      p_.setPen(QPen(Qt::black, 1.0, Qt::DashLine));
      p_.drawLine(QPointF(cx, box.top()), QPointF(cx, box.bottom()));
      p_.drawLine(QPointF(box.left(), cy), QPointF(box.right(), cy));
      p_.restore();
    }
    p_.save();
    p_.setPen(QPen(QColor(60, 60, 60), 0.4 * u_));
    p_.setBrush(Qt::NoBrush);
    p_.drawRect(box);
    p_.restore();
    drawLetter(panel, box);
  }

  void drawBars(const FigurePanel& panel, const QRectF& box) {
    p_.save();
    const QFont small = makeFont(m_, L_.fs * 0.85, fs_);
    p_.setFont(small);
    const QFontMetricsF fm(small, p_.device());
    const double left = fm.horizontalAdvance(QStringLiteral("-0.000")) + 3 * u_;
    const double bottom = fm.height() * 1.3;
    const QRectF plot(box.left() + left, box.top(), box.width() - left, box.height() - bottom);
    const double lo = panel.range.lo, hi = panel.range.hi;
    const auto y = [&](double v) {
      const double t = std::clamp((v - lo) / (hi - lo), 0.0, 1.0);
      return plot.bottom() - t * plot.height();
    };
    const at::Tensor v = panel.values.to(at::kDouble).contiguous();
    const double* d = v.data_ptr<double>();
    const int64_t n = v.numel();
    const double bw = plot.width() / static_cast<double>(n);
    const double base = y(std::clamp(0.0, lo, hi));
    p_.setPen(Qt::NoPen);
    for (int64_t i = 0; i < n; ++i) {
      const double t = std::clamp((d[i] - lo) / (hi - lo), 0.0, 1.0);
      const auto rgb = render::colormapColor(m_.spec.scale.colormap, t);
      p_.setBrush(QColor(rgb[0], rgb[1], rgb[2]));
      const double top = y(d[i]);
      p_.drawRect(QRectF(plot.left() + i * bw, std::min(top, base), std::max(bw * 0.85, 0.3 * u_),
                         std::fabs(base - top)));
    }
    p_.setPen(QPen(Qt::black, 0.5 * u_));
    p_.setBrush(Qt::NoBrush);
    p_.drawLine(plot.bottomLeft(), plot.bottomRight());
    p_.drawLine(plot.bottomLeft(), plot.topLeft());
    for (double t : niceTicks(lo, hi)) {
      const double yy = y(t);
      p_.drawLine(QPointF(plot.left() - 2 * u_, yy), QPointF(plot.left(), yy));
      p_.drawText(QRectF(box.left(), yy - fm.height() / 2, left - 3 * u_, fm.height()),
                  Qt::AlignRight | Qt::AlignVCenter, fmt(t));
    }
    // The longest label that fits a narrow panel: "channel (0-31), weight", then shorter.
    QString label = QStringLiteral("channel (0-%1), %2").arg(n - 1).arg(QString::fromStdString(panel.probe));
    for (const QString& shorter : {QStringLiteral("channel (0-%1)").arg(n - 1), QStringLiteral("0-%1").arg(n - 1)}) {
      if (fm.horizontalAdvance(label) <= plot.width()) break;
      label = shorter;
    }
    p_.drawText(QRectF(plot.left(), plot.bottom(), plot.width(), bottom), Qt::AlignCenter, label);
    p_.restore();
    // Inside the plot, not over the tick labels.
    drawLetter(panel, plot.adjusted(1.5 * u_, 0, 0, 0));
  }

  void drawEmpty(const FigurePanel& panel, const QRectF& box) {
    p_.save();
    p_.setPen(QPen(QColor(180, 180, 180), 0.4 * u_));
    p_.setBrush(QColor(245, 245, 245));
    p_.drawRect(box);
    p_.setFont(makeFont(m_, L_.fs * 0.8, fs_));
    p_.setPen(QColor(90, 90, 90));
    p_.drawText(box.adjusted(2 * u_, 2 * u_, -2 * u_, -2 * u_), Qt::AlignCenter | Qt::TextWordWrap,
                QString::fromStdString(panel.note));
    p_.restore();
  }

  void drawColorbar(const FigureColorbar& bar, const QRectF& r) {
    // Vector: one filled rectangle per LUT entry (the exact 256 colours, no resampling).
    p_.save();
    p_.setPen(Qt::NoPen);
    p_.setRenderHint(QPainter::Antialiasing, false);  // blended edges would show as stripes
    const double step = r.height() / 256.0;
    for (int i = 0; i < 256; ++i) {
      const auto c = render::colormapLut(bar.colormap)[static_cast<size_t>(i)];
      p_.setBrush(QColor(c[0], c[1], c[2]));
      // a hair of overlap so that no background shows between neighbours
      p_.drawRect(QRectF(r.left(), r.bottom() - (i + 1) * step, r.width(), step * 1.05));
    }
    p_.restore();
    p_.save();
    p_.setPen(QPen(QColor(60, 60, 60), 0.4 * u_));
    p_.setBrush(Qt::NoBrush);
    p_.drawRect(r);
    const QFont small = makeFont(m_, L_.fs * 0.85, fs_);
    p_.setFont(small);
    const QFontMetricsF fm(small, p_.device());
    const double lo = bar.range.lo, hi = bar.range.hi;
    for (double t : niceTicks(lo, hi)) {
      const double yy = r.bottom() - (t - lo) / (hi - lo) * r.height();
      p_.drawLine(QPointF(r.right(), yy), QPointF(r.right() + 1.5 * u_, yy));
      p_.drawText(QRectF(r.right() + 2 * u_, yy - fm.height() / 2, L_.fs * 3.0 * u_, fm.height()),
                  Qt::AlignLeft | Qt::AlignVCenter, fmt(t));
    }
    // The range and how it was chosen, along the bar: a reader must see which scale it is.
    p_.translate(r.right() + (2 + L_.fs * 3.0 + L_.fs * 0.7) * u_, r.center().y());
    p_.rotate(-90);
    QString label = QString::fromStdString(bar.label);
    // On a short bar the range goes first (the ticks give it): "A - B symmetric" stays whole
    // rather than "A - B symmetric [-0.148...".
    const int bracket = label.indexOf(QStringLiteral(" ["));
    if (bracket > 0 && QFontMetricsF(makeFont(m_, 6.0, fs_), p_.device()).horizontalAdvance(label) > r.height()) {
      label = label.left(bracket);
    }
    fitFont(label, r.height(), L_.fs * 0.85);
    label = QFontMetricsF(p_.font(), p_.device()).elidedText(label, Qt::ElideRight, r.height());
    p_.drawText(QRectF(-r.height() / 2, -L_.fs * 0.7 * u_, r.height(), L_.fs * 1.4 * u_), Qt::AlignCenter, label);
    p_.restore();
  }

  QPainter& p_;
  const FigureModel& m_;
  Layout L_;
  double u_, rasterDpi_, dpi_;
  FigureViewport vp_;
  double fs_ = 1.0;
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

void commit(QSaveFile& f, const std::string& path) {
  if (!f.commit()) {
    throw Error(ErrorKind::Input, path + ": cannot be written (" + f.errorString().toStdString() + ")");
  }
}

void writeText(const std::string& path, const std::string& text) {
  requireReplaceableTarget(path);
  QSaveFile f(QString::fromStdString(path));
  if (!f.open(QIODevice::WriteOnly)) {
    throw Error(ErrorKind::Input, path + ": cannot be written (" + f.errorString().toStdString() + ")");
  }
  f.write(text.data(), static_cast<qint64>(text.size()));
  commit(f, path);
}

}  // namespace

FigureFormat formatForPath(const std::string& path) {
  const std::string ext = lower(QFileInfo(QString::fromStdString(path)).suffix().toStdString());
  if (ext == "png") return FigureFormat::Png;
  if (ext == "svg") return FigureFormat::Svg;
  if (ext == "pdf") return FigureFormat::Pdf;
  throw Error(ErrorKind::Usage, path + ": figures are written as .png, .svg or .pdf");
}

QSizeF figureSizeInches(const FigureModel& model) {
  const Layout L = computeLayout(model);
  return QSizeF(L.width / 72.0, L.height / 72.0);
}

std::vector<PaintedPanel> paintFigure(QPainter& painter, const FigureModel& model, double dpi,
                                      double rasterDpi, const FigureViewport& viewport) {
  Painter p(painter, model, dpi, rasterDpi, viewport);
  p.paint();
  return p.panels;
}

QImage renderFigureImage(const FigureModel& model) {
  const double dpi = model.spec.layout.dpi;
  const QSizeF in = figureSizeInches(model);
  QImage img(static_cast<int>(std::lround(in.width() * dpi)), static_cast<int>(std::lround(in.height() * dpi)),
             QImage::Format_RGB32);
  const int dpm = static_cast<int>(std::lround(dpi / 0.0254));
  img.setDotsPerMeterX(dpm);
  img.setDotsPerMeterY(dpm);
  img.fill(Qt::white);
  QPainter p(&img);
  paintFigure(p, model, dpi, dpi);
  p.end();
  return img;
}

std::vector<std::string> exportFiles(const std::string& path, const ExportOptions& options) {
  std::vector<std::string> files{path};
  if (options.writeSpec) files.push_back(path + ".spec.json");
  if (options.writeStats) files.push_back(path + ".stats.csv");
  return files;
}

FigureSpec specForExport(const FigureModel& model, const std::string& figurePath) {
  FigureSpec s = model.spec;
  const std::string dir = QFileInfo(QString::fromStdString(figurePath)).absolutePath().toStdString();
  mapSpecPaths(s, [&](const std::string& p) { return relativePath(resolvePath(p, model.baseDir), dir); });
  s.output = QFileInfo(QString::fromStdString(figurePath)).fileName().toStdString();
  return s;
}

namespace {

/// Qt stamps every PDF with the time it was written, so one spec would never give the same
/// file twice. The date is blanked (same length, so every xref offset stays right; like
/// matplotlib's metadata={"CreationDate": None}), or set from SOURCE_DATE_EPOCH when that is
/// set (the reproducible-builds convention).
QByteArray reproduciblePdf(QByteArray pdf) {
  static const QByteArray key("/CreationDate (D:");
  const qsizetype at = pdf.indexOf(key);
  if (at < 0) return pdf;
  const qsizetype end = pdf.indexOf(')', at + key.size());
  if (end < 0) return pdf;
  const qsizetype len = end + 1 - at;
  QByteArray entry(len, ' ');
  bool ok = false;
  const qint64 epoch = qEnvironmentVariable("SOURCE_DATE_EPOCH").toLongLong(&ok);
  if (ok) {
    const QByteArray date = key + QDateTime::fromSecsSinceEpoch(epoch, Qt::UTC).toString(QStringLiteral("yyyyMMddhhmmss")).toLatin1() + "Z)";
    if (date.size() <= len) entry.replace(0, date.size(), date);
  }
  pdf.replace(at, len, entry);
  return pdf;
}

}  // namespace

std::vector<std::string> exportFigure(const FigureModel& model, const std::string& path,
                                      const ExportOptions& options) {
  const FigureFormat format = formatForPath(path);
  std::vector<std::string> files = exportFiles(path, options);
  if (options.writeStats && model.statistics.rows.empty()) files.pop_back();
  // QSaveFile renames onto whatever is there: a FIFO or device must be refused, untouched.
  for (const auto& f : files) requireReplaceableTarget(f);
  if (!options.overwrite) {
    for (const auto& f : files) {
      if (QFile::exists(QString::fromStdString(f))) {
        throw Error(ErrorKind::Usage, f + " exists; choose another name or allow overwriting (--overwrite)");
      }
    }
  }
  const double dpi = model.spec.layout.dpi;
  const QSizeF in = figureSizeInches(model);
  QSaveFile out(QString::fromStdString(path));
  if (!out.open(QIODevice::WriteOnly)) {
    throw Error(ErrorKind::Input, path + ": cannot be written (" + out.errorString().toStdString() + ")");
  }
  const QString title = QStringLiteral("FusionLens figure: %1").arg(QString::fromStdString(
      [&] {
        std::string t;
        for (const auto& c : model.columnTitles) t += (t.empty() ? "" : ", ") + c;
        return t;
      }()));
  if (format == FigureFormat::Png) {
    if (!renderFigureImage(model).save(&out, "PNG")) {
      throw Error(ErrorKind::Input, path + ": the PNG encoder failed");
    }
  } else if (format == FigureFormat::Pdf) {
    const double rasterDpi = std::max(300.0, model.spec.layout.rasterDpi);
    QBuffer buffer;
    buffer.open(QIODevice::WriteOnly);
    QPdfWriter pdf(&buffer);
    pdf.setCreator(QStringLiteral("FusionLens %1").arg(QString::fromStdString(fusionLensVersion())));
    pdf.setTitle(title);
    pdf.setResolution(static_cast<int>(std::lround(dpi)));
    pdf.setPageMargins(QMarginsF(0, 0, 0, 0));
    pdf.setPageSize(QPageSize(in, QPageSize::Inch, QString(), QPageSize::ExactMatch));
    QPainter p(&pdf);
    paintFigure(p, model, dpi, rasterDpi);
    p.end();
    const QByteArray bytes = reproduciblePdf(buffer.data());
    if (out.write(bytes) != bytes.size()) {
      throw Error(ErrorKind::Input, path + ": cannot be written (" + out.errorString().toStdString() + ")");
    }
  } else {
    const double rasterDpi = std::max(300.0, model.spec.layout.rasterDpi);
    QSvgGenerator svg;
    svg.setOutputDevice(&out);
    const QSize px(static_cast<int>(std::lround(in.width() * dpi)), static_cast<int>(std::lround(in.height() * dpi)));
    svg.setSize(px);
    svg.setViewBox(QRect(QPoint(0, 0), px));
    svg.setResolution(static_cast<int>(std::lround(dpi)));
    svg.setTitle(title);
    svg.setDescription(QStringLiteral("Written by FusionLens; the figure spec is beside this file."));
    QPainter p(&svg);
    paintFigure(p, model, dpi, rasterDpi);
    p.end();
  }
  commit(out, path);
  std::vector<std::string> written{path};
  if (options.writeSpec) {
    writeText(path + ".spec.json", figureSpecJson(specForExport(model, path)));
    written.push_back(path + ".spec.json");
  }
  if (options.writeStats && !model.statistics.rows.empty()) {
    writeText(path + ".stats.csv", statisticsCsv(model));
    written.push_back(path + ".stats.csv");
  }
  return written;
}

}  // namespace fl::figure
