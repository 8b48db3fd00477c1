#include "core/io/tensor_file.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "core/common/error.h"
#include "core/io/npy.h"
#include "core/io/npz.h"
#include "core/io/safetensors.h"
#include "core/io/state_dict.h"
#include "core/io/zip_archive.h"

namespace fl {

namespace {

std::string lowerExtension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext;
}

bool isTorchExtension(const std::string& ext) {
  return ext == ".pt" || ext == ".pth" || ext == ".bin" || ext == ".ckpt" || ext == ".tar";
}

std::string namesOf(const NamedTensors& all) {
  std::string names;
  for (size_t i = 0; i < all.size() && i < 12; ++i)
    names += (i ? ", " : "") + (all[i].first.empty() ? std::string("(root)") : all[i].first);
  if (all.size() > 12) names += ", ... (" + std::to_string(all.size() - 12) + " more)";
  return names;
}

/// Picks `name` out of several tensors (or the only one when `name` is empty).
at::Tensor pick(const NamedTensors& all, const std::string& path, const std::string& name,
                const char* what, std::string& where) {
  if (all.empty()) throwInput(path + ": holds no tensors");
  if (name.empty()) {
    if (all.size() != 1) {
      throwInput(path + ": holds " + std::to_string(all.size()) + " " + what + "; pick one as " +
                 path + ":NAME (" + namesOf(all) + ")");
    }
    if (!all.front().first.empty()) where += ":" + all.front().first;
    return all.front().second;
  }
  for (const auto& [n, v] : all) {
    if (n == name) {
      where += ":" + name;
      return v;
    }
  }
  throwInput(path + ": has no tensor named '" + name + "' (it holds " + namesOf(all) + ")");
}

}  // namespace

at::Tensor toNchw(const at::Tensor& t, const std::string& where) {
  switch (t.dim()) {
    case 2: return t.unsqueeze(0).unsqueeze(0);
    case 3: return t.unsqueeze(0);
    case 4: return t;
    default:
      throwInput(where + ": tensor has shape " + shapeText(t.sizes()) +
                 "; expected [H,W], [C,H,W] or [B,C,H,W]");
  }
}

at::Tensor channelsLastToNchw(const at::Tensor& t, const std::string& where) {
  switch (t.dim()) {
    case 2: return t.unsqueeze(0).unsqueeze(0);
    case 3: return t.permute({2, 0, 1}).unsqueeze(0);
    case 4: return t.permute({0, 3, 1, 2});
    default:
      throwInput(where + ": tensor has shape " + shapeText(t.sizes()) +
                     "; expected [H,W], [H,W,C] or [B,H,W,C] for a channels-last tensor",
                 fileSubject(where));
  }
}

bool isTensorFile(const std::string& path) {
  const std::string ext = lowerExtension(path);
  return ext == ".npy" || ext == ".npz" || ext == ".safetensors" || isTorchExtension(ext);
}

NamedTensors readTensorFile(const std::string& path) {
  if (!std::filesystem::exists(path)) throwInput(path + ": no such file");
  if (std::filesystem::is_directory(path)) throwInput(path + ": is a directory, not a tensor file");
  const std::string ext = lowerExtension(path);
  if (ext == ".npy") return {{"", readNpy(path)}};
  if (ext == ".npz") return readNpz(path);
  if (ext == ".safetensors") return readSafetensors(path);
  if (isTorchExtension(ext)) return readCheckpoint(path).tensors;
  throwInput(path + ": unsupported input format '" + ext +
                 "' (use .npy, .npz, .pt/.pth, .safetensors, or an image, read through a feature "
                 "spec)",
             fileSubject(path));
}

TensorSpecParts splitTensorSpec(const std::string& spec, const std::function<bool(const std::string&)>& exists) {
  const auto colon = spec.rfind(':');
  if (exists(spec) || colon == std::string::npos || colon == 0) return {spec, ""};
  return {spec.substr(0, colon), spec.substr(colon)};
}

at::Tensor readInputTensor(const std::string& spec, const TensorReadOptions& options) {
  const TensorSpecParts parts =
      splitTensorSpec(spec, [](const std::string& p) { return std::filesystem::exists(p); });
  const std::string path = parts.file;
  std::string name = parts.name.empty() ? "" : parts.name.substr(1);  // an .npz with one array names it below
  if (!std::filesystem::exists(path)) throwInput(spec + ": no such file");
  if (std::filesystem::is_directory(path)) throwInput(path + ": is a directory, not a tensor file");

  const std::string ext = lowerExtension(path);
  at::Tensor t;
  std::string where = path;
  if (ext == ".npy") {
    if (!name.empty()) throwInput(path + ": a .npy file holds one array; drop ':" + name + "'");
    t = readNpy(path);
  } else if (ext == ".npz") {
    if (name.empty()) {
      const std::vector<std::string> names = listNpz(path);
      if (names.size() != 1) {
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        throwInput(path + ": holds " + std::to_string(names.size()) + " arrays; pick one as " +
                   path + ":NAME (" + list + ")");
      }
      name = names.front();
    }
    t = readNpzArray(path, name);
    where += ":" + name;
  } else if (ext == ".safetensors") {
    t = pick(readSafetensors(path), path, name, "tensors", where);
  } else if (isTorchExtension(ext)) {
    t = pick(readCheckpoint(path).tensors, path, name, "tensors", where);
  } else {
    throwInput(path + ": unsupported input format '" + ext +
                   "' (use .npy, .npz, .pt/.pth, .safetensors, or an image, read through a "
                   "feature spec)",
               fileSubject(path));
  }
  if (t.scalar_type() == at::kBool) throwInput(where + ": boolean tensors are not features");
  if (at::isComplexType(t.scalar_type())) throwInput(where + ": complex tensors are not features");
  if (t.numel() == 0) throwInput(where + ": tensor is empty " + shapeText(t.sizes()));
  const at::Tensor nchw = options.channelsLast ? channelsLastToNchw(t, where) : toNchw(t, where);
  return nchw.to(at::kFloat).contiguous();
}

}  // namespace fl
