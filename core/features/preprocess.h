#pragma once
/// Preprocessing of a photo for a whole network opened as TorchScript: explicit, written as
/// one line of text (saved in sessions, given to `fusionlens-cli run --script --preprocess`):
///
///   size=none | size=WxH | size=multiple:N     resize (multiple: each side down to a multiple of N)
///   order=rgb | order=bgr | order=gray         channel order; gray = the mean of R, G and B
///   range=1 | range=255                        pixel values in [0,1] or [0,255]
///   mean=M[:M:M]  std=S[:S:S]                  per channel, applied after the range
///
/// e.g. "size=224x224,order=rgb,range=1,mean=0.485:0.456:0.406,std=0.229:0.224:0.225" (the
/// ImageNet preset). Keys may come in any order; a key not given keeps its default
/// (size=none,order=rgb,range=1,mean=0,std=1).
#include <ATen/core/Tensor.h>

#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

namespace fl {

struct Preprocess {
  enum class Resize { None, To, Multiple };
  enum class Order { Rgb, Bgr, Gray };
  Resize resize = Resize::None;
  int width = 0, height = 0;  ///< Resize::To
  int multiple = 0;           ///< Resize::Multiple
  Order order = Order::Rgb;
  double range = 1;           ///< 1 or 255
  std::vector<double> mean{0}, std{1};  ///< one value for all channels, or one per channel

  bool operator==(const Preprocess& o) const;
  bool operator!=(const Preprocess& o) const { return !(*this == o); }
};

/// The ImageNet preset: 224x224, RGB, [0,1], mean 0.485:0.456:0.406, std 0.229:0.224:0.225.
Preprocess imagenetPreprocess();

/// Parses the text form (see above); "" is the default. Throws fl::Error(Usage) naming the
/// key and the value ("preprocess: size '224by224' is not WxH, none or multiple:N").
Preprocess parsePreprocess(const std::string& text);

/// The text form, every key written (parsePreprocess(preprocessText(p)) == p).
std::string preprocessText(const Preprocess& p);

/// The size an image of `width` x `height` has after `p`'s resize. Throws fl::Error(Input)
/// when a multiple leaves no pixel.
std::pair<int, int> preprocessedSize(const Preprocess& p, int width, int height);

/// A photo made ready for the network.
struct PreprocessedImage {
  at::Tensor tensor;  ///< [1, 3 or 1, H, W] float32 CPU, in the network's order, range and normalisation
  cv::Mat rgb;        ///< CV_32FC3 RGB in [0,1] at the network's size: the picture under the overlays
};

/// Applies `p` to a CV_32FC3 RGB image in [0,1] (core/io/image.h's readImage). Throws
/// fl::Error(Input) for another Mat type, and fl::Error(Usage) when mean/std have a count
/// other than 1 or the image's channel count.
PreprocessedImage preprocessImage(const cv::Mat& rgb, const Preprocess& p);

}  // namespace fl
