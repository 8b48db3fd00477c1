#include "core/modules/descriptor_util.h"

#include <algorithm>
#include <limits>

namespace fl::desc {

ParamSpec intParam(const std::string& name, int64_t def, int64_t min, int64_t max,
                   const std::string& help) {
  ParamSpec p;
  p.name = name;
  p.type = ParamType::Int;
  p.defaultValue = std::to_string(def);
  p.min = static_cast<double>(min);
  p.max = static_cast<double>(max);
  p.help = help;
  return p;
}

ParamSpec floatParam(const std::string& name, double def, double min, double max,
                     const std::string& help) {
  ParamSpec p;
  p.name = name;
  p.type = ParamType::Float;
  p.defaultValue = std::to_string(def);
  p.min = min;
  p.max = max;
  p.help = help;
  return p;
}

ParamSpec boolParam(const std::string& name, bool def, const std::string& help) {
  ParamSpec p;
  p.name = name;
  p.type = ParamType::Bool;
  p.defaultValue = def ? "true" : "false";
  p.help = help;
  return p;
}

ParamSpec choiceParam(const std::string& name, const std::vector<std::string>& choices,
                      const std::string& help) {
  ParamSpec p;
  p.name = name;
  p.type = ParamType::Choice;
  p.choices = choices;
  p.defaultValue = choices.front();
  p.help = help;
  return p;
}

ParamSpec intListParam(const std::string& name, const std::string& def, int64_t min,
                       int64_t max, const std::string& help) {
  ParamSpec p;
  p.name = name;
  p.type = ParamType::IntList;
  p.defaultValue = def;
  p.min = static_cast<double>(min);
  p.max = static_cast<double>(max);
  p.help = help;
  return p;
}

ProbeSpec probe(const std::string& name, ProbeKind kind, const std::string& shape, double lo,
                double hi, const std::string& help) {
  ProbeSpec p;
  p.name = name;
  p.kind = kind;
  p.shape = shape;
  p.lo = lo;
  p.hi = hi;
  p.help = help;
  return p;
}

ProbeSpec unboundedProbe(const std::string& name, ProbeKind kind, const std::string& shape,
                         const std::string& help) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return probe(name, kind, shape, nan, nan, help);
}

Problem checkNchwInputs(const ModuleDescriptor& d, const std::vector<Shape>& shapes) {
  if (shapes.size() != d.inputs.size()) {
    std::string names;
    for (const auto& in : d.inputs) names += (names.empty() ? "" : ", ") + in.name;
    const std::string text = d.id + " takes " + std::to_string(d.inputs.size()) + " input(s) (" +
                             names + "), got " + std::to_string(shapes.size());
    if (shapes.size() > d.inputs.size()) return text;
    // Too few: about the first slot left empty, which is the one to give.
    const std::string& missing = d.inputs[shapes.size()].name;
    return Problem(text, inputSubject(missing), Fix{FixAction::OpenInput, missing, {}});
  }
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape& s = shapes[i];
    const Subject input = inputSubject(d.inputs[i].name);
    if (s.size() != 4) {
      return Problem(d.id + ": input '" + d.inputs[i].name + "' has shape " + shapeText(s) +
                         "; expected 4 dimensions [B, C, H, W]",
                     input);
    }
    for (int64_t v : s) {
      if (v <= 0) {
        return Problem(d.id + ": input '" + d.inputs[i].name + "' has an empty dimension " +
                           shapeText(s),
                       input);
      }
    }
    if (i > 0 && s != shapes[0]) {
      return Problem(d.id + ": input '" + d.inputs[i].name + "' has shape " + shapeText(s) +
                         " but '" + d.inputs[0].name + "' has " + shapeText(shapes[0]) +
                         "; fusion inputs must have the same shape",
                     input);
    }
  }
  return {};
}

Problem checkReduction(const std::string& moduleId, int64_t channels, int64_t reduction,
                       const std::string& paramName) {
  if (channels / reduction >= 1) return {};
  return Problem(moduleId + ": " + std::to_string(channels) + " channels / " + paramName + " " +
                     std::to_string(reduction) + " leaves no hidden channels; " + paramName +
                     " must be <= " + std::to_string(channels) + ", or the input needs more channels",
                 parameterSubject(paramName), setParameter(paramName, std::to_string(channels)));
}

Problem evenKernel(const std::string& moduleId, int64_t k, const std::string& consequence) {
  return Problem(moduleId + ": kernel_size " + std::to_string(k) + " is even; " + consequence +
                     "; it must be odd",
                 parameterSubject("kernel_size"), setParameter("kernel_size", std::to_string(k + 1)));
}

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t v : shape) n *= v;
  return n;
}

namespace {
std::string dotted(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
}  // namespace

StateList& StateList::param(const std::string& name, Shape shape) {
  params_.push_back({name, std::move(shape), false, false});
  return *this;
}

StateList& StateList::buffer(const std::string& name, Shape shape, bool integer) {
  buffers_.push_back({name, std::move(shape), true, integer});
  return *this;
}

StateList& StateList::conv1d(const std::string& prefix, int64_t in, int64_t out, int64_t kernel, bool bias) {
  param(dotted(prefix, "weight"), {out, in, kernel});
  if (bias) param(dotted(prefix, "bias"), {out});
  return *this;
}

StateList& StateList::conv2d(const std::string& prefix, int64_t in, int64_t out, int64_t kernel, bool bias,
                             int64_t groups) {
  param(dotted(prefix, "weight"), {out, in / groups, kernel, kernel});
  if (bias) param(dotted(prefix, "bias"), {out});
  return *this;
}

StateList& StateList::linear(const std::string& prefix, int64_t in, int64_t out, bool bias) {
  param(dotted(prefix, "weight"), {out, in});
  if (bias) param(dotted(prefix, "bias"), {out});
  return *this;
}

StateList& StateList::batchNorm(const std::string& prefix, int64_t channels) {
  param(dotted(prefix, "weight"), {channels});
  param(dotted(prefix, "bias"), {channels});
  buffer(dotted(prefix, "running_mean"), {channels});
  buffer(dotted(prefix, "running_var"), {channels});
  buffer(dotted(prefix, "num_batches_tracked"), {}, /*integer=*/true);
  return *this;
}

StateList& StateList::layerNorm(const std::string& prefix, int64_t channels) {
  param(dotted(prefix, "weight"), {channels});
  param(dotted(prefix, "bias"), {channels});
  return *this;
}

std::vector<StateTensor> StateList::list() const {
  std::vector<StateTensor> out = params_;
  out.insert(out.end(), buffers_.begin(), buffers_.end());
  return out;
}

int64_t stateBytes(const std::vector<StateTensor>& state) {
  // Saturating: sizes up to 2^20 per side can describe weights past int64 (cbam-joint's MLP
  // grows with H*W); such a module is over any budget, never a wrapped small number.
  constexpr __int128 kMax = std::numeric_limits<int64_t>::max() / 2;
  __int128 bytes = 0;
  for (const auto& t : state) {
    __int128 n = t.integer ? 8 : 4;
    for (int64_t v : t.shape) n = std::min(n * std::max<int64_t>(v, 0), kMax);
    bytes = std::min(bytes + n, kMax);
  }
  return static_cast<int64_t>(bytes);
}

}  // namespace fl::desc
