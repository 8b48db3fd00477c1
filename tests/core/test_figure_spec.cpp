// Figure specs (core/figure/figure_spec.h) and the SHA-256 they record.
#include <gtest/gtest.h>

#include <string>

#include "core/common/error.h"
#include "core/common/sha256.h"
#include "core/figure/figure_model.h"
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


// Script and capture columns (issue 13): a TorchScript file's or a capture's point as a
// column, with its SHA-256; a column's own inputs and features (a trained stem).
TEST(FigureSpec, ScriptCaptureAndOwnFeaturesColumnsRoundTrip) {
  const std::string h(64, 'a');
  const std::string text = R"({
    "schema_version": 1,
    "inputs": ["boot.png"],
    "features": [{"spec": "torchscript:path=stem.pt", "sha256": ")" + h + R"("}],
    "columns": [
      {"script": "net.pt", "point": "layer1.cbam.spatial.sigmoid", "sha256": ")" + h + R"(",
       "inputs": [{"path": "x.npy", "sha256": "cd"}], "features": "gray:stride=1,standardize=0",
       "label": "trained"},
      {"capture": "fuse.flcap", "point": "sigmoid"},
      {"module": "cbam", "features": ["torchscript:path=cbam.stem.pt"], "weights": "cbam.safetensors"}
    ]
  })";
  const auto a = parseFigureSpec(text, "t.json");
  ASSERT_EQ(a.columns.size(), 3u);
  EXPECT_EQ(a.features[0], "torchscript:path=stem.pt");
  EXPECT_EQ(a.featuresSha256[0], h);
  EXPECT_EQ(a.columns[0].script, "net.pt");
  EXPECT_TRUE(a.columns[0].module.empty());
  EXPECT_EQ(a.columns[0].point, "layer1.cbam.spatial.sigmoid");
  EXPECT_EQ(a.columns[0].sha256, h);
  ASSERT_EQ(a.columns[0].inputs.size(), 1u);
  EXPECT_EQ(a.columns[0].inputs[0].sha256, "cd");
  EXPECT_EQ(a.columns[0].features, std::vector<std::string>{"gray:stride=1,standardize=0"});
  EXPECT_EQ(a.columns[1].capture, "fuse.flcap");
  EXPECT_TRUE(a.columns[1].sha256.empty());
  EXPECT_EQ(a.columns[2].module, "cbam");
  EXPECT_EQ(a.columns[2].features[0], "torchscript:path=cbam.stem.pt");
  EXPECT_TRUE(a.columns[2].featuresSha256[0].empty());
  const std::string json = fl::figure::figureSpecJson(a);
  const auto b = parseFigureSpec(json, "again");
  EXPECT_EQ(fl::figure::figureSpecJson(b), json);
  EXPECT_EQ(b.columns[0].point, a.columns[0].point);
  EXPECT_EQ(b.columns[1].capture, "fuse.flcap");
  EXPECT_EQ(b.featuresSha256[0], h);
  // The writer never gives a script column module-only keys.
  EXPECT_EQ(json.find("\"prefix\"", json.find("net.pt")), json.find("\"prefix\"", json.find("cbam.safetensors")));
}

TEST(FigureSpec, RefusesBadScriptAndCaptureColumns) {
  const std::string h(64, 'b');
  const auto spec = [](const std::string& column) {
    return R"({"schema_version": 1, "inputs": ["a.png"], "columns": [)" + column + "]}";
  };
  expectUsage(spec(R"({"label": "x"})"), "needs one of \"module\", \"script\" or \"capture\"");
  expectUsage(spec(R"({"module": "cbam", "script": "n.pt"})"), "more than one");
  expectUsage(spec(R"({"script": "n.pt", "capture": "c.flcap"})"), "more than one");
  expectUsage(spec(R"({"script": ""})"), "columns[0].script");
  expectUsage(spec(R"({"script": 3})"), "columns[0].script");
  expectUsage(spec(R"({"script": "n.pt", "weights": "w.pt"})"), "columns[0].weights");
  expectUsage(spec(R"({"script": "n.pt", "params": {"r": 2}})"), "columns[0].params");
  expectUsage(spec(R"({"capture": "c.flcap", "seed": 1})"), "columns[0].seed");
  expectUsage(spec(R"({"module": "cbam", "point": "x"})"), "columns[0].point");
  expectUsage(spec(R"({"module": "cbam", "sha256": ")" + h + R"("})"), "columns[0].sha256");
  expectUsage(spec(R"({"capture": "c.flcap", "inputs": ["a.png"]})"), "runs on the inputs it holds");
  expectUsage(spec(R"({"capture": "c.flcap", "features": "gray"})"), "columns[0].features");
  expectUsage(spec(R"({"script": "n.pt", "sha256": "abc"})"), "64 lowercase hex");
  expectUsage(spec(R"({"script": "n.pt", "sha256": ")" + std::string(64, 'A') + R"("})"), "64 lowercase hex");
  expectUsage(spec(R"({"script": "n.pt", "point": ""})"), "columns[0].point");
  expectUsage(spec(R"({"script": "n.pt", "point": 7})"), "columns[0].point");
  expectUsage(spec(R"({"script": "n.pt", "inputs": []})"), "columns[0].inputs");
  expectUsage(spec(R"({"script": "n.pt", "inputs": [3]})"), "columns[0].inputs[0]");
  expectUsage(spec(R"({"script": "n.pt", "inputs": [{"path": "a", "md5": "x"}]})"), "columns[0].inputs[0].md5");
  expectUsage(spec(R"({"script": "n.pt", "features": [{"spec": "gray", "sha": "x"}]})"), "columns[0].features[0].sha");
  expectUsage(spec(R"({"script": "n.pt", "features": [{"sha256": ")" + h + R"("}]})"), "columns[0].features[0].spec");
  expectUsage(spec(R"({"script": "n.pt", "features": 4})"), "columns[0].features");
  expectUsage(spec(R"({"script": "n.pt", "pont": "x"})"), "'columns[0].pont' is not a known key");
  expectUsage(R"({"schema_version": 1, "inputs": ["a.png"], "features": [{"spec": "gray", "sha256": "12"}], "columns": ["cbam"]})",
              "features[0].sha256");
}

TEST(FigureSpec, MapSpecPathsReachesEveryFile) {
  const auto s0 = parseFigureSpec(R"({"schema_version": 1, "inputs": ["a.png"],
    "features": ["torchscript:path=stem.pt", "gray"],
    "columns": [{"module": "cbam", "weights": "w.safetensors", "features": "torchscript:path=s2.pt,output=1"},
                {"script": "n.pt", "inputs": ["x.npy"]}, {"capture": "c.flcap"}]})",
                                  "m.json");
  auto s = s0;
  fl::figure::mapSpecPaths(s, [](const std::string& p) { return "/base/" + p; });
  EXPECT_EQ(s.inputs[0].path, "/base/a.png");
  EXPECT_NE(s.features[0].find("path=/base/stem.pt"), std::string::npos) << s.features[0];
  EXPECT_EQ(s.features[1], "gray");  // no file in it: left as written
  EXPECT_EQ(s.columns[0].weights.path, "/base/w.safetensors");
  EXPECT_NE(s.columns[0].features[0].find("path=/base/s2.pt"), std::string::npos);
  EXPECT_NE(s.columns[0].features[0].find("output=1"), std::string::npos);
  EXPECT_EQ(s.columns[1].script, "/base/n.pt");
  EXPECT_EQ(s.columns[1].inputs[0].path, "/base/x.npy");
  EXPECT_EQ(s.columns[2].capture, "/base/c.flcap");
}

}  // namespace
