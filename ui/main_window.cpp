#include "ui/main_window.h"

#include <QAction>
#include <algorithm>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include "ui/compare_controller.h"
#include "ui/compare_panel.h"
#include <QDragEnterEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QKeyEvent>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QStandardPaths>
#include <QStatusBar>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>

#include "core/common/versions.h"
#include "core/run/estimate.h"
#include "core/common/memory.h"
#include "ui/document.h"
#include "ui/examples.h"
#include "ui/input_loader.h"
#include "ui/inputs_panel.h"
#include "ui/job_service.h"
#include "ui/module_panel.h"
#include "ui/points_panel.h"
#include "ui/result_export.h"
#include "ui/run_controller.h"
#include "ui/script_controller.h"
#include "ui/session_controller.h"
#include "ui/settings.h"
#include "ui/view_controls.h"
#include "ui/views/probe_view.h"

// Resources compiled into the static fl_ui library must be registered explicitly.
static void initFusionLensResources() { Q_INIT_RESOURCE(fusionlens); }

namespace fl::ui {

MainWindow::MainWindow(Document* document, RunController* runner, InputLoader* loader, QWidget* parent)
    : QMainWindow(parent), document_(document), runner_(runner), loader_(loader) {
  initFusionLensResources();
  loader_->setJobService(document_->jobs());  // its loads are background jobs like the rest
  setWindowTitle(QStringLiteral("FusionLens"));
  setAcceptDrops(true);
  resize(1500, 950);

  auto* central = new QWidget;
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(0, 0, 0, 0);
  controls_ = new ViewControls(document_);
  view_ = new ProbeView(document_);
  layout->addWidget(controls_);
  layout->addWidget(view_, 1);
  setCentralWidget(central);
  // With the Compare dock open both must stay readable (the view was squashed to ~60 px):
  // each has a usable minimum height, and the side docks keep the full height (the bottom
  // dock sits under the view only, instead of clipping the Module dock).
  view_->setMinimumHeight(300);
  setCorner(Qt::BottomLeftCorner, Qt::LeftDockWidgetArea);
  setCorner(Qt::BottomRightCorner, Qt::RightDockWidgetArea);

  inputsPanel_ = new InputsPanel(document_);
  auto* inputsDock = new QDockWidget(tr("Inputs"), this);
  inputsDock->setObjectName(QStringLiteral("inputsDock"));
  inputsDock->setWidget(inputsPanel_);
  addDockWidget(Qt::LeftDockWidgetArea, inputsDock);

  modulePanel_ = new ModulePanel(document_);
  auto* moduleDock = new QDockWidget(tr("Module"), this);
  moduleDock->setObjectName(QStringLiteral("moduleDock"));
  moduleDock->setWidget(modulePanel_);
  addDockWidget(Qt::RightDockWidgetArea, moduleDock);

  // A TorchScript file or a capture: its controller loads and runs it, the Points dock shows it.
  scripts_ = new ScriptController(document_, this);
  points_ = new PointsPanel(document_);
  auto* pointsDock = new QDockWidget(tr("Points"), this);
  pointsDock->setObjectName(QStringLiteral("pointsDock"));
  pointsDock->setWidget(points_);
  addDockWidget(Qt::RightDockWidgetArea, pointsDock);
  tabifyDockWidget(moduleDock, pointsDock);
  moduleDock->raise();
  connect(scripts_, &ScriptController::opened, this, [this, pointsDock](const QString& path, bool firstTime) {
    pointsDock->show();
    pointsDock->raise();
    if (firstTime) points_->showNotice(path);
    showMessage(tr("Opened %1").arg(path), false);
  });
  connect(scripts_, &ScriptController::failed, this, [this](const QString& message) {
    // The window keeps what it showed; the refusal stays readable in the status line.
    showMessage(message, true);
    points_->showError(message);
  });
  connect(scripts_, &ScriptController::runFailed, this, [this](const QString& message) {
    stats_->setText(tr("run failed"));
    showMessage(message, true);
    points_->showError(message);
  });
  connect(scripts_, &ScriptController::busyChanged, this, [this](bool busy) {
    busy_->setRange(0, 0);
    busy_->setTextVisible(false);
    busy_->setVisible(busy || runner_->busy());
  });
  connect(points_, &PointsPanel::closeRequested, this, [moduleDock] { moduleDock->raise(); });

  // The comparison is the document's; its controller builds the figure, the panel shows it.
  compareController_ = new CompareController(document_, this);
  compare_ = new ComparePanel(document_, nullptr, compareController_);
  compare_->setMinimumHeight(240);  // its figure, controls and a few statistics rows
  auto* compareDock = new QDockWidget(tr("Compare"), this);
  compareDock->setObjectName(QStringLiteral("compareDock"));
  compareDock->setWidget(compare_);
  addDockWidget(Qt::BottomDockWidgetArea, compareDock);
  // Hidden until asked for (View > Compare, or --compare): it would halve the main view.
  compareDock->hide();
  connect(compare_, &ComparePanel::message, this, [this](const QString& text, bool error) { showMessage(text, error); });
  sessions_ = new SessionController(document_, this);
  connect(sessions_, &SessionController::pathChanged, this, [this](const QString& path) {
    setWindowTitle(QStringLiteral("FusionLens - %1").arg(QFileInfo(path).fileName()));
  });
  connect(sessions_, &SessionController::failed, this, [this](const QString& message) {
    showMessage(message, true);
    auto* box = new QMessageBox(QMessageBox::Warning, tr("Session not opened"), message, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();  // window-modal, never blocks the event loop
  });
  connect(sessions_, &SessionController::scriptWanted, this, [this](const SessionScript& s, const QString& show) {
    ScriptOpenOptions o;
    o.preprocess = s.preprocess;
    o.imageInput = s.imageInput;
    o.moduleOutputs = s.moduleOutputs;
    o.expectSha256 = s.sha256;
    o.showPoint = show;
    scripts_->open(s.path, o);
  });
  connect(sessions_, &SessionController::restored, this,
          [this](const QString& path, const QStringList& problems, bool compareVisible) {
            // Files still loading belong to the state the session replaced.
            loader_->discardPending();
            auto* dock = qobject_cast<QDockWidget*>(compare_->parentWidget());
            if (compareVisible) {
              showCompare();
            } else if (dock) {
              dock->hide();
            }
            if (problems.isEmpty()) {
              showMessage(tr("Opened session %1").arg(path), false);
              return;
            }
            // Files moved: say exactly what is missing; everything else is restored.
            showMessage(tr("Opened session %1 with problems: %2").arg(QFileInfo(path).fileName(), problems.join(QStringLiteral("; "))), true);
            auto* box = new QMessageBox(QMessageBox::Warning, tr("Session opened with problems"),
                                        tr("%1 was opened, but not everything in it could be restored:").arg(path),
                                        QMessageBox::Ok, this);
            box->setInformativeText(QStringLiteral("- ") + problems.join(QStringLiteral("\n- ")) +
                                    tr("\n\nPaths are stored relative to the session file: keep the session beside "
                                       "its files when moving them, or open the files again and save the session."));
            box->setAttribute(Qt::WA_DeleteOnClose);
            box->open();
          });

  busy_ = new QProgressBar;
  busy_->setObjectName(QStringLiteral("busyBar"));
  busy_->setRange(0, 0);  // indeterminate until a run reports progress
  busy_->setMaximumWidth(240);
  busy_->setVisible(false);
  busy_->setToolTip(tr("The worker is computing (a run or attention rows); Esc or Cancel stops it"));
  cancelRun_ = new QToolButton;
  cancelRun_->setObjectName(QStringLiteral("cancelRun"));
  cancelRun_->setText(tr("Cancel"));
  cancelRun_->setToolTip(tr("Stop the run: osra and cmgm stop at their next band of query rows; other modules "
                            "finish their forward in the background and the result is dropped"));
  cancelRun_->setVisible(false);
  hover_ = new QLabel;
  stats_ = new QLabel;
  statusBar()->addWidget(hover_, 1);
  statusBar()->addPermanentWidget(stats_);
  statusBar()->addPermanentWidget(busy_);
  statusBar()->addPermanentWidget(cancelRun_);

  buildMenus();

  connect(inputsPanel_, &InputsPanel::openRequested, this, [this] {
    const QStringList paths = QFileDialog::getOpenFileNames(
        this, tr("Open images or tensors"), prefs::startDirectory(),
        tr("Images, tensors, networks and captures (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.npy *.npz *.pt *.pth "
           "*.zip *.safetensors *.flcap);;All files (*)"));
    if (!paths.isEmpty()) openFiles(paths);
  });
  // A read-out is not an error: it takes the status line back in the normal colour.
  connect(view_, &ProbeView::hovered, this, [this](const QString& text) { showMessage(text, false); });
  connect(runner_, &RunController::busyChanged, this, [this](bool busy) {
    // Each run starts indeterminate; long ones (osra, cmgm in query bands) report progress.
    busy_->setRange(0, 0);
    busy_->setTextVisible(false);
    busy_->setVisible(busy);
    cancelRun_->setVisible(busy);
  });
  connect(runner_, &RunController::started, this, [this] {
    busy_->setRange(0, 0);
    busy_->setTextVisible(false);
  });
  connect(runner_, &RunController::progress, this, [this](uint64_t, double fraction, double eta) {
    busy_->setRange(0, 1000);
    busy_->setValue(static_cast<int>(fraction * 1000));
    const QString left = eta < 0 ? QString() : tr(", about %1 left").arg(QString::fromStdString(durationText(eta)));
    busy_->setFormat(QStringLiteral("%1%%2").arg(static_cast<int>(fraction * 100)).arg(left));
    busy_->setTextVisible(true);
  });
  connect(cancelRun_, &QToolButton::clicked, runner_, &RunController::cancel);
  connect(runner_, &RunController::started, this, [this](uint64_t id) {
    stats_->setText(tr("running #%1 ...").arg(id));
  });
  connect(runner_, &RunController::cancelling, this, [this](uint64_t id) {
    // osra and cmgm stop between bands; other forwards cannot be stopped midway: say so.
    stats_->setText(tr("cancelling #%1: it stops, or finishes in the background, and is dropped").arg(id));
  });
  connect(runner_, &RunController::staleDropped, this, [this](uint64_t id) {
    if (!runner_->busy()) stats_->setText(tr("run #%1 dropped; the shown result is unchanged").arg(id));
  });
  connect(document_, &Document::resultChanged, this, [this] {
    const RunResult* r = document_->result();
    if (!r) return;
    const auto time = [](double ms) {
      return ms < 1000 ? tr("%1 ms").arg(ms, 0, 'f', 1) : tr("%1 s").arg(ms / 1000, 0, 'f', 2);
    };
    const int64_t peak = document_->resultContext().peakBytes;
    const QString peakText = peak >= 0 ? QStringLiteral("+") + QString::fromStdString(formatBytes(peak)) : tr("not measured");
    if (document_->script()) {
      // A TorchScript file has no estimate of its own.
      stats_->setText(tr("%1 on %2: %3 (forward %4), peak memory %5")
                          .arg(QString::fromStdString(r->moduleId), QString::fromStdString(r->device), time(r->totalMs),
                               time(r->forwardMs), peakText));
    } else {
      stats_->setText(tr("%1 on %2: %3 (forward %4), peak memory %5 (estimate %6)")
                          .arg(QString::fromStdString(r->moduleId), QString::fromStdString(r->device),
                               time(r->totalMs), time(r->forwardMs), peakText,
                               QString::fromStdString(formatBytes(r->estimatedBytes))));
    }
    stats_->setToolTip(tr("Time of the whole run and of the module's forward. Peak memory: the most tensor memory "
                          "this run's job held at once (measured by LibTorch's allocator for this job alone, not the "
                          "process); estimate: the module's own estimate of its full computation."));
    QString warn;
    for (const auto& w : r->warnings) warn += QString::fromStdString(w) + QStringLiteral("; ");
    showMessage(warn, false);
  });
  connect(document_, &Document::runFailed, this, [this](const QString& msg) {
    // Not modal: the message stays in the status bar, the last good picture stays on screen.
    stats_->setText(tr("run failed"));
    showMessage(msg, true);
  });
  connect(loader_, &InputLoader::loaded, this, [this](const QList<LoadOutcome>& batch) {
    std::vector<InputItem> items;
    QStringList errors, warnings;
    QStringList recent = prefs::kRecentFiles.get();
    for (const LoadOutcome& o : batch) {
      if (!o.ok) {
        errors << o.error;
        continue;
      }
      items.push_back(o.item);
      recent.removeAll(o.item.path);
      recent.prepend(o.item.path);
      warnings << o.warnings;
    }
    if (!items.empty()) {
      while (recent.size() > prefs::kMaxRecentFiles) recent.removeLast();
      prefs::kRecentFiles.set(recent);
      updateRecentMenu();
      document_->addInputs(std::move(items));
    }
    if (!errors.isEmpty()) {
      showMessage(errors.join(QStringLiteral("; ")), true);
    } else if (!warnings.isEmpty()) {
      showMessage(warnings.join(QStringLiteral("; ")), false);
    }
  });

  restoreGeometry(prefs::kWindowGeometry.get());
  restoreState(prefs::kWindowState.get());
}

void MainWindow::buildMenus() {
  auto* file = menuBar()->addMenu(tr("&File"));
  auto* open = file->addAction(tr("&Open images or tensors..."), this, [this] { Q_EMIT inputsPanel_->openRequested(); });
  open->setShortcut(QKeySequence::Open);
  recentMenu_ = file->addMenu(tr("Open &recent"));
  updateRecentMenu();
  auto* weights = file->addAction(tr("Load &weights..."), this, [this] {
    const QString path = QFileDialog::getOpenFileName(this, tr("Load weights"), prefs::startDirectory(),
        tr("state_dict (*.pt *.pth *.bin *.ckpt *.safetensors);;All files (*)"));
    if (!path.isEmpty()) modulePanel_->loadWeights(path);
  });
  weights->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_W));
  file->addAction(tr("E&xport probes..."), this, [this] { const auto r = exportProbesDialog(this, *document_); if (!r.text.isEmpty()) showMessage(r.text, r.error); });
  file->addAction(tr("Export &channel scores..."), this, [this] { const auto r = exportChannelScoresDialog(this, *document_); if (!r.text.isEmpty()) showMessage(r.text, r.error); });
  // Figures are made by the Compare dock; from the menu, the module shown is the figure.
  file->addAction(tr("Export &figure..."), this, [this] {
    showCompare();
    if (compare_->columns().empty()) {
      compare_->addCurrentModule();
      showMessage(tr("The figure of %1 is being built in the Compare dock; choose Export figure... again when it is shown.")
                      .arg(document_->moduleId()), false);
      return;
    }
    compare_->exportDialog();
  });
  file->addAction(tr("Open &demo"), this, &MainWindow::openDemo);
  auto* examplesMenu = file->addMenu(tr("Open e&xample"));
  for (const Example& e : examples()) {
    // A network scripts/train_demo.py did not ship is not offered.
    if (!e.stem.isEmpty() && !QFile::exists(e.stem)) continue;
    if (!e.network.isEmpty() && !QFile::exists(e.network)) continue;
    examplesMenu->addAction(e.title, this, [this, e] { openExample(e); });
  }
  file->addSeparator();
  auto* openSessionAction = file->addAction(tr("Open &session..."), this, [this] {
    const QString path = QFileDialog::getOpenFileName(this, tr("Open session"), prefs::startDirectory(),
                                                      tr("FusionLens sessions (*.flsession *.json);;All files (*)"));
    if (!path.isEmpty()) openSession(path);
  });
  openSessionAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
  auto* saveSession = file->addAction(tr("&Save session"), this, [this] {
    if (sessions_->path().isEmpty()) {
      saveSessionAs();
      return;
    }
    const QString error = sessions_->save(sessions_->path(), !compare_->parentWidget()->isHidden());
    showMessage(error.isEmpty() ? tr("Saved session %1").arg(sessions_->path()) : error, !error.isEmpty());
  });
  saveSession->setShortcut(QKeySequence::Save);
  auto* saveSessionAsAction = file->addAction(tr("Save session &as..."), this, &MainWindow::saveSessionAs);
  saveSessionAsAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_S));
  file->addSeparator();
  auto* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  auto* runMenu = menuBar()->addMenu(tr("&Run"));
  auto* runNow = runMenu->addAction(tr("&Run now"), this, [this] {
    if (document_->script()) {
      scripts_->runNow();
    } else {
      runner_->runNow();
    }
  });
  runNow->setShortcut(QKeySequence(Qt::Key_F5));
  // No QAction shortcut: a window shortcut also fired for the Esc that closes a combo's
  // popup (the Colormap list), throwing a 22 s run away. Esc cancels only when no widget used
  // it and it reaches the window (keyPressEvent); "\tEsc" still shows the key in the menu.
  auto* cancel = runMenu->addAction(tr("&Cancel") + QStringLiteral("\tEsc"), runner_, &RunController::cancel);
  cancel->setObjectName(QStringLiteral("cancelAction"));
  cancel->setToolTip(tr("Forget pending runs and stop the running one (osra and cmgm stop between bands of query "
                        "rows; other forwards finish in the background and their result is dropped)"));
  cancel->setEnabled(runner_->busy());
  connect(runner_, &RunController::busyChanged, cancel, &QAction::setEnabled);
  auto* autoRun = runMenu->addAction(tr("Re-run on &changes"));
  autoRun->setCheckable(true);
  autoRun->setChecked(prefs::kAutoRun.get());
  runner_->setAutoRun(autoRun->isChecked());
  connect(autoRun, &QAction::toggled, this, [this](bool on) {
    runner_->setAutoRun(on);
    prefs::kAutoRun.set(on);
  });

  auto* viewMenu = menuBar()->addMenu(tr("&View"));
  for (QDockWidget* dock : findChildren<QDockWidget*>()) viewMenu->addAction(dock->toggleViewAction());

  auto* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About FusionLens"), this, [this] {
    QMessageBox::about(this, tr("About FusionLens"),
        tr("<h3>FusionLens %1</h3><p>See what attention and feature-fusion modules do.</p>"
           "<p>Qt %2<br>LibTorch %3<br>OpenCV %4<br>%5</p><p>GPL-3.0-or-later. QCustomPlot is GPL. "
           "Sample images: OpenCV samples, Apache-2.0.</p>")
            .arg(QApplication::applicationVersion(), QString::fromLatin1(qVersion()),
                 QString::fromStdString(libtorchVersion()), QString::fromStdString(opencvVersion()),
                 QString::fromStdString(cudaStatus() + "<br>" + blasStatus())));
  });
}

void MainWindow::updateRecentMenu() {
  recentMenu_->clear();
  for (const QString& path : prefs::kRecentFiles.get()) {
    recentMenu_->addAction(QFileInfo(path).fileName(), this, [this, path] { openFiles({path}); })->setToolTip(path);
  }
  recentMenu_->setEnabled(!recentMenu_->isEmpty());
}

void MainWindow::showCompare() {
  auto* dock = qobject_cast<QDockWidget*>(compare_->parentWidget());
  if (!dock) return;
  dock->show();
  dock->raise();
  // Half the window where that leaves the view its room, else what the view leaves over.
  resizeDocks({dock}, {std::max(compare_->minimumHeight(), std::min(height() / 2, height() - 480))}, Qt::Vertical);
}

void MainWindow::openFiles(const QStringList& paths) {
  if (paths.isEmpty()) return;
  prefs::kLastDirectory.set(QFileInfo(paths.front()).absolutePath());
  // TorchScript files (by their entries: a .pt may also be a tensor file) and captures open
  // as the script source; the rest are inputs.
  QStringList inputs;
  for (const QString& p : paths) {
    if (ScriptController::isScriptFile(p)) {
      scripts_->open(p);
    } else {
      inputs << p;
    }
  }
  if (!inputs.isEmpty()) loader_->load(inputs, inputsPanel_->featureSpec());
}

void MainWindow::openDemo() { openExample(examples().front()); }

void MainWindow::openExample(const Example& example) {
  // The example's files ship inside the binary; OpenCV and LibTorch read files: write them out.
  QString error;
  if (!example.network.isEmpty()) {
    const QString image = materialiseResource(example.image, &error);
    const QString network = image.isEmpty() ? QString() : materialiseResource(example.network, &error);
    // The manifest beside it names the classes; without it the classes are numbered.
    if (!network.isEmpty()) materialiseResource(QStringLiteral(":/demo/manifest.json"), nullptr);
    if (!error.isEmpty()) {
      showMessage(tr("The example could not be opened: %1").arg(error), true);
      return;
    }
    // An example is a fresh start: its network reads its own garment, not a photo opened before.
    document_->clearInputs();
    ScriptOpenOptions o;
    o.preprocess = example.preprocess.toStdString();
    o.imageInput = true;
    o.showPoint = example.tensor;
    scripts_->open(network, o);
    loader_->load({image}, inputsPanel_->featureSpec());
    return;
  }
  const QString image = materialiseResource(example.image, &error);
  const QString stem = example.stem.isEmpty() || image.isEmpty() ? QString() : materialiseResource(example.stem, &error);
  const QString weights =
      example.weights.isEmpty() || !error.isEmpty() ? QString() : materialiseResource(example.weights, &error);
  if (!error.isEmpty()) {
    showMessage(tr("The example could not be opened: %1").arg(error), true);
    return;
  }
  const QString spec = stem.isEmpty() ? example.featureSpec : QStringLiteral("torchscript:path=") + stem;
  document_->clearInputs();  // the example's module runs on its own image only
  inputsPanel_->setFeatureSpec(spec);
  document_->setModule(example.moduleId);
  if (weights.isEmpty()) {
    modulePanel_->clearWeights();
  } else {
    modulePanel_->loadWeights(weights);
  }
  ViewSettings v = document_->view();
  v.tensor = example.tensor;
  v.normalisation = QStringLiteral("minmax");
  document_->setView(v);
  // Not openFiles: the cache folder must not become the folder dialogs start in.
  loader_->load({image}, spec);
}

void MainWindow::setFeatureSpec(const QString& spec) { inputsPanel_->setFeatureSpec(spec); }

void MainWindow::openSession(const QString& path) {
  prefs::kLastDirectory.set(QFileInfo(path).absolutePath());
  sessions_->open(path, inputsPanel_->featureSpec());
}

void MainWindow::saveSessionAs() {
  QString path = QFileDialog::getSaveFileName(this, tr("Save session"),
                                              sessions_->path().isEmpty() ? prefs::startDirectory() + QStringLiteral("/session.flsession") : sessions_->path(),
                                              tr("FusionLens sessions (*.flsession)"));
  if (path.isEmpty()) return;  // the dialog itself asked before replacing a file
  if (QFileInfo(path).suffix().isEmpty()) path += QStringLiteral(".flsession");
  const QString error = sessions_->save(path, !compare_->parentWidget()->isHidden());
  showMessage(error.isEmpty() ? tr("Saved session %1").arg(path) : error, !error.isEmpty());
}

void MainWindow::showMessage(const QString& text, bool error) {
  hover_->setText(text);
  hover_->setStyleSheet(error ? QStringLiteral("color: #b00020;") : QString());
  hover_->setToolTip(text);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  prefs::kWindowGeometry.set(saveGeometry());
  prefs::kWindowState.set(saveState());
  runner_->cancel();
  QMainWindow::closeEvent(event);
}

void MainWindow::keyPressEvent(QKeyEvent* event) {
  // Esc that no child took (a popup or an editor closes itself and keeps its Esc): cancel.
  if (event->key() == Qt::Key_Escape && event->modifiers() == Qt::NoModifier && runner_->busy()) {
    runner_->cancel();
    event->accept();
    return;
  }
  QMainWindow::keyPressEvent(event);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  // Files only: a dragged web link or text is not something to open.
  for (const QUrl& url : event->mimeData()->urls()) {
    if (url.isLocalFile()) {
      event->acceptProposedAction();
      return;
    }
  }
}

void MainWindow::dropEvent(QDropEvent* event) {
  QStringList paths, refused;
  for (const QUrl& url : event->mimeData()->urls()) {
    (url.isLocalFile() ? paths : refused) << (url.isLocalFile() ? url.toLocalFile() : url.toDisplayString());
  }
  if (!refused.isEmpty()) showMessage(tr("Not a local file, not opened: %1").arg(refused.join(QStringLiteral(", "))), true);
  if (paths.isEmpty()) return;
  event->acceptProposedAction();
  openFiles(paths);
}

}  // namespace fl::ui
