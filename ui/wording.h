#pragma once
// Core messages speak the CLI's language ("use --set padding=same"): the same advice in the
// window's words, so a GUI user is told what to change where.
#include <QRegularExpression>
#include <QString>

namespace fl::ui {

inline QString forGui(QString text) {
  static const QRegularExpression set(QStringLiteral("--set ([A-Za-z_0-9]+)=([^ ,;)]+(?:,[0-9]+)*)"));
  text.replace(set, QStringLiteral("\\1 = \\2 in the Module dock"));
  text.replace(QStringLiteral("(--set num_heads=...)"), QStringLiteral("(the parameter num_heads)"));
  text.replace(QStringLiteral("an image with --features"), QStringLiteral("an image"));
  text.replace(QStringLiteral("--max-memory"), QStringLiteral("the memory budget (Module dock)"));
  text.replace(QStringLiteral("--prefix"), QStringLiteral("a prefix (fusionlens-cli inspect lists them)"));
  return text;
}

}  // namespace fl::ui
