#pragma once
/// Writing a run's result to files: every output and probe as .safetensors (the names of
/// `fusionlens-cli run --save`), one tensor as .npy, and the channel scores of the channel
/// probes as CSV or JSON. Shared by the CLI and the GUI so both write the same files.
///
/// Every writer is atomic (a temporary file next to the target, then a rename) and refuses
/// an existing file unless `overwrite` is true: fl::Error(Usage) naming the file.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/io/tensor_io.h"
#include "core/modules/probe.h"
#include "core/run/run.h"

namespace fl {

/// The tensors of a result in the order and under the names of `run --save`: each output
/// under its outputNames entry ("output", or "output.0", "output.1", ...), then each probe
/// as "probe.NAME" (descriptor order). Values as in the result (CPU float32, full shape).
NamedTensors resultTensors(const RunResult& result);

/// What made a run, as safetensors metadata: "seed", "weights" (the checkpoint path, ""
/// for none) and "param.KEY" for every parameter set on the request.
std::map<std::string, std::string> requestMetadata(const RunRequest& request);

/// Writes resultTensors() as .safetensors with metadata "module", "device" and "fusionlens"
/// (the version), plus `metadata` (which wins on equal keys; see requestMetadata()).
/// Throws fl::Error(Usage) for a failed result or an existing file without `overwrite`,
/// fl::Error(Input) when the file cannot be written.
void writeResultSafetensors(const RunResult& result, const std::string& path, bool overwrite,
                            const std::map<std::string, std::string>& metadata = {});

/// Writes one tensor, raw, as .npy (dtype and full shape kept; see writeNpy()).
void writeTensorNpy(const at::Tensor& tensor, const std::string& path, bool overwrite);

/// Writes `text` to `path` as is.
void writeTextFile(const std::string& path, const std::string& text, bool overwrite);

/// The channel scores of one channel probe at one batch element.
struct ProbeChannelScores {
  std::string probe;      ///< probe name
  ProbeKind kind = ProbeKind::ChannelWeights;  ///< ChannelWeights or Gate
  std::string reduction;  ///< "value" (ChannelWeights) or "spatial mean" (Gate)
  at::Tensor scores;      ///< [C] float32
  std::vector<int64_t> ranks;  ///< [C]: 1 = highest score; ties by channel order; NaN last
};

/// The channel scores of every channel probe of a result at batch element `batch`: each
/// ChannelWeights probe ([B,C], or [B,C,1,1]) as is, each Gate probe ([B,C,H,W]) as its
/// spatial mean per channel (accumulated in float64, stored as float32), in probe order.
/// Throws fl::Error(Usage) when the result has no such probe (naming the probes it has)
/// or `batch` is out of range.
std::vector<ProbeChannelScores> channelScoreTable(const RunResult& result, int64_t batch);

/// channelScoreTable() as CSV: a header `probe,channel,score,rank`, then one row per
/// channel of each probe (probe order, then channel order). Scores with %.9g, which reads
/// back as the same float32; NaN and infinities as nan, inf, -inf.
std::string channelScoresCsv(const RunResult& result, int64_t batch);

/// channelScoreTable() as JSON:
///   {"schema_version": 1, "module": ID, "batch": N,
///    "probes": {NAME: {"kind": "channel_weights"|"gate", "reduction": "value"|"spatial mean",
///                      "scores": [C numbers], "ranks": [C integers]}, ...}}
/// Scores are the %.9g numbers of the CSV (same float32 when read back); NaN and infinities
/// become null, as JSON has no such numbers.
std::string channelScoresJson(const RunResult& result, int64_t batch);

enum class ScoresFormat { Csv, Json };

/// The format a channel-scores file gets from its extension (.csv or .json, any case).
/// Throws fl::Error(Usage) naming the file for any other.
ScoresFormat scoresFormatFor(const std::string& path);

/// channelScoresCsv() or channelScoresJson() by `format`.
std::string channelScoresText(const RunResult& result, int64_t batch, ScoresFormat format);

/// Writes the channel scores of `batch` to `path`, CSV or JSON by its extension.
void writeChannelScores(const RunResult& result, int64_t batch, const std::string& path, bool overwrite);

}  // namespace fl
