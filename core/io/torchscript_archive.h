#pragma once
// Internal to core/io/ (and its tests): not part of the core's public headers.
/// Checks a TorchScript archive (torch.jit.save) before torch::jit::load sees it: LibTorch
/// loads a storage record shorter than its tensors need and runs on uninitialised memory
/// (a feature network cut in half ran with exit 0). Every storage the archive's pickles
/// (data.pkl, constants.pkl) refer to must be a record of at least the bytes its dtype and
/// element count need. Used by every TorchScript loader (feature networks, scripted modules).
#include <string>

namespace fl {

/// Refuses with fl::Error(Input) "'x.pt': ..." a file that is not a regular file, not a zip
/// archive, has no data.pkl, or whose storage records are missing or too short.
void checkTorchScriptArchive(const std::string& path);

}  // namespace fl
