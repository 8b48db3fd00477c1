#pragma once
/// Opening input tensors for a module, whatever file a PyTorch user has: .npy, .npz,
/// .pt/.pth (a tensor, or a dict of tensors, read by the restricted unpickler) and
/// .safetensors, shaped [H,W], [C,H,W] or [B,C,H,W] (or channels-last on request), returned
/// as NCHW float32.
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

#include "core/io/tensor_io.h"

namespace fl {

/// How readInputTensor() interprets what it reads.
struct TensorReadOptions {
  /// The file holds [H,W,C] or [B,H,W,C] (numpy / OpenCV / TensorFlow layout): permuted to
  /// [1,C,H,W] / [B,C,H,W]. [H,W] is unaffected.
  bool channelsLast = false;
};

/// A readInputTensor() spec taken apart: "feats.npz:x" -> {"feats.npz", ":x"}.
struct TensorSpecParts {
  std::string file;
  std::string name;  ///< ":NAME", or "" when the spec is the file itself
};

/// Splits off ":NAME" when `spec` itself is not an existing file (`exists` decides; it sees
/// the spec as written) and a colon follows its first character; readInputTensor() reads
/// specs by this rule, and sessions store input paths by it.
TensorSpecParts splitTensorSpec(const std::string& spec, const std::function<bool(const std::string&)>& exists);

/// `spec` is a path, optionally followed by ":NAME" to pick one array of an .npz, one tensor
/// of a .safetensors file or one entry of a .pt dict (dotted path for nested dicts, e.g.
/// "feats.x"), needed when the file holds several. Returns a contiguous CPU float32
/// [B,C,H,W] tensor. Throws fl::Error(Input) naming the file and the problem (unreadable,
/// empty, boolean or complex data, rank other than 2..4).
at::Tensor readInputTensor(const std::string& spec, const TensorReadOptions& options = {});

/// [H,W] -> [1,1,H,W], [C,H,W] -> [1,C,H,W], [B,C,H,W] unchanged; anything else throws.
at::Tensor toNchw(const at::Tensor& t, const std::string& where);

/// [H,W,C] -> [1,C,H,W], [B,H,W,C] -> [B,C,H,W], [H,W] -> [1,1,H,W]; anything else throws.
at::Tensor channelsLastToNchw(const at::Tensor& t, const std::string& where);

/// Every tensor a tensor file holds, as stored (dtype and shape untouched), for listing:
/// .npy (one, named ""), .npz, .safetensors, or a torch.save archive (flattened dotted
/// names, see readCheckpoint()). Throws fl::Error(Input).
NamedTensors readTensorFile(const std::string& path);

/// True for the extensions readInputTensor() reads (.npy .npz .pt .pth .bin .ckpt
/// .safetensors), case-insensitive.
bool isTensorFile(const std::string& path);

}  // namespace fl
