// Figure specs (core/figure/figure_spec.h) and the SHA-256 they record.
#include <gtest/gtest.h>

#include <string>

#include "core/common/error.h"
#include "core/common/sha256.h"
#include "core/figure/figure_spec.h"

namespace {

using fl::figure::parseFigureSpec;

TEST(Sha256, FipsVectors) {
  // FIPS 180-4 examples: "abc", the empty message and the two-block 448-bit message.
  EXPECT_EQ(fl::sha256Hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(fl::sha256Hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(fl::sha256Hex(two.data(), two.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  EXPECT_EQ(fl::sha256Hex(million.data(), million.size()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(FigureSpec, RoundTripKeepsEverything) {
  const std::string text = R"({
    "schema_version": 1,
    "inputs": [{"path": "a.png", "sha256": "ab"}, "b.npy"],
    "features": "random:channels=8,stride=2,seed=3",
    "seed": 5, "batch": 1,
    "columns": [{"module": "aff", "label": "AFF x2", "params": {"r": 2, "scale": 2.5},
                 "weights": {"path": "w.pt", "prefix": "dec."}, "seed": 9}, "eca"],
    "rows": [{"probe": "weight", "view": "complement"}, "auto"],
    "difference": [1, 0],
    "scale": {"normalisation": "percentile", "shared": false, "p_lo": 2, "p_hi": 98,
              "colormap": "magma", "diverging": "rdbu"},
    "interpolation": "bilinear", "alpha": 0.25, "underlay": 1,
    "layout": {"width": "single", "dpi": 600, "font_size_pt": 9, "panel_letters": false},
    "stats_top_percent": 5, "output": "f.pdf"
  })";
  const auto a = parseFigureSpec(text, "t.json");
  EXPECT_EQ(a.inputs.size(), 2u);
  EXPECT_EQ(a.inputs[0].sha256, "ab");
  EXPECT_EQ(a.columns[0].params.at("r"), "2");
  EXPECT_EQ(a.columns[0].params.at("scale"), "2.5");
  EXPECT_EQ(*a.columns[0].weights.prefix, "dec.");
  EXPECT_EQ(*a.columns[0].seed, 9u);
  EXPECT_FALSE(a.columns[1].seed.has_value());
  EXPECT_EQ(a.rows[0].view, "complement");
  EXPECT_EQ(a.difference->first, 1);
  EXPECT_EQ(a.scale.norm.mode, fl::render::NormMode::Percentile);
  EXPECT_FALSE(a.scale.shared);
  EXPECT_DOUBLE_EQ(a.layout.widthIn, 3.5);
  EXPECT_DOUBLE_EQ(a.layout.dpi, 600);
  EXPECT_FALSE(a.layout.panelLetters);
  const auto b = parseFigureSpec(fl::figure::figureSpecJson(a), "again");
  EXPECT_EQ(fl::figure::figureSpecJson(a), fl::figure::figureSpecJson(b));
  EXPECT_EQ(b.columns[0].label, "AFF x2");
  EXPECT_EQ(b.interpolation, fl::render::Interpolation::Bilinear);
  EXPECT_EQ(b.underlay, 1);
  EXPECT_DOUBLE_EQ(b.statsTopPercent, 5);
}

void expectUsage(const std::string& text, const std::string& fragment) {
  try {
    parseFigureSpec(text, "s.json");
    FAIL() << "accepted: " << text;
  } catch (const fl::Error& e) {
    EXPECT_EQ(e.kind(), fl::ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("s.json"), std::string::npos) << e.what();
  }
}

TEST(FigureSpec, RefusesWhatItCannotHonour) {
  const std::string base = R"("schema_version": 1, "inputs": ["a.png"], "columns": ["aff"])";
  expectUsage("[1]", "JSON object");
  expectUsage("{\"inputs\": [\"a\"], \"columns\": [\"aff\"]}", "schema_version");
  expectUsage("{" + base + ", \"colour\": 1}", "'colour' is not a known key");
  expectUsage("{" + base + ", \"layout\": {\"widht_in\": 3}}", "layout.widht_in");
  expectUsage("{" + base + ", \"alpha\": 1.5}", "'alpha' must be in [0, 1]");
  expectUsage("{" + base + ", \"difference\": [0, 0]}", "difference");
  expectUsage("{" + base + ", \"difference\": [0, 3]}", "difference[1]");
  expectUsage("{" + base + ", \"scale\": {\"normalisation\": \"loud\"}}", "scale.normalisation");
  expectUsage("{" + base + ", \"scale\": {\"colormap\": \"rainbow\"}}", "scale.colormap");
  expectUsage("{" + base + ", \"layout\": {\"raster_dpi\": 150}}", "raster_dpi");
  expectUsage("{" + base + ", \"layout\": {\"width\": \"triple\"}}", "layout.width");
  expectUsage("{\"schema_version\": 1, \"inputs\": [], \"columns\": [\"aff\"]}", "inputs");
  expectUsage("{\"schema_version\": 1, \"inputs\": [\"a\"], \"columns\": []}", "columns");
  expectUsage("{\"schema_version\": 2, \"inputs\": [\"a\"], \"columns\": [\"aff\"]}", "newer");
}

TEST(FigureSpec, PathsRelativeToTheSpec) {
  using fl::figure::relativePath;
  using fl::figure::resolvePath;
  EXPECT_EQ(resolvePath("img/a.png", "/data/figs"), "/data/figs/img/a.png");
  EXPECT_EQ(resolvePath("../a.png", "/data/figs"), "/data/a.png");
  EXPECT_EQ(resolvePath("/abs/a.png", "/data/figs"), "/abs/a.png");
  EXPECT_EQ(relativePath("/data/img/a.png", "/data/figs"), "../img/a.png");
  EXPECT_EQ(resolvePath(relativePath("/data/img/a.png", "/data/figs"), "/data/figs"), "/data/img/a.png");
}

}  // namespace
