#include "ui/main_window.h"

#include <QApplication>
#include <QDockWidget>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>
#include <QTextBrowser>

namespace fl::ui {

MainWindow::MainWindow(const ModuleRegistry& registry, QWidget* parent)
    : QMainWindow(parent), registry_(registry) {
  setWindowTitle(QStringLiteral("FusionLens"));
  resize(1400, 900);

  canvas_ = new QLabel(this);
  canvas_->setAlignment(Qt::AlignCenter);
  canvas_->setPixmap(QPixmap(QStringLiteral(":/images/fruits.jpg")));
  setCentralWidget(canvas_);

  moduleList_ = new QListWidget(this);
  for (const auto& d : registry_.all()) {
    auto* item = new QListWidgetItem(QString::fromStdString(d.displayName), moduleList_);
    item->setData(Qt::UserRole, QString::fromStdString(d.id));
    item->setToolTip(QString::fromStdString(d.summary));
  }
  auto* modulesDock = new QDockWidget(tr("Modules"), this);
  modulesDock->setObjectName(QStringLiteral("modulesDock"));
  modulesDock->setWidget(moduleList_);
  addDockWidget(Qt::LeftDockWidgetArea, modulesDock);

  moduleInfo_ = new QTextBrowser(this);
  auto* infoDock = new QDockWidget(tr("Module"), this);
  infoDock->setObjectName(QStringLiteral("infoDock"));
  infoDock->setWidget(moduleInfo_);
  addDockWidget(Qt::RightDockWidgetArea, infoDock);

  connect(moduleList_, &QListWidget::currentItemChanged, this,
          [this](QListWidgetItem* item, QListWidgetItem*) {
            if (item) showModule(item->data(Qt::UserRole).toString());
          });

  auto* fileMenu = menuBar()->addMenu(tr("&File"));
  fileMenu->addAction(tr("&Quit"), QKeySequence::Quit, qApp, &QApplication::quit);
  auto* helpMenu = menuBar()->addMenu(tr("&Help"));
  helpMenu->addAction(tr("&About FusionLens"), this, [this] {
    QMessageBox::about(this, tr("About FusionLens"),
                       tr("FusionLens: see what attention and fusion modules do.\n"
                          "Qt %1. GPL-3.0-or-later.")
                           .arg(QString::fromLatin1(qVersion())));
  });

  if (moduleList_->count() > 0) moduleList_->setCurrentRow(0);
  statusBar()->showMessage(tr("%1 modules available").arg(moduleList_->count()));
}

void MainWindow::showModule(const QString& id) {
  const ModuleDescriptor* d = registry_.find(id.toStdString());
  if (!d) return;
  QString html = QStringLiteral("<h3>%1</h3><p>%2</p><p><i>%3</i></p><h4>Inputs</h4><ul>")
                     .arg(QString::fromStdString(d->displayName).toHtmlEscaped(),
                          QString::fromStdString(d->summary).toHtmlEscaped(),
                          QString::fromStdString(d->citation).toHtmlEscaped());
  for (const auto& in : d->inputs) {
    html += QStringLiteral("<li><b>%1</b>: %2</li>")
                .arg(QString::fromStdString(in.name), QString::fromStdString(in.help).toHtmlEscaped());
  }
  html += QStringLiteral("</ul><h4>Probes</h4><ul>");
  for (const auto& p : d->probes) {
    html += QStringLiteral("<li><b>%1</b> %2: %3</li>")
                .arg(QString::fromStdString(p.name), QString::fromStdString(p.shape),
                     QString::fromStdString(p.help).toHtmlEscaped());
  }
  html += QStringLiteral("</ul>");
  moduleInfo_->setHtml(html);
}

}  // namespace fl::ui
