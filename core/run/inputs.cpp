#include "core/run/inputs.h"

#include <filesystem>

#include "core/features/features.h"
#include "core/io/image.h"
#include "core/io/tensor_file.h"

namespace fl {

std::vector<at::Tensor> readInputs(const std::vector<std::string>& paths,
                                   const std::vector<std::string>& featureSpecs, bool channelsLast,
                                   std::vector<std::string>& warnings) {
  std::vector<FeatureSpec> parsed;
  for (const auto& f : featureSpecs) parsed.push_back(parseFeatureSpec(f));
  std::vector<at::Tensor> out;
  size_t images = 0;
  for (const auto& path : paths) {
    if (isImageFile(path) && std::filesystem::exists(path)) {
      const FeatureSpec fs = images < parsed.size() ? parsed[images]
                             : !parsed.empty()      ? parsed.back()
                                                    : parseFeatureSpec(defaultFeatureSpecText());
      ++images;
      out.push_back(imageFeatures(path, fs, &warnings));
    } else {
      TensorReadOptions opt;
      opt.channelsLast = channelsLast;
      out.push_back(readInputTensor(path, opt));
    }
  }
  if (!featureSpecs.empty() && images == 0) {
    warnings.push_back("the feature spec is ignored: none of the inputs is an image");
  }
  return out;
}

}  // namespace fl
