// fusionlens: the desktop explorer. Wiring only.
#include <QApplication>

#include "core/modules/registry.h"
#include "ui/main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("FusionLens"));
  QApplication::setOrganizationName(QStringLiteral("FusionLens"));
  fl::ModuleRegistry registry;
  fl::registerBuiltinModules(registry);
  fl::ui::MainWindow window(registry);
  window.show();
  return app.exec();
}
