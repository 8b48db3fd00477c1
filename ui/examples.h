#pragma once
// The examples of File > Open example: the trained demo networks of resources/demo/
// (scripts/train_demo.py, Fashion-MNIST) and the seeded filter-bank demo on a photo. Their
// files ship inside the binary (resources/fusionlens.qrc); OpenCV and LibTorch read files,
// so they are written out to the cache folder when an example opens.
#include <QString>
#include <vector>

namespace fl::ui {

struct Example {
  QString title;     ///< the menu text
  QString moduleId;  ///< the built-in module
  QString image;     ///< resource path of the input image
  QString stem;      ///< resource path of the TorchScript feature backbone; empty: featureSpec
  QString weights;   ///< resource path of the module's trained state_dict; empty: seeded init
  QString featureSpec;  ///< used when stem is empty
  QString tensor;    ///< the probe shown first
  /// Resource path of a whole trained network (TorchScript) opened with its points instead of
  /// the built-in module; its manifest.json (class names) is written out beside it. Empty:
  /// the built-in module runs.
  QString network;
  QString preprocess;  ///< the network's preprocessing (core/features/preprocess.h)
};

/// Every example, the trained CBAM (the start-up demo) first.
const std::vector<Example>& examples();

/// Writes the resource `resource` to the cache folder (replacing a different older copy) and
/// returns the file's path, or an empty string with `error` set.
QString materialiseResource(const QString& resource, QString* error);

}  // namespace fl::ui
