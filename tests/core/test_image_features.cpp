// core/io/image and core/features: reading images (depths, channels, alpha, EXIF orientation,
// size guards) and the feature extractors (filter bank, random stem, TorchScript, maps).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "core/common/error.h"
#include "core/features/features.h"
#include "core/io/image.h"
#include "core/modules/registry.h"
#include "core/run/run.h"
#include "test_env.h"

namespace fl {
namespace {

using Bytes = std::vector<unsigned char>;

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "fl_imgfeat_test_XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string sampleImage(const std::string& name) {
  return test::env("FL_SOURCE_DIR") + "/resources/images/" + name;
}

void writeBytes(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes encode(const std::string& ext, const cv::Mat& m, std::vector<int> params = {}) {
  Bytes b;
  EXPECT_TRUE(cv::imencode(ext, m, b, params));
  return b;
}

/// An asymmetric 8-bit BGR test picture: four differently coloured quadrants plus a ramp.
cv::Mat quadrants(int w = 40, int h = 24) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const bool right = x >= w / 2, bottom = y >= h / 2;
      const uchar ramp = static_cast<uchar>(4 * x + 2 * y);
      m.at<cv::Vec3b>(y, x) = right ? (bottom ? cv::Vec3b(200, 30, ramp) : cv::Vec3b(20, 220, ramp))
                                    : (bottom ? cv::Vec3b(ramp, 90, 250) : cv::Vec3b(10, ramp, 10));
    }
  }
  return m;
}

/// The TIFF block of an EXIF payload holding only an orientation tag (little-endian).
Bytes exifTiff(int orientation) {
  return {'I', 'I', 42, 0, 8, 0, 0, 0,                          // header, IFD0 at 8
          1, 0,                                                 // one entry
          0x12, 0x01, 3, 0, 1, 0, 0, 0,                         // 0x0112 SHORT x1
          static_cast<unsigned char>(orientation), 0, 0, 0,     // value
          0, 0, 0, 0};                                          // no next IFD
}

/// Inserts an APP1 "Exif" segment after the JFIF APP0 of an encoded JPEG.
Bytes withJpegExif(Bytes jpeg, int orientation) {
  Bytes payload = {'E', 'x', 'i', 'f', 0, 0};
  const Bytes tiff = exifTiff(orientation);
  payload.insert(payload.end(), tiff.begin(), tiff.end());
  const size_t len = payload.size() + 2;
  Bytes seg = {0xFF, 0xE1, static_cast<unsigned char>(len >> 8),
               static_cast<unsigned char>(len & 0xFF)};
  seg.insert(seg.end(), payload.begin(), payload.end());
  size_t at = 2;
  if (jpeg[2] == 0xFF && jpeg[3] == 0xE0) at = 4 + ((jpeg[4] << 8) | jpeg[5]);
  jpeg.insert(jpeg.begin() + static_cast<std::ptrdiff_t>(at), seg.begin(), seg.end());
  return jpeg;
}

/// Inserts an eXIf chunk before the first IDAT of an encoded PNG.
Bytes withPngExif(Bytes png, int orientation) {
  const Bytes data = exifTiff(orientation);
  Bytes chunk = {0, 0, 0, static_cast<unsigned char>(data.size()), 'e', 'X', 'I', 'f'};
  chunk.insert(chunk.end(), data.begin(), data.end());
  const uLong crc = crc32(0, chunk.data() + 4, static_cast<uInt>(chunk.size() - 4));
  for (int s = 24; s >= 0; s -= 8) chunk.push_back(static_cast<unsigned char>(crc >> s));
  size_t at = 8;
  while (at + 8 <= png.size()) {
    const size_t len = (size_t{png[at]} << 24) | (png[at + 1] << 16) | (png[at + 2] << 8) | png[at + 3];
    if (std::string(reinterpret_cast<const char*>(&png[at + 4]), 4) == "IDAT") break;
    at += 12 + len;
  }
  png.insert(png.begin() + static_cast<std::ptrdiff_t>(at), chunk.begin(), chunk.end());
  return png;
}

double maxAbsDiff(const cv::Mat& a, const cv::Mat& b) {
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(a.type(), b.type());
  if (a.size() != b.size() || a.type() != b.type()) return 1e9;
  return cv::norm(a, b, cv::NORM_INF);
}

cv::Mat bgr8ToRgbFloat(const cv::Mat& bgr) {
  cv::Mat f, rgb;
  bgr.convertTo(f, CV_32F, 1.0 / 255);
  cv::cvtColor(f, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

template <typename F>
void expectError(F&& f, ErrorKind kind, const std::string& mention) {
  try {
    f();
    ADD_FAILURE() << "no error thrown; expected one mentioning " << mention;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(mention), std::string::npos) << e.what();
  }
}

Image syntheticImage(const cv::Mat& rgbFloat) {
  Image im;
  im.rgb = rgbFloat;
  im.sourceWidth = rgbFloat.cols;
  im.sourceHeight = rgbFloat.rows;
  return im;
}

// ---------------------------------------------------------------- images

TEST(Image, IsImageFileByExtension) {
  for (const char* p : {"a.png", "b.JPG", "dir.x/c.jpeg", "d.bmp", "e.tif", "f.TIFF", "g.webp"}) {
    EXPECT_TRUE(isImageFile(p)) << p;
  }
  for (const char* p : {"a.npy", "png", "dir.png/file", "x.safetensors", "y.gif", ""}) {
    EXPECT_FALSE(isImageFile(p)) << p;
  }
}

TEST(Image, ReadsSampleImagesAsFloatRgb) {
  const Image im = readImage(sampleImage("fruits.jpg"));
  EXPECT_EQ(im.rgb.type(), CV_32FC3);
  EXPECT_EQ(im.rgb.cols, 512);
  EXPECT_EQ(im.rgb.rows, 480);
  EXPECT_EQ(im.sourceWidth, 512);
  EXPECT_EQ(im.bitDepth, 8);
  EXPECT_EQ(im.sourceChannels, 3);
  EXPECT_TRUE(im.warnings.empty());
  double lo, hi;
  cv::minMaxLoc(im.rgb.reshape(1), &lo, &hi);
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0);
  // RGB order: OpenCV's BGR pixel (0,0) reversed.
  const cv::Mat ref = cv::imread(sampleImage("fruits.jpg"), cv::IMREAD_COLOR);
  EXPECT_LT(maxAbsDiff(im.rgb, bgr8ToRgbFloat(ref)), 1e-6);

  const at::Tensor t = imageToTensor(im.rgb);
  EXPECT_EQ(t.sizes().vec(), (std::vector<int64_t>{1, 3, 480, 512}));
  EXPECT_EQ(t.scalar_type(), at::kFloat);
  EXPECT_FLOAT_EQ(t[0][0][5][7].item<float>(), im.rgb.at<cv::Vec3f>(5, 7)[0]);
  EXPECT_FLOAT_EQ(t[0][2][5][7].item<float>(), im.rgb.at<cv::Vec3f>(5, 7)[2]);
}

TEST(Image, SixteenBitEqualsEightBitWithinQuantisation) {
  TempDir dir;
  cv::Mat m16(30, 50, CV_16UC3);
  cv::RNG rng(3);
  rng.fill(m16, cv::RNG::UNIFORM, 0, 65536);
  cv::Mat m8;
  m16.convertTo(m8, CV_8U, 1.0 / 257.0);
  writeBytes(dir.file("a16.png"), encode(".png", m16));
  writeBytes(dir.file("a8.png"), encode(".png", m8));
  writeBytes(dir.file("a16.tif"), encode(".tiff", m16));
  const Image i16 = readImage(dir.file("a16.png")), i8 = readImage(dir.file("a8.png"));
  const Image t16 = readImage(dir.file("a16.tif"));
  EXPECT_EQ(i16.bitDepth, 16);
  EXPECT_EQ(i8.bitDepth, 8);
  EXPECT_EQ(t16.bitDepth, 16);
  EXPECT_LE(maxAbsDiff(i16.rgb, i8.rgb), 0.5 / 255 + 1e-6);
  EXPECT_LT(maxAbsDiff(i16.rgb, t16.rgb), 1e-7);

  // The same 8-bit picture stored as 16-bit (v * 257) gives the same floats.
  cv::Mat up;
  m8.convertTo(up, CV_16U, 257.0);
  writeBytes(dir.file("b16.png"), encode(".png", up));
  EXPECT_LT(maxAbsDiff(readImage(dir.file("b16.png")).rgb, i8.rgb), 1e-6);
  // ... and the features agree too.
  const FeatureSpec spec = parseFeatureSpec("filterbank:channels=30,stride=2");
  EXPECT_TRUE(at::allclose(computeFeatures(readImage(dir.file("b16.png")), spec),
                           computeFeatures(i8, spec), 1e-4, 1e-4));
}

TEST(Image, GrayIsReplicatedToThreeChannels) {
  TempDir dir;
  cv::Mat g(20, 30, CV_8UC1);
  cv::randu(g, 0, 256);
  writeBytes(dir.file("g.png"), encode(".png", g));
  const Image im = readImage(dir.file("g.png"));
  EXPECT_EQ(im.sourceChannels, 1);
  std::vector<cv::Mat> ch;
  cv::split(im.rgb, ch);
  EXPECT_EQ(cv::norm(ch[0], ch[1], cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(ch[0], ch[2], cv::NORM_INF), 0.0);
  EXPECT_NEAR(ch[0].at<float>(3, 4), g.at<uchar>(3, 4) / 255.0, 1e-6);

  // The sample disparity map is 8-bit gray.
  const Image gt = readImage(sampleImage("aloeGT.png"));
  EXPECT_EQ(gt.sourceChannels, 1);
  EXPECT_EQ(gt.rgb.cols, 1282);
}

TEST(Image, AlphaIsCompositedOverWhite) {
  TempDir dir;
  for (const int depth : {CV_8U, CV_16U}) {
    const double full = depth == CV_8U ? 255 : 65535;
    cv::Mat m(10, 20, CV_MAKETYPE(depth, 4), cv::Scalar(0, 0, full, full));  // opaque red
    m(cv::Rect(0, 0, 10, 10)).setTo(cv::Scalar(full, 0, 0, 0));  // transparent blue: hidden
    m(cv::Rect(0, 5, 10, 5)).setTo(cv::Scalar(0, 0, 0, full / 2));   // half-transparent black
    const std::string p = dir.file("rgba" + std::to_string(depth) + ".png");
    writeBytes(p, encode(".png", m));
    const Image im = readImage(p);
    EXPECT_EQ(im.sourceChannels, 4);
    EXPECT_EQ(im.bitDepth, depth == CV_8U ? 8 : 16);
    ASSERT_EQ(im.warnings.size(), 1u);
    EXPECT_NE(im.warnings[0].find("composited over white"), std::string::npos);
    const cv::Vec3f transparent = im.rgb.at<cv::Vec3f>(2, 2), opaque = im.rgb.at<cv::Vec3f>(2, 15);
    const cv::Vec3f half = im.rgb.at<cv::Vec3f>(7, 2);
    EXPECT_NEAR(transparent[0], 1, 1e-6);
    EXPECT_NEAR(transparent[1], 1, 1e-6);
    EXPECT_NEAR(transparent[2], 1, 1e-6);
    EXPECT_NEAR(opaque[0], 1, 1e-6);
    EXPECT_NEAR(opaque[1], 0, 1e-6);
    EXPECT_NEAR(opaque[2], 0, 1e-6);
    EXPECT_NEAR(half[0], 0.5, 0.01);
  }
  // Fully opaque RGBA: nothing to composite, no warning.
  cv::Mat opaque(8, 8, CV_8UC4, cv::Scalar(10, 20, 30, 255));
  writeBytes(dir.file("opaque.png"), encode(".png", opaque));
  const Image im = readImage(dir.file("opaque.png"));
  EXPECT_TRUE(im.warnings.empty());
  EXPECT_NEAR(im.rgb.at<cv::Vec3f>(0, 0)[0], 30 / 255.0, 1e-6);
}

TEST(Image, ExifOrientationOfJpegMatchesOpenCvAndTheSpec) {
  TempDir dir;
  const cv::Mat pic = quadrants();
  const Bytes plain = encode(".jpg", pic, {cv::IMWRITE_JPEG_QUALITY, 100});
  for (int o = 1; o <= 8; ++o) {
    const Bytes jpeg = withJpegExif(plain, o);
    EXPECT_EQ(exifOrientation(jpeg), o);
    const std::string p = dir.file("o" + std::to_string(o) + ".jpg");
    writeBytes(p, jpeg);
    const Image im = readImage(p);
    // OpenCV's IMREAD_COLOR honours EXIF orientation for 8-bit JPEGs: we must agree.
    const cv::Mat ref = cv::imread(p, cv::IMREAD_COLOR);
    EXPECT_LT(maxAbsDiff(im.rgb, bgr8ToRgbFloat(ref)), 1e-6) << "orientation " << o;
    const bool swapped = o >= 5;
    EXPECT_EQ(im.rgb.cols, swapped ? 24 : 40) << o;
    EXPECT_EQ(im.sourceWidth, swapped ? 24 : 40) << o;
  }
  // Orientation 6 ("rotate 90 clockwise to view"): the stored bottom-left quadrant (blue-ish
  // red: BGR (ramp,90,250)) is shown top-left.
  const Image im6 = readImage(dir.file("o6.jpg"));
  const cv::Vec3f tl = im6.rgb.at<cv::Vec3f>(1, 1);
  EXPECT_GT(tl[0], 0.9);  // R = 250
  EXPECT_NEAR(tl[1], 90 / 255.0, 0.05);
}

TEST(Image, ExifOrientationAppliesTo16BitAndAlphaPng) {
  TempDir dir;
  const cv::Mat pic8 = quadrants();
  cv::Mat pic16, pic8a;
  pic8.convertTo(pic16, CV_16U, 257.0);
  cv::cvtColor(pic8, pic8a, cv::COLOR_BGR2BGRA);
  for (const int o : {3, 6, 8, 5}) {
    writeBytes(dir.file("8.png"), withPngExif(encode(".png", pic8), o));
    writeBytes(dir.file("16.png"), withPngExif(encode(".png", pic16), o));
    writeBytes(dir.file("8a.png"), withPngExif(encode(".png", pic8a), o));
    const Image a = readImage(dir.file("8.png")), b = readImage(dir.file("16.png")),
                c = readImage(dir.file("8a.png"));
    const cv::Mat expected = applyOrientation(bgr8ToRgbFloat(pic8), o);
    EXPECT_LT(maxAbsDiff(a.rgb, expected), 1e-6) << o;
    EXPECT_LT(maxAbsDiff(b.rgb, expected), 1e-6) << o;
    EXPECT_LT(maxAbsDiff(c.rgb, expected), 1e-6) << o;
    EXPECT_EQ(b.bitDepth, 16);
    EXPECT_EQ(c.sourceChannels, 4);
  }
}

TEST(Image, LargeImagesAreAreaDownscaledWithAWarning) {
  TempDir dir;
  cv::Mat big(600, 1000, CV_8UC3, cv::Scalar(40, 80, 120));
  writeBytes(dir.file("big.png"), encode(".png", big));
  const Image im = readImage(dir.file("big.png"), /*maxSide=*/250);
  EXPECT_EQ(im.rgb.cols, 250);
  EXPECT_EQ(im.rgb.rows, 150);
  EXPECT_EQ(im.sourceWidth, 1000);
  EXPECT_EQ(im.sourceHeight, 600);
  ASSERT_EQ(im.warnings.size(), 1u);
  EXPECT_NE(im.warnings[0].find("1000x600 downscaled to 250x150"), std::string::npos)
      << im.warnings[0];
  EXPECT_NEAR(im.rgb.at<cv::Vec3f>(70, 100)[0], 120 / 255.0, 1e-5);
  EXPECT_TRUE(readImage(dir.file("big.png"), 0).warnings.empty());  // 0: no limit

  // Default limit 4096; a large JPEG is decoded reduced by libjpeg first, same result size.
  cv::Mat wide(300, 5000, CV_8UC3);
  cv::randu(wide, 0, 256);
  cv::GaussianBlur(wide, wide, cv::Size(0, 0), 4);
  writeBytes(dir.file("wide.jpg"), encode(".jpg", wide));
  const Image w = readImage(dir.file("wide.jpg"));
  EXPECT_EQ(w.rgb.cols, 4096);
  EXPECT_EQ(w.rgb.rows, 246);
  EXPECT_EQ(w.sourceWidth, 5000);
  ASSERT_EQ(w.warnings.size(), 1u);
  const Image w2 = readImage(dir.file("wide.jpg"), 1000);  // reduced decode (1/4) then area
  EXPECT_EQ(w2.rgb.cols, 1000);
  EXPECT_EQ(w2.rgb.rows, 60);
  cv::Mat full = bgr8ToRgbFloat(cv::imread(dir.file("wide.jpg"))), fullSmall;
  cv::resize(full, fullSmall, cv::Size(1000, 60), 0, 0, cv::INTER_AREA);
  EXPECT_LT(cv::norm(w2.rgb, fullSmall, cv::NORM_L1) / (1000.0 * 60 * 3), 0.02);
}

TEST(Image, AbsurdHeaderSizesAreRefusedBeforeDecoding) {
  TempDir dir;
  Bytes png = encode(".png", cv::Mat(4, 4, CV_8UC3, cv::Scalar(1, 2, 3)));
  // IHDR width/height live at bytes 16..23: claim 100000 x 100000.
  for (int at : {16, 20}) {
    png[at] = 0, png[at + 1] = 0x01, png[at + 2] = 0x86, png[at + 3] = 0xA0;
  }
  writeBytes(dir.file("huge.png"), png);
  expectError([&] { readImage(dir.file("huge.png")); }, ErrorKind::Input, "huge.png");
  expectError([&] { readImage(dir.file("huge.png")); }, ErrorKind::Input, "too large");
}

TEST(Image, NotAnImageIsRefusedNamingTheFile) {
  TempDir dir;
  writeBytes(dir.file("notes.png"), Bytes{'h', 'e', 'l', 'l', 'o'});
  expectError([&] { readImage(dir.file("notes.png")); }, ErrorKind::Input, "notes.png");
  writeBytes(dir.file("empty.jpg"), Bytes{});
  expectError([&] { readImage(dir.file("empty.jpg")); }, ErrorKind::Input, "empty.jpg");
  Bytes truncated = encode(".png", cv::Mat(64, 64, CV_8UC3, cv::Scalar(9, 9, 9)));
  truncated.resize(40);
  writeBytes(dir.file("cut.png"), truncated);
  expectError([&] { readImage(dir.file("cut.png")); }, ErrorKind::Input, "cut.png");
  expectError([&] { readImage(dir.file("missing.png")); }, ErrorKind::Input, "missing.png");
  expectError([&] { imageFeatures(dir.file("notes.png"), FeatureSpec{}, nullptr); },
              ErrorKind::Input, "notes.png");
}

TEST(Image, OtherFormatsRoundTrip) {
  TempDir dir;
  const cv::Mat pic = quadrants();
  for (const char* ext : {".bmp", ".tiff", ".webp"}) {
    std::vector<int> params;
    if (std::string(ext) == ".webp") params = {cv::IMWRITE_WEBP_QUALITY, 101};  // lossless
    const std::string p = dir.file(std::string("pic") + ext);
    writeBytes(p, encode(ext, pic, params));
    const Image im = readImage(p);
    EXPECT_LT(maxAbsDiff(im.rgb, bgr8ToRgbFloat(pic)), 1e-6) << ext;
    EXPECT_EQ(im.sourceWidth, 40) << ext;
    EXPECT_EQ(im.sourceHeight, 24) << ext;
  }
}

// ---------------------------------------------------------------- feature specs

TEST(FeatureSpec, ParsesTheDocumentedForms) {
  FeatureSpec s = parseFeatureSpec(defaultFeatureSpecText());
  EXPECT_EQ(s.kind, "filterbank");
  EXPECT_EQ(s.channels, 64);
  EXPECT_EQ(s.stride, 4);
  s = parseFeatureSpec("random:channels=32,stride=8,seed=1");
  EXPECT_EQ(s.kind, "random");
  EXPECT_EQ(s.channels, 32);
  EXPECT_EQ(s.stride, 8);
  EXPECT_EQ(s.seed, 1u);
  EXPECT_EQ(parseFeatureSpec("rgb").channels, 3);
  EXPECT_EQ(parseFeatureSpec("gray:stride=2").channels, 1);
  s = parseFeatureSpec("torchscript:path=m.pt,output=1,input_norm=imagenet");
  EXPECT_EQ(s.path, "m.pt");
  EXPECT_EQ(s.output, 1);
  EXPECT_EQ(s.inputNorm, "imagenet");
  EXPECT_EQ(parseFeatureSpec("torchscript:dir/m.pt").path, "dir/m.pt");
  s = parseFeatureSpec(" filterbank:channels=16, stride=2 ,scale=0.5,standardize=0 ");
  EXPECT_DOUBLE_EQ(s.scale, 0.5);
  EXPECT_EQ(s.standardize, 0);
  EXPECT_EQ(s.stride, 2);
  for (const char* t : {"filterbank:channels=64,stride=4", "random:channels=8,stride=1,seed=3",
                        "map:channels=4,stride=2,scale=0.25", "torchscript:path=a.pt,output=2",
                        "gray:stride=4,standardize=0,max_side=0"}) {
    EXPECT_EQ(featureSpecText(parseFeatureSpec(t)), t);
  }
  EXPECT_NE(featureSpecHelp().find("torchscript"), std::string::npos);
}

TEST(FeatureSpec, BadSpecsAreUsageErrorsListingTheForms) {
  for (const char* t : {"sift", "filterbank:stride=3", "filterbank:channels=0",
                        "filterbank:seed=1", "random:channels=x", "rgb:channels=5",
                        "torchscript", "torchscript:output=1", "filterbank:scale=-1",
                        "filterbank:stride", "random:seed=-2", "", "filterbank:channels=8,,"}) {
    expectError([&] { parseFeatureSpec(t); }, ErrorKind::Usage, "accepted:");
  }
  expectError([&] { parseFeatureSpec("filterbank:seed=1"); }, ErrorKind::Usage, "'seed'");
}

// ---------------------------------------------------------------- filter bank

/// 48 x 64 image, dark left half, bright right half (a vertical edge at x = 32).
cv::Mat verticalEdge() {
  cv::Mat m(48, 64, CV_32FC3, cv::Scalar::all(0.1));
  m(cv::Rect(32, 0, 32, 48)).setTo(cv::Scalar::all(0.9));
  return m;
}

TEST(FilterBank, ChannelCountStrideAndDeterminism) {
  const Image im = readImage(sampleImage("rubberwhale1.png"));  // 584 x 388
  for (const auto& [c, s] : std::vector<std::pair<int, int>>{{64, 4}, {7, 1}, {100, 8}, {3, 16}}) {
    FeatureSpec spec;
    spec.channels = c;
    spec.stride = s;
    const at::Tensor f = computeFeatures(im, spec);
    EXPECT_EQ(f.sizes().vec(), (std::vector<int64_t>{1, c, (388 + s - 1) / s, (584 + s - 1) / s}));
    EXPECT_TRUE(f.is_contiguous());
    EXPECT_TRUE(at::isfinite(f).all().item<bool>());
    // Standardised: each channel zero mean and unit variance (or constant zero).
    const at::Tensor mean = f.mean({2, 3}), sd = f.std({2, 3}, /*unbiased=*/false);
    EXPECT_LT(mean.abs().max().item<float>(), 1e-4);
    EXPECT_LT((sd - 1).abs().max().item<float>(), 1e-3);
    EXPECT_TRUE(at::equal(f, computeFeatures(im, spec)));
  }
  EXPECT_EQ(filterBankChannelNames(20).size(), 20u);
  EXPECT_EQ(filterBankChannelNames(8)[6], "dx s1");
  EXPECT_EQ(filterBankChannelNames(64)[18 + 8], "energy0 s2");
}

TEST(FilterBank, VerticalEdgeLightsTheXGradientChannel) {
  const FeatureSpec raw = parseFeatureSpec("filterbank:channels=18,stride=1,standardize=0");
  const at::Tensor f = computeFeatures(syntheticImage(verticalEdge()), raw);
  const at::Tensor dx = f[0][6], dy = f[0][7], mag = f[0][8];
  // dx: positive (Y increases to the right) at the edge columns, zero far from it.
  EXPECT_GT(dx.select(1, 31).min().item<float>(), 0.1);
  EXPECT_GT(dx.select(1, 32).min().item<float>(), 0.1);
  EXPECT_NEAR(dx.select(1, 10).abs().max().item<float>(), 0.0, 1e-6);
  EXPECT_LT(dy.abs().max().item<float>(), 1e-6);
  EXPECT_GT(mag.select(1, 32).min().item<float>(), 0.1);
  // The argmax of dx across each row is the edge.
  const at::Tensor col = dx.argmax(1);
  EXPECT_TRUE(((col == 31) | (col == 32)).all().item<bool>());
  // Transposed picture (horizontal edge): dy takes over, dx is silent.
  cv::Mat t;
  cv::transpose(verticalEdge(), t);
  const at::Tensor g = computeFeatures(syntheticImage(t), raw);
  EXPECT_LT(g[0][6].abs().max().item<float>(), 1e-6);
  EXPECT_GT(g[0][7].select(0, 32).min().item<float>(), 0.1);
  // Standardised channels keep the sign: the edge is the most positive dx location.
  const at::Tensor s = computeFeatures(syntheticImage(verticalEdge()),
                                       parseFeatureSpec("filterbank:channels=8,stride=4"));
  EXPECT_GT(s[0][6].max().item<float>(), 2.0);
  EXPECT_EQ(s[0][7].abs().max().item<float>(), 0.0);  // constant channel -> 0
}

TEST(FilterBank, ColourBlobAndOrientationChannelsRespondAsDocumented) {
  const FeatureSpec raw = parseFeatureSpec("filterbank:channels=42,stride=1,standardize=0");
  // Colour: a red square -> R-G positive, B-Y negative there.
  cv::Mat red(32, 32, CV_32FC3, cv::Scalar::all(0.5));
  red(cv::Rect(8, 8, 16, 16)).setTo(cv::Scalar(1, 0, 0));  // RGB
  at::Tensor f = computeFeatures(syntheticImage(red), raw);
  EXPECT_NEAR(f[0][0][16][16].item<float>(), 1.0, 1e-5);
  EXPECT_GT(f[0][4][16][16].item<float>(), 0.9);
  EXPECT_LT(f[0][5][16][16].item<float>(), -0.4);
  EXPECT_NEAR(f[0][4][2][2].item<float>(), 0.0, 1e-6);

  // A bright blob of radius ~3: the LoG at sigma 2 (channel 18 + 3) peaks at its centre.
  cv::Mat blob(41, 41, CV_32FC3, cv::Scalar::all(0));
  cv::circle(blob, cv::Point(20, 20), 3, cv::Scalar::all(1), cv::FILLED);
  f = computeFeatures(syntheticImage(blob), raw);
  const at::Tensor log2 = f[0][21];
  EXPECT_GT(log2[20][20].item<float>(), 0.1);
  EXPECT_EQ(log2.argmax().item<int64_t>(), 20 * 41 + 20);

  // Vertical stripes (period 6 px = 3 sigma at sigma 2): Gabor energy at 0 deg dominates
  // 90 deg; horizontal stripes the other way round (channels 18+8 and 18+10).
  auto stripes = [](bool vertical) {
    cv::Mat m(48, 48, CV_32FC3);
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 48; ++x)
        m.at<cv::Vec3f>(y, x) = cv::Vec3f::all(0.5f + 0.4f * std::cos(2 * M_PI * (vertical ? x : y) / 6));
    return m;
  };
  f = computeFeatures(syntheticImage(stripes(true)), raw);
  EXPECT_GT(f[0][26].mean().item<float>(), 5 * f[0][28].mean().item<float>());
  EXPECT_GT(f[0][26].mean().item<float>(), 2 * f[0][27].mean().item<float>());  // vs 45 deg
  f = computeFeatures(syntheticImage(stripes(false)), raw);
  EXPECT_GT(f[0][28].mean().item<float>(), 5 * f[0][26].mean().item<float>());
}

// Standardisation is one fused pass per channel (issue 15: cold start); it must give what the
// tensor expression gave: per channel (x - mean) / sd, and 0 for constant channels.
TEST(Features, StandardisationMatchesTheTensorExpression) {
  const Image im = readImage(sampleImage("fruits.jpg"));
  for (const char* kind : {"filterbank:channels=16,stride=1", "filterbank:channels=30,stride=4", "rgb:stride=2",
                           "map:channels=3,stride=8"}) {
    const std::string k(kind);
    const at::Tensor raw = computeFeatures(im, parseFeatureSpec(k + ",standardize=0"));
    const at::Tensor got = computeFeatures(im, parseFeatureSpec(k + ",standardize=1"));
    const at::Tensor mean = raw.mean({2, 3}, true);
    const at::Tensor centred = raw - mean;
    const at::Tensor sd = centred.pow(2).mean({2, 3}, true).sqrt();
    const at::Tensor want = at::where(sd > 1e-6, centred / sd.clamp_min(1e-6), at::zeros_like(centred));
    ASSERT_EQ(got.sizes(), want.sizes()) << kind;
    EXPECT_TRUE(got.is_contiguous()) << kind;
    EXPECT_LT((got - want).abs().max().item<float>(), 2e-5) << kind;
  }
  // A flat image: every channel constant, all zeros (not NaN).
  Image flat;
  flat.rgb = cv::Mat(24, 32, CV_32FC3, cv::Scalar(0.2, 0.5, 0.7));
  const at::Tensor z = computeFeatures(flat, parseFeatureSpec("filterbank:channels=6,stride=1"));
  EXPECT_EQ(z.abs().max().item<float>(), 0.f);
}

TEST(Features, RgbGrayMapAndScale) {
  const Image im = readImage(sampleImage("fruits.jpg"));  // 512 x 480
  at::Tensor rgb = computeFeatures(im, parseFeatureSpec("rgb:stride=1,standardize=0"));
  EXPECT_TRUE(at::allclose(rgb, imageToTensor(im.rgb)));
  EXPECT_EQ(computeFeatures(im, parseFeatureSpec("gray:stride=8")).sizes().vec(),
            (std::vector<int64_t>{1, 1, 60, 64}));
  const Image gt = readImage(sampleImage("aloeGT.png"));  // a disparity map, 1282 x 1110
  const at::Tensor m = computeFeatures(gt, parseFeatureSpec("map:channels=16,stride=8"));
  EXPECT_EQ(m.sizes().vec(), (std::vector<int64_t>{1, 16, 139, 161}));
  EXPECT_LT((m[0][0] - m[0][15]).abs().max().item<double>(), 1e-4)
      << "channels of a repeated map differ";
  EXPECT_GT(m.std().item<float>(), 0.5);
  // scale=0.5 halves the image before extraction.
  const at::Tensor h = computeFeatures(im, parseFeatureSpec("filterbank:channels=8,stride=4,scale=0.5"));
  EXPECT_EQ(h.sizes().vec(), (std::vector<int64_t>{1, 8, 60, 64}));
  EXPECT_EQ(resizeFeatures(h, 120, 128).sizes().vec(), (std::vector<int64_t>{1, 8, 120, 128}));
  // imageFeatures = readImage + computeFeatures, warnings passed on.
  std::vector<std::string> warnings;
  FeatureSpec spec = parseFeatureSpec("filterbank:channels=8,stride=4,max_side=256");
  const at::Tensor small = imageFeatures(sampleImage("fruits.jpg"), spec, &warnings);
  EXPECT_EQ(small.sizes().vec(), (std::vector<int64_t>{1, 8, 60, 64}));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("fruits.jpg"), std::string::npos);
}

// ---------------------------------------------------------------- random stem

TEST(RandomStem, ShapesDeterminismAndSeedSensitivity) {
  const Image im = readImage(sampleImage("rubberwhale1.png"), 200);  // 200 x 133
  for (const auto& [c, s] : std::vector<std::pair<int, int>>{{64, 8}, {5, 1}, {32, 2}, {128, 16}}) {
    FeatureSpec spec = parseFeatureSpec("random");
    spec.channels = c;
    spec.stride = s;
    const at::Tensor f = computeFeatures(im, spec);
    EXPECT_EQ(f.sizes().vec(), (std::vector<int64_t>{1, c, (133 + s - 1) / s, (200 + s - 1) / s}));
    EXPECT_TRUE(at::isfinite(f).all().item<bool>());
    EXPECT_LT(f.mean({2, 3}).abs().max().item<float>(), 1e-4);
  }
  const FeatureSpec a = parseFeatureSpec("random:channels=32,stride=4,seed=1");
  const FeatureSpec b = parseFeatureSpec("random:channels=32,stride=4,seed=2");
  const at::Tensor fa = computeFeatures(im, a), fa2 = computeFeatures(im, a);
  EXPECT_TRUE(at::equal(fa, fa2));
  const at::Tensor fb = computeFeatures(im, b);
  EXPECT_GT((fa - fb).abs().mean().item<float>(), 0.1);
  // Informative: no dead (constant) channels on a natural image.
  EXPECT_GT(fa.std({2, 3}).min().item<float>(), 0.5);
}

// ---------------------------------------------------------------- TorchScript

/// Exports tiny models with Debian's python3 (torch 1.13) and the features Python computes on
/// `input.bin` (float32 [1,3,H,W]).
class TorchScriptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    image_ = new Image(readImage(sampleImage("fruits.jpg"), 96));  // 96 x 90
    exported_ = exportModels();
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete image_;
  }
  void SetUp() override { ASSERT_TRUE(exported_) << "python export failed"; }

  static bool exportModels() {
    const Image& im = *image_;
    const at::Tensor x = imageToTensor(im.rgb);
    std::ofstream(dir_->file("input.bin"), std::ios::binary)
        .write(reinterpret_cast<const char*>(x.data_ptr<float>()),
               static_cast<std::streamsize>(x.numel() * sizeof(float)));
    const std::string script = R"PY(
import sys, numpy as np, torch
torch.manual_seed(0)
d = sys.argv[1]
x = torch.from_numpy(np.fromfile(d + "/input.bin", dtype=np.float32).reshape(1, 3, %H%, %W%))
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.b = torch.nn.Conv2d(8, 12, 3, stride=2, padding=1)
    def forward(self, x):
        return self.b(torch.relu(self.a(x)))
class Pair(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = Net()
    def forward(self, x):
        f = self.net(x)
        return f.mean(dim=[2, 3]), f * 2.0 + 1.0
net, pair = Net().eval(), Pair().eval()
torch.jit.trace(net, x).save(d + "/net.pt")
torch.jit.script(pair).save(d + "/pair.pt")
torch.jit.trace(torch.nn.Conv2d(3, 4, 5).eval(), x).save(d + "/valid.pt")
with torch.no_grad():
    net(x).numpy().astype(np.float32).tofile(d + "/net.bin")
    pair(x)[1].numpy().astype(np.float32).tofile(d + "/pair1.bin")
)PY";
    std::string s = script;
    s.replace(s.find("%H%"), 3, std::to_string(x.size(2)));
    s.replace(s.find("%W%"), 3, std::to_string(x.size(3)));
    std::ofstream(dir_->file("export.py")) << s;
    const std::string cmd = test::env("FL_PYTHON") + " " + dir_->file("export.py") + " " +
                            dir_->path() + " > " + dir_->file("log.txt") + " 2>&1";
    return std::system(cmd.c_str()) == 0;
  }

  static at::Tensor pythonResult(const std::string& name, std::vector<int64_t> shape) {
    std::ifstream in(dir_->file(name), std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    at::Tensor t = at::empty(shape, at::kFloat);
    EXPECT_EQ(bytes.size(), static_cast<size_t>(t.numel()) * sizeof(float));
    std::memcpy(t.data_ptr<float>(), bytes.data(), std::min(bytes.size(), t.nbytes()));
    return t;
  }

  static TempDir* dir_;
  static Image* image_;
  static bool exported_;
};
TempDir* TorchScriptTest::dir_ = nullptr;
Image* TorchScriptTest::image_ = nullptr;
bool TorchScriptTest::exported_ = false;

TEST_F(TorchScriptTest, TracedModelMatchesPython) {
  const at::Tensor f = computeFeatures(*image_, parseFeatureSpec("torchscript:path=" + dir_->file("net.pt")));
  ASSERT_EQ(f.sizes().vec(), (std::vector<int64_t>{1, 12, 23, 24}));
  EXPECT_LT((f - pythonResult("net.bin", {1, 12, 23, 24})).abs().max().item<float>(), 1e-5);
  // Standardisation on request.
  const at::Tensor s = computeFeatures(
      *image_, parseFeatureSpec("torchscript:path=" + dir_->file("net.pt") + ",standardize=1"));
  EXPECT_LT(s.mean({2, 3}).abs().max().item<float>(), 1e-4);
}

TEST_F(TorchScriptTest, TupleOutputIsSelectedByIndex) {
  const std::string base = "torchscript:path=" + dir_->file("pair.pt");
  const at::Tensor f = computeFeatures(*image_, parseFeatureSpec(base + ",output=1"));
  EXPECT_LT((f - pythonResult("pair1.bin", {1, 12, 23, 24})).abs().max().item<float>(), 1e-5);
  expectError([&] { computeFeatures(*image_, parseFeatureSpec(base)); }, ErrorKind::Input,
              "expected [B,C,H,W]");
  expectError([&] { computeFeatures(*image_, parseFeatureSpec(base + ",output=2")); },
              ErrorKind::Input, "out of range");
  expectError([&] {
    computeFeatures(*image_, parseFeatureSpec("torchscript:path=" + dir_->file("net.pt") + ",output=1"));
  }, ErrorKind::Input, "single tensor");
}

TEST_F(TorchScriptTest, BadPathsAndFilesAreClearErrors) {
  expectError([&] { computeFeatures(*image_, parseFeatureSpec("torchscript:path=/nope/m.pt")); },
              ErrorKind::Input, "/nope/m.pt");
  std::ofstream(dir_->file("junk.pt")) << "not a model";
  expectError([&] {
    computeFeatures(*image_, parseFeatureSpec("torchscript:path=" + dir_->file("junk.pt")));
  }, ErrorKind::Input, "junk.pt: not a zip archive");  // refused before LibTorch reads it
  // A forward that fails (a 5x5 unpadded conv on a 1x1 image) is reported, not crashed on.
  expectError([&] {
    computeFeatures(*image_, parseFeatureSpec("torchscript:path=" + dir_->file("valid.pt") +
                                             ",scale=0.01"));
  }, ErrorKind::Input, "valid.pt");
}

TEST_F(TorchScriptTest, ConcurrentCallsAgree) {
  const FeatureSpec spec = parseFeatureSpec("torchscript:path=" + dir_->file("net.pt"));
  const at::Tensor ref = computeFeatures(*image_, spec);
  std::vector<at::Tensor> results(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { results[i] = computeFeatures(*image_, spec); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_TRUE(at::equal(r, ref));
}

// ---------------------------------------------------------------- into a module

TEST(Features, FeedTwoInputModules) {
  ModuleRegistry registry;
  registerBuiltinModules(registry);
  const FeatureSpec spec = parseFeatureSpec("filterbank:channels=32,stride=8");
  RunRequest req;
  req.moduleId = "aff";
  req.device = DeviceChoice::Cpu;
  req.inputs = {imageFeatures(sampleImage("rubberwhale1.png"), spec, nullptr),
                imageFeatures(sampleImage("rubberwhale2.png"), spec, nullptr)};
  RunResult res = run(registry, req);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_EQ(res.outputs[0].sizes().vec(), (std::vector<int64_t>{1, 32, 49, 73}));

  // Same image through two extractors, and an image with its disparity map.
  const Image aloe = readImage(sampleImage("aloeL.jpg"));
  req.inputs = {computeFeatures(aloe, spec),
                computeFeatures(aloe, parseFeatureSpec("random:channels=32,stride=8,seed=3"))};
  res = run(registry, req);
  ASSERT_TRUE(res.ok) << res.error;
  req.inputs[1] = imageFeatures(sampleImage("aloeGT.png"), spec, nullptr);
  res = run(registry, req);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_TRUE(at::isfinite(res.outputs[0]).all().item<bool>());
}

}  // namespace
}  // namespace fl
