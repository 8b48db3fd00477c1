#include "ui/error_text.h"

#include <QCoreApplication>

namespace fl::ui {

namespace {

QString tr(const char* text) { return QCoreApplication::translate("ErrorText", text); }
QString q(const std::string& s) { return QString::fromStdString(s); }

}  // namespace

QString fixText(const Fix& fix) {
  switch (fix.action) {
    case FixAction::SetParameter:
      return tr("set %1 to %2 in the Module dock").arg(q(fix.name), q(fix.value));
    case FixAction::OpenInput:
      return tr("open an input for '%1' (File > Open)").arg(q(fix.name));
    case FixAction::RaiseMemoryBudget:
      return tr("raise the Memory budget in the Module dock");
    case FixAction::RaiseTimeLimit:
      return tr("allow a longer run (at least %1 s)").arg(q(fix.value));
    case FixAction::ChooseFeatureSpec:
      return tr("choose Image features in the Inputs dock");
    case FixAction::ChoosePrefix:
      return tr("save the module's own state_dict (fusionlens-cli inspect lists the prefixes)");
    case FixAction::InspectWeights:
      return tr("fusionlens-cli inspect lists the file's tensors");
    case FixAction::UseCpu:
      return tr("choose Device CPU in the Module dock");
    case FixAction::ReadAsWeights:
      return tr("load a checkpoint with Load weights... in the Module dock");
    case FixAction::IgnoreHashes:
      return tr("render it with fusionlens-cli render --ignore-hashes");
  }
  return {};
}

QString guiText(const Error& error) {
  QString text = QString::fromStdString(error.what());
  if (error.fix()) text += QStringLiteral("; ") + fixText(*error.fix());
  return text;
}

}  // namespace fl::ui
