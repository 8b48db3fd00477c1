#include "app/cli_wording.h"

namespace fl::cli {

std::string settingFlag(const std::string& setting) {
  if (setting == kSettingDevice) return "--device";
  if (setting == kSettingMemoryBudget) return "--max-memory";
  if (setting == kSettingTimeLimit) return "--max-time";
  if (setting == kSettingOutputs) return "--outputs";
  if (setting == kSettingFeatureSpec) return "--features";
  return "";
}

std::string fixText(const Fix& fix) {
  switch (fix.action) {
    case FixAction::SetParameter:
      return "use --set " + fix.name + "=" + fix.value;
    case FixAction::OpenInput:
      return "give '" + fix.name + "' with one more --input";
    case FixAction::RaiseMemoryBudget:
      return "raise the budget with --max-memory" +
             (fix.value.empty() ? std::string() : " (e.g. --max-memory " + fix.value + ")");
    case FixAction::RaiseTimeLimit:
      return "allow it with --max-time" +
             (fix.value.empty() ? std::string()
                                : " (e.g. --max-time " + fix.value + "s, or 0 for no limit)");
    case FixAction::ChooseFeatureSpec:
      return "choose one with --features";
    case FixAction::ChoosePrefix:
      return "choose one with --prefix";
    case FixAction::InspectWeights:
      return "see `fusionlens-cli inspect FILE --module ID`";
    case FixAction::UseCpu:
      return "use --device cpu";
    case FixAction::ReadAsWeights:
      return "read a checkpoint with --weights";
    case FixAction::IgnoreHashes:
      return "pass --ignore-hashes to render anyway";
  }
  return "";
}

std::string cliText(const Error& error) {
  std::string text = error.what();
  const Subject& s = error.subject();
  // A message about a setting's value starts with the setting's name (error.h): say the flag.
  if (s.kind == SubjectKind::Setting && text.rfind(s.name + " ", 0) == 0) {
    if (const std::string flag = settingFlag(s.name); !flag.empty()) {
      text = flag + text.substr(s.name.size());
    }
  }
  if (error.fix()) text += "; " + fixText(*error.fix());
  return text;
}

}  // namespace fl::cli
