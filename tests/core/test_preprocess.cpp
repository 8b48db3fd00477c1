// core/features/preprocess: the text form (parsed with the checked number parser, written back
// canonically), the ImageNet preset, and the maths on a known image.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "core/common/error.h"
#include "core/features/preprocess.h"

namespace fl {
namespace {

std::string usageMessage(const std::string& text) {
  try {
    parsePreprocess(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage) << text;
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << text;
  return {};
}

TEST(Preprocess, DefaultAndEmptyText) {
  const Preprocess p = parsePreprocess("");
  EXPECT_EQ(p.resize, Preprocess::Resize::None);
  EXPECT_EQ(p.order, Preprocess::Order::Rgb);
  EXPECT_EQ(p.range, 1);
  EXPECT_EQ(preprocessText(p), "size=none,order=rgb,range=1,mean=0,std=1");
}

TEST(Preprocess, ImageNetRoundTrip) {
  const Preprocess p = imagenetPreprocess();
  const std::string text = preprocessText(p);
  EXPECT_EQ(text, "size=224x224,order=rgb,range=1,mean=0.485:0.456:0.406,std=0.229:0.224:0.225");
  EXPECT_EQ(parsePreprocess(text), p);
}

TEST(Preprocess, KeysInAnyOrderAndEveryForm) {
  const Preprocess p = parsePreprocess("std=2,order=bgr,size=multiple:32,range=255,mean=1:2:3");
  EXPECT_EQ(p.resize, Preprocess::Resize::Multiple);
  EXPECT_EQ(p.multiple, 32);
  EXPECT_EQ(p.order, Preprocess::Order::Bgr);
  EXPECT_EQ(p.range, 255);
  EXPECT_EQ(p.mean, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(p.std, (std::vector<double>{2}));
  EXPECT_EQ(parsePreprocess(preprocessText(p)), p);
  EXPECT_EQ(parsePreprocess("order=gray").order, Preprocess::Order::Gray);
}

TEST(Preprocess, RefusesWhatIsNotTheForm) {
  EXPECT_NE(usageMessage("size=224by224").find("size '224by224'"), std::string::npos);
  EXPECT_NE(usageMessage("size=0x224").find("width"), std::string::npos);
  EXPECT_NE(usageMessage("size=multiple:0").find("multiple"), std::string::npos);
  EXPECT_NE(usageMessage("order=rbg").find("order 'rbg'"), std::string::npos);
  EXPECT_NE(usageMessage("range=2").find("range '2'"), std::string::npos);
  EXPECT_NE(usageMessage("mean=0.5:x:1").find("mean"), std::string::npos);
  EXPECT_NE(usageMessage("mean=1:2").find("one value or three"), std::string::npos);
  EXPECT_NE(usageMessage("std=0").find("std"), std::string::npos);
  EXPECT_NE(usageMessage("colour=red").find("unknown key 'colour'"), std::string::npos);
  EXPECT_NE(usageMessage("rgb").find("KEY=VALUE"), std::string::npos);
  EXPECT_NE(usageMessage("size=99999999999999999999x2").find("width"), std::string::npos);
}

/// A 4 x 6 RGB image whose R, G, B are 0.2, 0.4, 0.6 everywhere.
cv::Mat flat(int w = 6, int h = 4) { return cv::Mat(h, w, CV_32FC3, cv::Scalar(0.2f, 0.4f, 0.6f)); }

TEST(Preprocess, RangeMeanStdPerChannel) {
  const PreprocessedImage out = preprocessImage(flat(), parsePreprocess("range=255,mean=10:20:30,std=2:4:5"));
  ASSERT_EQ(out.tensor.sizes(), (std::vector<int64_t>{1, 3, 4, 6}));
  EXPECT_NEAR(out.tensor[0][0][1][1].item<double>(), (0.2 * 255 - 10) / 2, 1e-4);
  EXPECT_NEAR(out.tensor[0][1][1][1].item<double>(), (0.4 * 255 - 20) / 4, 1e-4);
  EXPECT_NEAR(out.tensor[0][2][1][1].item<double>(), (0.6 * 255 - 30) / 5, 1e-4);
}

TEST(Preprocess, BgrSwapsAndGrayAverages) {
  const at::Tensor bgr = preprocessImage(flat(), parsePreprocess("order=bgr")).tensor;
  EXPECT_NEAR(bgr[0][0][0][0].item<double>(), 0.6, 1e-6);
  EXPECT_NEAR(bgr[0][2][0][0].item<double>(), 0.2, 1e-6);
  const at::Tensor gray = preprocessImage(flat(), parsePreprocess("order=gray")).tensor;
  ASSERT_EQ(gray.size(1), 1);
  EXPECT_NEAR(gray[0][0][0][0].item<double>(), 0.4, 1e-6);
  // Three means for one gray channel is a mistake worth saying.
  EXPECT_THROW(preprocessImage(flat(), parsePreprocess("order=gray,mean=1:2:3")), Error);
}

TEST(Preprocess, ResizeToAndToAMultiple) {
  const PreprocessedImage to = preprocessImage(flat(), parsePreprocess("size=10x8"));
  EXPECT_EQ(to.tensor.sizes(), (std::vector<int64_t>{1, 3, 8, 10}));
  EXPECT_EQ(to.rgb.cols, 10);
  EXPECT_EQ(to.rgb.rows, 8);
  // The picture under the overlays stays RGB in [0,1] whatever the network's normalisation.
  EXPECT_NEAR(to.rgb.at<cv::Vec3f>(3, 3)[0], 0.2f, 1e-5);
  const PreprocessedImage multiple = preprocessImage(flat(70, 45), parsePreprocess("size=multiple:32"));
  EXPECT_EQ(multiple.tensor.sizes(), (std::vector<int64_t>{1, 3, 32, 64}));
  EXPECT_THROW(preprocessImage(flat(20, 20), parsePreprocess("size=multiple:32")), Error);
  EXPECT_THROW(preprocessImage(cv::Mat(4, 4, CV_8UC3), Preprocess{}), Error);
}

}  // namespace
}  // namespace fl
