// core/render: colormaps, normalisation, overlay and the view reductions (fl::render).
// Expected colours are matplotlib 3.6's (cmap(t) rounded to 8 bits), computed independently of
// the generated tables; everything else is hand-computed.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <opencv2/imgproc.hpp>

#include "core/common/error.h"
#include "core/render/colormap.h"
#include "core/render/normalise.h"
#include "core/render/reductions.h"
#include "core/render/render.h"

namespace fl::render {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

at::Tensor map2(std::vector<double> values, int64_t h, int64_t w) {
  return at::tensor(values, at::kDouble).reshape({h, w});
}

template <typename F>
ErrorKind kindOf(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::Internal;  // did not throw fl::Error
}

// CIE L* of an 8-bit sRGB colour.
double lightness(const Rgb8& c) {
  auto lin = [](uint8_t v) {
    const double s = v / 255.0;
    return s <= 0.04045 ? s / 12.92 : std::pow((s + 0.055) / 1.055, 2.4);
  };
  const double y = 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  return y > 0.008856 ? 116.0 * std::cbrt(y) - 16.0 : 903.3 * y;
}

// ---------------------------------------------------------------------------------------------
// Colormaps

TEST(RenderColormap, MatplotlibEndpointsAndMidpoints) {
  struct Case {
    Colormap map;
    double t;
    Rgb8 rgb;
  };
  const std::vector<Case> cases = {
      {Colormap::Viridis, 0.0, {68, 1, 84}},     {Colormap::Viridis, 0.25, {59, 82, 139}},
      {Colormap::Viridis, 0.5, {33, 145, 140}},  {Colormap::Viridis, 1.0, {253, 231, 37}},
      {Colormap::Inferno, 0.0, {0, 0, 4}},       {Colormap::Inferno, 0.5, {188, 55, 84}},
      {Colormap::Inferno, 1.0, {252, 255, 164}}, {Colormap::Magma, 0.0, {0, 0, 4}},
      {Colormap::Magma, 0.5, {183, 55, 121}},    {Colormap::Magma, 1.0, {252, 253, 191}},
      {Colormap::Plasma, 0.0, {13, 8, 135}},     {Colormap::Plasma, 0.5, {204, 71, 120}},
      {Colormap::Plasma, 1.0, {240, 249, 33}},   {Colormap::Cividis, 0.0, {0, 34, 78}},
      {Colormap::Cividis, 0.5, {125, 124, 120}}, {Colormap::Cividis, 1.0, {254, 232, 56}},
      {Colormap::Turbo, 0.0, {48, 18, 59}},      {Colormap::Turbo, 0.25, {40, 188, 235}},
      {Colormap::Turbo, 0.5, {164, 252, 60}},    {Colormap::Turbo, 1.0, {122, 4, 3}},
      {Colormap::Jet, 0.0, {0, 0, 128}},         {Colormap::Jet, 0.25, {0, 129, 255}},
      {Colormap::Jet, 0.5, {125, 255, 122}},     {Colormap::Jet, 1.0, {128, 0, 0}},
      {Colormap::Gray, 0.0, {0, 0, 0}},          {Colormap::Gray, 0.25, {64, 64, 64}},
      {Colormap::Gray, 0.5, {128, 128, 128}},    {Colormap::Gray, 1.0, {255, 255, 255}},
      {Colormap::RdBu, 0.0, {5, 48, 97}},        {Colormap::RdBu, 1.0, {103, 0, 31}},
  };
  for (const auto& c : cases)
    EXPECT_EQ(colormapColor(c.map, c.t), c.rgb) << colormapName(c.map) << "(" << c.t << ")";
}

TEST(RenderColormap, DivergingMapIsWhiteAtZeroAndBlueRedAroundIt) {
  EXPECT_TRUE(isDiverging(Colormap::RdBu));
  for (Colormap m : {Colormap::Viridis, Colormap::Turbo, Colormap::Jet, Colormap::Gray})
    EXPECT_FALSE(isDiverging(m)) << colormapName(m);
  const Rgb8 white = {255, 255, 255};
  EXPECT_EQ(colormapColor(Colormap::RdBu, 0.5), white);
  EXPECT_EQ(colormapLut(Colormap::RdBu)[127], white);
  EXPECT_EQ(colormapLut(Colormap::RdBu)[128], white);
  // Just below / above zero: near white, bluish / reddish.
  const Rgb8 below = colormapColor(Colormap::RdBu, 0.45);
  const Rgb8 above = colormapColor(Colormap::RdBu, 0.55);
  EXPECT_GT(below[2], below[0]);
  EXPECT_GT(above[0], above[2]);
  // Lightness falls symmetrically away from the centre.
  const auto& lut = colormapLut(Colormap::RdBu);
  for (int i = 1; i < 128; ++i) {
    EXPECT_GE(lightness(lut[i]) + 1e-9, lightness(lut[i - 1])) << i;
    EXPECT_GE(lightness(lut[255 - i]) + 1e-9, lightness(lut[256 - i])) << i;
  }
}

TEST(RenderColormap, ClampsAndNaN) {
  for (Colormap m : {Colormap::Viridis, Colormap::RdBu, Colormap::Jet}) {
    EXPECT_EQ(colormapColor(m, -3.0), colormapColor(m, 0.0));
    EXPECT_EQ(colormapColor(m, 7.0), colormapColor(m, 1.0));
    EXPECT_EQ(colormapColor(m, -kInf), colormapColor(m, 0.0));
    EXPECT_EQ(colormapColor(m, kInf), colormapColor(m, 1.0));
    EXPECT_EQ(colormapColor(m, kNaN), kNanColor);
  }
  EXPECT_EQ(colormapIndex(0.0), 0);
  EXPECT_EQ(colormapIndex(1.0 / 256.0 - 1e-12), 0);
  EXPECT_EQ(colormapIndex(1.0 / 256.0), 1);
  EXPECT_EQ(colormapIndex(0.5), 128);
  EXPECT_EQ(colormapIndex(1.0 - 1e-12), 255);
  EXPECT_EQ(colormapIndex(kNaN), -1);
}

TEST(RenderColormap, PerceptualMapsHaveMonotoneLightness) {
  int checked = 0;
  for (const auto& name : colormapNames()) {
    const Colormap m = parseColormap(name);
    if (!isPerceptuallyUniform(m)) continue;
    ++checked;
    const auto& lut = colormapLut(m);
    for (int i = 1; i < 256; ++i)  // 8-bit rounding may wobble by a few hundredths of L*
      EXPECT_GE(lightness(lut[i]), lightness(lut[i - 1]) - 0.1) << name << " entry " << i;
    for (int i = 8; i < 256; ++i)
      EXPECT_GT(lightness(lut[i]), lightness(lut[i - 8]) + 0.5) << name << " entry " << i;
  }
  EXPECT_EQ(checked, 6);  // viridis, inferno, magma, plasma, cividis, gray
  EXPECT_FALSE(isPerceptuallyUniform(Colormap::Turbo));
  EXPECT_FALSE(isPerceptuallyUniform(Colormap::Jet));
}

TEST(RenderColormap, NamesParseAndErrors) {
  const auto& names = colormapNames();
  ASSERT_EQ(names.size(), 9u);
  EXPECT_EQ(names.front(), "viridis");
  EXPECT_EQ(kDefaultColormap, Colormap::Viridis);
  for (const auto& n : names) EXPECT_EQ(colormapName(parseColormap(n)), n);
  EXPECT_EQ(parseColormap("Inferno"), Colormap::Inferno);
  EXPECT_EQ(parseColormap("grey"), Colormap::Gray);
  EXPECT_EQ(parseColormap("RdBu_r"), Colormap::RdBu);
  try {
    parseColormap("hsv");
    FAIL() << "parseColormap accepted 'hsv'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'hsv'"), std::string::npos) << msg;
    for (const auto& n : names) EXPECT_NE(msg.find(n), std::string::npos) << msg;
  }
  EXPECT_EQ(kindOf([] { parseColormap(""); }), ErrorKind::Usage);
}

// ---------------------------------------------------------------------------------------------
// Normalisation

TEST(RenderNormalise, NaturalRangeIsKeptAndNotRescaled) {
  const at::Tensor m = map2({0.2, 0.8, 0.5, 0.0}, 2, 2);
  const Range r = computeRange(m, NormSpec{}, 0.0, 1.0);
  EXPECT_EQ(r.mode, NormMode::Natural);
  EXPECT_DOUBLE_EQ(r.lo, 0.0);
  EXPECT_DOUBLE_EQ(r.hi, 1.0);
  EXPECT_EQ(r.description, "natural [0, 1]");
  EXPECT_FALSE(r.degenerate);
  const cv::Mat u = normalise(m, r);
  ASSERT_EQ(u.type(), CV_32FC1);
  ASSERT_EQ(u.rows, 2);
  ASSERT_EQ(u.cols, 2);
  EXPECT_FLOAT_EQ(u.at<float>(0, 0), 0.2f);
  EXPECT_FLOAT_EQ(u.at<float>(0, 1), 0.8f);
  EXPECT_FLOAT_EQ(u.at<float>(1, 0), 0.5f);
  EXPECT_FLOAT_EQ(u.at<float>(1, 1), 0.0f);
}

TEST(RenderNormalise, NaturalFallsBackToMinMaxForUnboundedProbes) {
  const at::Tensor m = map2({-2.0, 6.0}, 1, 2);
  const Range r = computeRange(m, NormSpec{NormMode::Natural}, kNaN, kNaN);
  EXPECT_EQ(r.mode, NormMode::MinMax);
  EXPECT_DOUBLE_EQ(r.lo, -2.0);
  EXPECT_DOUBLE_EQ(r.hi, 6.0);
  EXPECT_NE(r.description.find("min-max [-2, 6]"), std::string::npos) << r.description;
  EXPECT_NE(r.description.find("fell back to min-max"), std::string::npos) << r.description;
}

TEST(RenderNormalise, MinMaxPerMap) {
  const at::Tensor m = map2({-1.0, 0.0, 3.0, 1.0}, 2, 2);
  const Range r = computeRange(m, NormSpec{NormMode::MinMax}, 0.0, 1.0);
  EXPECT_DOUBLE_EQ(r.lo, -1.0);
  EXPECT_DOUBLE_EQ(r.hi, 3.0);
  EXPECT_EQ(r.description, "min-max [-1, 3]");
  EXPECT_EQ(r.finiteCount, 4);
  const cv::Mat u = normalise(m, r);
  EXPECT_FLOAT_EQ(u.at<float>(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(u.at<float>(0, 1), 0.25f);
  EXPECT_FLOAT_EQ(u.at<float>(1, 0), 1.0f);
  EXPECT_FLOAT_EQ(u.at<float>(1, 1), 0.5f);
}

TEST(RenderNormalise, PercentileInterpolatesAndClipsOutliers) {
  // 0, 1, ..., 98 and one outlier 1000 (100 values). numpy: percentile(v, 1) = 0.99,
  // percentile(v, 99) = 98 + 0.01 * (1000 - 98) = 107.02.
  std::vector<double> v;
  for (int i = 0; i < 99; ++i) v.push_back(i);
  v.push_back(1000.0);
  const at::Tensor m = map2(v, 10, 10);
  NormSpec spec{NormMode::Percentile};
  const Range r = computeRange(m, spec, 0.0, 1.0);
  EXPECT_NEAR(r.lo, 0.99, 1e-12);
  EXPECT_NEAR(r.hi, 107.02, 1e-9);
  EXPECT_EQ(r.description.rfind("p1-p99 [", 0), 0u) << r.description;
  const cv::Mat u = normalise(m, r);
  EXPECT_FLOAT_EQ(u.at<float>(0, 0), 0.0f);  // 0 < p1: clipped
  EXPECT_FLOAT_EQ(u.at<float>(9, 9), 1.0f);  // the outlier: clipped
  EXPECT_NEAR(u.at<float>(5, 0), (50.0 - 0.99) / (107.02 - 0.99), 1e-6);
  // Other percentiles, hand-computed.
  EXPECT_DOUBLE_EQ(percentile(map2({10.0, 0.0}, 1, 2), 25.0), 2.5);
  EXPECT_DOUBLE_EQ(percentile(map2({4, 0, 3, 1, 2}, 1, 5), 25.0), 1.0);
  EXPECT_DOUBLE_EQ(percentile(map2({4, 0, 3, 1, 2}, 1, 5), 100.0), 4.0);
  EXPECT_TRUE(std::isnan(percentile(map2({kNaN, kInf}, 1, 2), 50.0)));
  spec.pLo = 25;
  spec.pHi = 75;
  const Range q = computeRange(map2({4, 0, 3, 1, 2}, 1, 5), spec, 0.0, 1.0);
  EXPECT_DOUBLE_EQ(q.lo, 1.0);
  EXPECT_DOUBLE_EQ(q.hi, 3.0);
  EXPECT_EQ(q.description, "p25-p75 [1, 3]");
}

TEST(RenderNormalise, PercentileOfUnorderedValuesMatchesTheSortedDefinition) {
  // The range finds order statistics without sorting the map (issue 15): on shuffled values
  // with ties, NaN and Inf, every percentile is the one the sorted list gives.
  std::vector<double> v;
  for (int i = 0; i < 997; ++i) v.push_back(static_cast<double>((i * 7919) % 613) * 0.25 - 40.0);
  v.push_back(kNaN);
  v.push_back(kInf);
  v.push_back(-kInf);
  std::vector<double> finite(v.begin(), v.begin() + 997);
  std::sort(finite.begin(), finite.end());
  for (double p : {0.0, 0.1, 1.0, 2.5, 33.3, 50.0, 97.5, 99.0, 99.99, 100.0}) {
    const double pos = p / 100.0 * static_cast<double>(finite.size() - 1);
    const auto i = static_cast<size_t>(std::floor(pos));
    const double want = i + 1 >= finite.size() ? finite.back()
                                               : finite[i] + (finite[i + 1] - finite[i]) * (pos - static_cast<double>(i));
    EXPECT_DOUBLE_EQ(percentile(map2(v, 1, 1000), p), want) << "p=" << p;
  }
  NormSpec spec{NormMode::Percentile};
  spec.pLo = 2.5;
  spec.pHi = 97.5;
  const Range r = computeRange(map2(v, 1, 1000), spec, 0.0, 1.0);
  EXPECT_DOUBLE_EQ(r.lo, percentile(map2(v, 1, 1000), 2.5));
  EXPECT_DOUBLE_EQ(r.hi, percentile(map2(v, 1, 1000), 97.5));
  EXPECT_EQ(r.finiteCount, 997);
  const Range m = computeRange(map2(v, 1, 1000), NormSpec{NormMode::MinMax}, 0.0, 1.0);
  EXPECT_DOUBLE_EQ(m.lo, finite.front());
  EXPECT_DOUBLE_EQ(m.hi, finite.back());
  const Range s = computeRange(map2(v, 1, 1000), NormSpec{NormMode::Symmetric}, 0.0, 1.0);
  EXPECT_DOUBLE_EQ(s.hi, std::max(std::fabs(finite.front()), std::fabs(finite.back())));
}

TEST(RenderNormalise, SymmetricCentresZero) {
  const at::Tensor m = map2({-2.0, 1.0, 0.0, 0.5}, 2, 2);
  const Range r = computeRange(m, NormSpec{NormMode::Symmetric}, 0.0, 1.0);
  EXPECT_DOUBLE_EQ(r.lo, -2.0);
  EXPECT_DOUBLE_EQ(r.hi, 2.0);
  EXPECT_EQ(r.description, "symmetric [-2, 2]");
  const cv::Mat u = normalise(m, r);
  EXPECT_FLOAT_EQ(u.at<float>(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(u.at<float>(0, 1), 0.75f);
  EXPECT_FLOAT_EQ(u.at<float>(1, 0), 0.5f);
  EXPECT_FLOAT_EQ(u.at<float>(1, 1), 0.625f);
  // Zero renders white with the diverging map.
  const cv::Mat rgb =
      renderHeatmap(m, NormSpec{NormMode::Symmetric}, Colormap::RdBu, 0, 1, nullptr);
  EXPECT_EQ(rgb.at<cv::Vec3b>(1, 0), cv::Vec3b(255, 255, 255));
}

TEST(RenderNormalise, FixedRangeAndInvalidSpecs) {
  NormSpec spec{NormMode::Fixed, -1.0, 1.0};
  const at::Tensor m = map2({-3.0, 0.5, 2.0}, 1, 3);
  const Range r = computeRange(m, spec, 0.0, 1.0);
  EXPECT_DOUBLE_EQ(r.lo, -1.0);
  EXPECT_DOUBLE_EQ(r.hi, 1.0);
  EXPECT_EQ(r.description, "fixed [-1, 1]");
  const cv::Mat u = normalise(m, r);
  EXPECT_FLOAT_EQ(u.at<float>(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(u.at<float>(0, 1), 0.75f);
  EXPECT_FLOAT_EQ(u.at<float>(0, 2), 1.0f);

  EXPECT_EQ(kindOf([&] {
              computeRange(m, NormSpec{NormMode::Fixed, 1.0, 1.0}, 0, 1);
            }),
            ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] {
              computeRange(m, NormSpec{NormMode::Fixed, 2.0, 1.0}, 0, 1);
            }),
            ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] {
              computeRange(m, NormSpec{NormMode::Fixed, kNaN, 1.0}, 0, 1);
            }),
            ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] {
              computeRange(m, NormSpec{NormMode::Percentile, 0, 1, 99, 1}, 0, 1);
            }),
            ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] {
              computeRange(m, NormSpec{NormMode::Percentile, 0, 1, -1, 50}, 0, 1);
            }),
            ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] {
              computeRange(m, NormSpec{NormMode::Percentile, 0, 1, 1, 101}, 0, 1);
            }),
            ErrorKind::Usage);
  Range bad;
  bad.lo = bad.hi = 0.5;
  EXPECT_EQ(kindOf([&] { normalise(m, bad); }), ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] {
              normalise(at::zeros({2, 2, 2}), computeRange(m, spec, 0, 1));
            }),
            ErrorKind::Input);
}

TEST(RenderNormalise, IgnoresAndReportsNaNAndInf) {
  const at::Tensor m = map2({kNaN, 1.0, 2.0, kInf, -kInf, 3.0}, 2, 3);
  const Range r = computeRange(m, NormSpec{NormMode::MinMax}, 0.0, 1.0);
  EXPECT_DOUBLE_EQ(r.lo, 1.0);
  EXPECT_DOUBLE_EQ(r.hi, 3.0);
  EXPECT_EQ(r.finiteCount, 3);
  EXPECT_EQ(r.nanCount, 1);
  EXPECT_EQ(r.infCount, 2);
  EXPECT_EQ(r.description, "min-max [1, 3]; ignored 1 NaN and 2 Inf");
  const Range s = computeRange(m, NormSpec{NormMode::Symmetric}, 0.0, 1.0);
  EXPECT_DOUBLE_EQ(s.hi, 3.0);
  const Range p = computeRange(m, NormSpec{NormMode::Percentile, 0, 1, 0, 100}, 0.0, 1.0);
  EXPECT_DOUBLE_EQ(p.lo, 1.0);
  EXPECT_DOUBLE_EQ(p.hi, 3.0);

  const cv::Mat u = normalise(m, r);
  EXPECT_TRUE(std::isnan(u.at<float>(0, 0)));
  EXPECT_FLOAT_EQ(u.at<float>(0, 2), 0.5f);
  EXPECT_FLOAT_EQ(u.at<float>(1, 0), 1.0f);  // +Inf
  EXPECT_FLOAT_EQ(u.at<float>(1, 1), 0.0f);  // -Inf
  const cv::Mat rgb = applyColormap(u, Colormap::Viridis);
  const Rgb8 nan = kNanColor;
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 0), cv::Vec3b(nan[0], nan[1], nan[2]));
  EXPECT_EQ(rgb.at<cv::Vec3b>(1, 0), cv::Vec3b(253, 231, 37));

  // Only non-finite values: a usable default range, flagged.
  const at::Tensor none = map2({kNaN, kInf}, 1, 2);
  const Range n = computeRange(none, NormSpec{NormMode::MinMax}, 0.0, 1.0);
  EXPECT_TRUE(n.degenerate);
  EXPECT_EQ(n.finiteCount, 0);
  EXPECT_LT(n.lo, n.hi);
  EXPECT_NE(n.description.find("no finite values"), std::string::npos) << n.description;
  EXPECT_NO_THROW(normalise(none, n));
}

TEST(RenderNormalise, ConstantMapsDoNotDivideByZero) {
  const at::Tensor c = at::full({3, 4}, 0.7, at::kFloat);
  for (NormMode mode : {NormMode::MinMax, NormMode::Percentile, NormMode::Natural}) {
    const Range r = computeRange(c, NormSpec{mode}, kNaN, kNaN);
    EXPECT_TRUE(r.degenerate) << normModeName(mode);
    EXPECT_LT(r.lo, r.hi);
    EXPECT_NE(r.description.find("constant map"), std::string::npos) << r.description;
    const cv::Mat u = normalise(c, r);
    for (int y = 0; y < u.rows; ++y)
      for (int x = 0; x < u.cols; ++x) EXPECT_FLOAT_EQ(u.at<float>(y, x), 0.5f);
  }
  const at::Tensor zeros = at::zeros({2, 2});
  const Range s = computeRange(zeros, NormSpec{NormMode::Symmetric}, 0.0, 1.0);
  EXPECT_TRUE(s.degenerate);
  EXPECT_FLOAT_EQ(normalise(zeros, s).at<float>(1, 1), 0.5f);
  // The natural range is a fixed scale: a constant map is not degenerate there.
  const Range nat = computeRange(c, NormSpec{}, 0.0, 1.0);
  EXPECT_FALSE(nat.degenerate);
  EXPECT_FLOAT_EQ(normalise(c, nat).at<float>(0, 0), 0.7f);
}

TEST(RenderNormalise, SharedRangeSpansAllPanels) {
  const Range r = computeSharedRange({map2({0.0, 1.0}, 1, 2), map2({2.0, 5.0, kNaN, 3}, 2, 2)},
                                     NormSpec{NormMode::MinMax}, 0.0, 1.0);
  EXPECT_DOUBLE_EQ(r.lo, 0.0);
  EXPECT_DOUBLE_EQ(r.hi, 5.0);
  EXPECT_EQ(r.nanCount, 1);
  EXPECT_EQ(r.description.rfind("shared min-max [0, 5]", 0), 0u) << r.description;
  EXPECT_EQ(kindOf([] { computeSharedRange({}, NormSpec{}, 0, 1); }), ErrorKind::Input);
}

TEST(RenderNormalise, ModeNamesAndShapes) {
  EXPECT_EQ(parseNormMode("percentile"), NormMode::Percentile);
  EXPECT_EQ(parseNormMode("Min-Max"), NormMode::MinMax);
  for (const auto& n : normModeNames()) EXPECT_EQ(normModeName(parseNormMode(n)), n);
  EXPECT_EQ(kindOf([] { parseNormMode("zscore"); }), ErrorKind::Usage);
  // [1,1,H,W] is squeezed to [H,W].
  const at::Tensor m = at::rand({1, 1, 3, 5});
  const cv::Mat u = normalise(m, computeRange(m, NormSpec{}, 0.0, 1.0));
  EXPECT_EQ(u.rows, 3);
  EXPECT_EQ(u.cols, 5);
  EXPECT_FLOAT_EQ(u.at<float>(2, 4), m[0][0][2][4].item<float>());
}

// ---------------------------------------------------------------------------------------------
// Rendering

TEST(RenderImage, ApplyColormapIsRgbAndMatchesTheLut) {
  cv::Mat u(1, 256, CV_32FC1);
  for (int i = 0; i < 256; ++i) u.at<float>(0, i) = static_cast<float>((i + 0.5) / 256.0);
  const cv::Mat rgb = applyColormap(u, Colormap::Viridis);
  ASSERT_EQ(rgb.type(), CV_8UC3);
  for (int i = 0; i < 256; ++i) {
    const Rgb8 c = colormapLut(Colormap::Viridis)[i];
    EXPECT_EQ(rgb.at<cv::Vec3b>(0, i), cv::Vec3b(c[0], c[1], c[2])) << i;
  }
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 0)[0], 68);  // channel 0 is red
  // OpenCV's own viridis is BGR and from the same published data: after the swap they agree.
  cv::Mat gray8(1, 256, CV_8UC1);
  for (int i = 0; i < 256; ++i) gray8.at<uchar>(0, i) = static_cast<uchar>(i);
  cv::Mat cvBgr;
  cv::applyColorMap(gray8, cvBgr, cv::COLORMAP_VIRIDIS);
  const cv::Mat cvRgb = rgbToBgr(cvBgr);  // the swap is its own inverse
  double maxDiff = 0;
  for (int i = 0; i < 256; ++i)
    for (int ch = 0; ch < 3; ++ch)
      maxDiff = std::max(maxDiff, std::abs(double(cvRgb.at<cv::Vec3b>(0, i)[ch]) -
                                           double(rgb.at<cv::Vec3b>(0, i)[ch])));
  EXPECT_LE(maxDiff, 3.0);
  EXPECT_EQ(kindOf([] { applyColormap(cv::Mat(2, 2, CV_8UC1), Colormap::Viridis); }),
            ErrorKind::Input);
}

cv::Mat solid(int rows, int cols, cv::Vec3b c) {
  return cv::Mat(rows, cols, CV_8UC3, cv::Scalar(c[0], c[1], c[2]));
}

TEST(RenderImage, OverlayAlphaZeroAndOneAreExact) {
  cv::Mat base(6, 8, CV_8UC3);
  cv::randu(base, 0, 256);
  cv::Mat heat(3, 4, CV_8UC3);
  cv::randu(heat, 0, 256);
  const cv::Mat a0 = overlay(base, heat, 0.0);
  EXPECT_EQ(cv::norm(a0, base, cv::NORM_INF), 0.0);
  const cv::Mat a1 = overlay(base, heat, 1.0);
  EXPECT_EQ(cv::norm(a1, resizeMap(heat, base.size(), Interpolation::Nearest), cv::NORM_INF), 0.0);
  EXPECT_EQ(a1.at<cv::Vec3b>(5, 7), heat.at<cv::Vec3b>(2, 3));
  // Blend: (1 - alpha) * base + alpha * heat.
  const cv::Mat b = overlay(solid(2, 2, {100, 0, 40}), solid(1, 1, {200, 200, 0}), 0.5);
  EXPECT_EQ(b.at<cv::Vec3b>(1, 1), cv::Vec3b(150, 100, 20));
  const cv::Mat q = overlay(solid(2, 2, {0, 0, 0}), solid(1, 1, {200, 100, 4}), 0.25);
  EXPECT_EQ(q.at<cv::Vec3b>(0, 1), cv::Vec3b(50, 25, 1));
  // A grey base is replicated to RGB.
  const cv::Mat g = overlay(cv::Mat(2, 2, CV_8UC1, cv::Scalar(80)), solid(1, 1, {0, 0, 0}), 0.0);
  EXPECT_EQ(g.type(), CV_8UC3);
  EXPECT_EQ(g.at<cv::Vec3b>(0, 0), cv::Vec3b(80, 80, 80));
  // Bad alpha and types.
  EXPECT_EQ(kindOf([&] { overlay(base, heat, 1.5); }), ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] { overlay(base, heat, -0.1); }), ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] { overlay(base, heat, kNaN); }), ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] { overlay(base, cv::Mat(2, 2, CV_32FC3), 0.5); }), ErrorKind::Input);
  EXPECT_EQ(kindOf([&] { overlay(cv::Mat(), heat, 0.5); }), ErrorKind::Input);
}

TEST(RenderImage, NearestUpsamplingKeepsCellsExact) {
  cv::Mat heat(2, 3, CV_8UC3);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) heat.at<cv::Vec3b>(y, x) = cv::Vec3b(10 * x, 100 + y, 7 * (x + y));
  // Integer factor 4: exact 4x4 blocks, no other colour appears.
  const cv::Mat up = overlay(cv::Mat::zeros(8, 12, CV_8UC3), heat, 1.0);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 12; ++x)
      ASSERT_EQ(up.at<cv::Vec3b>(y, x), heat.at<cv::Vec3b>(y / 4, x / 4)) << y << "," << x;
  // Non-integer factor 3 -> 7: pixel centres decide, floor((d + 0.5) * 3 / 7).
  const cv::Mat wide = resizeMap(heat, cv::Size(7, 2), Interpolation::Nearest);
  const int expected[7] = {0, 0, 1, 1, 1, 2, 2};
  for (int x = 0; x < 7; ++x)
    EXPECT_EQ(wide.at<cv::Vec3b>(0, x), heat.at<cv::Vec3b>(0, expected[x])) << x;
  // Bilinear is smooth: it creates colours between the cells.
  const cv::Mat smooth =
      overlay(cv::Mat::zeros(8, 12, CV_8UC3), heat, 1.0, Interpolation::Bilinear);
  const uchar mid = smooth.at<cv::Vec3b>(0, 4)[0];  // between cells 0 (0) and 1 (10)
  EXPECT_GT(mid, 0);
  EXPECT_LT(mid, 10);
}

TEST(RenderImage, RenderHeatmapComposesTheSteps) {
  const at::Tensor m = map2({0.0, 0.5, 1.0, 2.0}, 2, 2);
  Range used;
  const cv::Mat rgb = renderHeatmap(m, NormSpec{NormMode::MinMax}, Colormap::Gray, 0, 1, &used);
  EXPECT_EQ(used.description, "min-max [0, 2]");
  ASSERT_EQ(rgb.type(), CV_8UC3);
  ASSERT_EQ(rgb.size(), cv::Size(2, 2));
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 1), cv::Vec3b(64, 64, 64));  // t = 0.25 -> entry 64
  EXPECT_EQ(rgb.at<cv::Vec3b>(1, 1), cv::Vec3b(255, 255, 255));
  const cv::Mat nat = renderHeatmap(m, NormSpec{}, Colormap::Viridis, 0.0, 1.0, nullptr);
  EXPECT_EQ(nat.at<cv::Vec3b>(1, 0), cv::Vec3b(253, 231, 37));  // 1.0 on the natural scale
  EXPECT_EQ(nat.at<cv::Vec3b>(1, 1), cv::Vec3b(253, 231, 37));  // 2.0 clipped
  const cv::Mat bgr = rgbToBgr(nat);
  EXPECT_EQ(bgr.at<cv::Vec3b>(1, 0), cv::Vec3b(37, 231, 253));
}

// ---------------------------------------------------------------------------------------------
// Reductions

TEST(RenderReduce, GateMeanMapAveragesChannels) {
  const at::Tensor gate = at::arange(2 * 3 * 2 * 2, at::kFloat).reshape({2, 3, 2, 2});
  const at::Tensor m = gateMeanMap(gate, 1);
  ASSERT_EQ(m.sizes().vec(), (std::vector<int64_t>{2, 2}));
  // batch 1 starts at 12; channel c, pixel p: 12 + 4c + p; mean over c = 16 + p.
  for (int p = 0; p < 4; ++p) EXPECT_FLOAT_EQ(m.reshape({-1})[p].item<float>(), 16.0f + p);
  EXPECT_EQ(kindOf([&] { gateMeanMap(gate, 2); }), ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] { gateMeanMap(gate, -1); }), ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] { gateMeanMap(at::zeros({3, 2, 2}), 0); }), ErrorKind::Input);
}

TEST(RenderReduce, AttentionRowMapPicksTheRowAndAveragesHeads) {
  at::manual_seed(7);
  const at::Tensor attn = at::rand({2, 3, 4, 6}).softmax(-1);
  const at::Tensor m = attentionRowMap(attn, 1, 2, 3, 2, 3);
  ASSERT_EQ(m.sizes().vec(), (std::vector<int64_t>{2, 3}));
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c)
      EXPECT_FLOAT_EQ(m[r][c].item<float>(), attn[1][2][3][r * 3 + c].item<float>()) << r << c;
  // A different head or query gives a different map.
  EXPECT_FALSE(at::equal(m, attentionRowMap(attn, 1, 1, 3, 2, 3)));
  EXPECT_FALSE(at::equal(m, attentionRowMap(attn, 1, 2, 2, 2, 3)));
  // head = -1: the average of the heads' maps.
  const at::Tensor mean = attentionRowMap(attn, 0, -1, 1, 3, 2);
  const at::Tensor manual =
      (attentionRowMap(attn, 0, 0, 1, 3, 2) + attentionRowMap(attn, 0, 1, 1, 3, 2) +
       attentionRowMap(attn, 0, 2, 1, 3, 2)) /
      3.0;
  EXPECT_TRUE(at::allclose(mean, manual, 1e-6, 1e-7));
  EXPECT_NEAR(mean.sum().item<double>(), 1.0, 1e-5);  // softmax rows still sum to 1
  EXPECT_EQ(kindOf([&] { attentionRowMap(attn, 0, 3, 0, 2, 3); }), ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] { attentionRowMap(attn, 0, -2, 0, 2, 3); }), ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] { attentionRowMap(attn, 0, 0, 4, 2, 3); }), ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] { attentionRowMap(attn, 2, 0, 0, 2, 3); }), ErrorKind::Usage);
  EXPECT_EQ(kindOf([&] { attentionRowMap(attn, 0, 0, 0, 2, 2); }), ErrorKind::Input);
  EXPECT_EQ(kindOf([&] { attentionRowMap(attn[0], 0, 0, 0, 2, 3); }), ErrorKind::Input);
}

// Channel 0: 10 * column ramp (largest variance), channel 1: row ramp, channels 2-3 constant.
at::Tensor rampFeatures(int64_t h, int64_t w, double sign0 = 1.0) {
  at::Tensor f = at::zeros({4, h, w}, at::kDouble);
  f[0] = sign0 * 10.0 * at::arange(w, at::kDouble).reshape({1, w}).expand({h, w});
  f[1] = at::arange(h, at::kDouble).reshape({h, 1}).expand({h, w});
  f[2].fill_(3.0);
  f[3].fill_(-1.0);
  return f;
}

TEST(RenderReduce, PcaRgbComponentsSignsAndDeterminism) {
  const at::Tensor f = rampFeatures(6, 9);
  const cv::Mat rgb = pcaRgb(f);
  ASSERT_EQ(rgb.type(), CV_8UC3);
  ASSERT_EQ(rgb.size(), cv::Size(9, 6));
  // R follows the column ramp (PC1, positive loading on channel 0), constant down a column.
  for (int x = 1; x < 9; ++x) EXPECT_GE(rgb.at<cv::Vec3b>(0, x)[0], rgb.at<cv::Vec3b>(0, x - 1)[0]);
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 0)[0], 0);
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 8)[0], 255);
  for (int y = 1; y < 6; ++y) EXPECT_EQ(rgb.at<cv::Vec3b>(y, 3)[0], rgb.at<cv::Vec3b>(0, 3)[0]);
  // G follows the row ramp (PC2).
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 4)[1], 0);
  EXPECT_EQ(rgb.at<cv::Vec3b>(5, 4)[1], 255);
  for (int y = 1; y < 6; ++y) EXPECT_GT(rgb.at<cv::Vec3b>(y, 4)[1], rgb.at<cv::Vec3b>(y - 1, 4)[1]);
  // No third direction of variance: B is mid-grey.
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 9; ++x) ASSERT_EQ(rgb.at<cv::Vec3b>(y, x)[2], 128);

  // Deterministic: the same input gives the same bytes; float32 input and positive scaling
  // give the same picture.
  EXPECT_EQ(cv::norm(rgb, pcaRgb(f), cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(rgb, pcaRgb(f.to(at::kFloat)), cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(rgb, pcaRgb(f * 3.0 + 5.0), cv::NORM_INF), 0.0);
  // Sign convention follows the data: a negated channel 0 flips R left-right.
  const cv::Mat flipped = pcaRgb(rampFeatures(6, 9, -1.0));
  EXPECT_EQ(flipped.at<cv::Vec3b>(0, 0)[0], 255);
  EXPECT_EQ(flipped.at<cv::Vec3b>(0, 8)[0], 0);

  // Random features: repeatable, and the sign rule holds whatever LAPACK returns.
  at::manual_seed(3);
  const at::Tensor r = at::randn({16, 12, 10});
  EXPECT_EQ(cv::norm(pcaRgb(r), pcaRgb(r.clone()), cv::NORM_INF), 0.0);

  // One channel: G and B grey; bad shapes.
  const cv::Mat one = pcaRgb(f.slice(0, 0, 1));
  EXPECT_EQ(one.at<cv::Vec3b>(2, 2)[1], 128);
  EXPECT_EQ(one.at<cv::Vec3b>(2, 2)[2], 128);
  EXPECT_EQ(kindOf([] { pcaRgb(at::zeros({1, 2, 3, 4})); }), ErrorKind::Input);
  EXPECT_EQ(kindOf([] { pcaRgb(at::zeros({0, 2, 3})); }), ErrorKind::Input);
}

TEST(RenderReduce, PcaRgbToleratesNonFiniteValues) {
  at::Tensor f = rampFeatures(4, 5);
  f[1][2][2] = kNaN;
  f[0][0][0] = kInf;
  const cv::Mat rgb = pcaRgb(f);
  EXPECT_EQ(rgb.size(), cv::Size(5, 4));
  EXPECT_EQ(cv::norm(rgb, pcaRgb(f), cv::NORM_INF), 0.0);
}

}  // namespace
}  // namespace fl::render
