#include "core/io/tensor_file.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "core/common/error.h"
#include "core/io/npy.h"
#include "core/io/safetensors.h"
#include "core/modules/descriptor.h"

namespace fl {

namespace {

std::string lowerExtension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext;
}

}  // namespace

at::Tensor toNchw(const at::Tensor& t, const std::string& where) {
  switch (t.dim()) {
    case 2: return t.unsqueeze(0).unsqueeze(0);
    case 3: return t.unsqueeze(0);
    case 4: return t;
    default:
      throwInput(where + ": tensor has shape " + shapeText(t.sizes().vec()) +
                 "; expected [H,W], [C,H,W] or [B,C,H,W]");
  }
}

at::Tensor readInputTensor(const std::string& spec) {
  std::string path = spec;
  std::string name;
  if (!std::filesystem::exists(path)) {
    const auto colon = spec.rfind(':');
    if (colon != std::string::npos && colon > 0) {
      path = spec.substr(0, colon);
      name = spec.substr(colon + 1);
    }
  }
  if (!std::filesystem::exists(path)) throwInput(spec + ": no such file");
  if (std::filesystem::is_directory(path)) throwInput(path + ": is a directory, not a tensor file");

  const std::string ext = lowerExtension(path);
  at::Tensor t;
  std::string where = path;
  if (ext == ".npy") {
    if (!name.empty()) throwInput(path + ": a .npy file holds one array; drop ':" + name + "'");
    t = readNpy(path);
  } else if (ext == ".safetensors") {
    NamedTensors all = readSafetensors(path);
    if (all.empty()) throwInput(path + ": holds no tensors");
    if (name.empty()) {
      if (all.size() != 1) {
        std::string names;
        for (const auto& [n, v] : all) names += (names.empty() ? "" : ", ") + n;
        throwInput(path + ": holds " + std::to_string(all.size()) +
                   " tensors; pick one as " + path + ":NAME (" + names + ")");
      }
      t = all.front().second;
      where += ":" + all.front().first;
    } else {
      for (const auto& [n, v] : all) {
        if (n == name) t = v;
      }
      if (!t.defined()) throwInput(path + ": has no tensor named '" + name + "'");
      where += ":" + name;
    }
  } else {
    throwInput(path + ": unsupported input format '" + ext +
               "' (use .npy or .safetensors)");
  }
  if (!t.is_floating_point()) {
    if (t.scalar_type() == at::kBool) throwInput(where + ": boolean tensors are not features");
  }
  if (t.numel() == 0) throwInput(where + ": tensor is empty " + shapeText(t.sizes().vec()));
  return toNchw(t, where).to(at::kFloat).contiguous();
}

}  // namespace fl
