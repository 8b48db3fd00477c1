// The GUI monkey (ctest label `monkey`): the real MainWindow, offscreen, driven by seeded random
// actions on its visible, enabled widgets as a person would (combos opened and picked with the
// mouse and the keyboard, spin boxes, list and tree clicks, buttons, sliders, line edits, menu
// actions, docks shown, hidden and floated, modules switched, inputs reassigned, Esc), built with
// AddressSanitizer and UBSan. It passes when nothing crashes, no sanitizer reports, and the window
// still answers afterwards.
//
//   fl_ui_monkey [--seed N] [--actions N] [--verbose]   (or FL_MONKEY_SEED, FL_MONKEY_ACTIONS,
//                                                         FL_MONKEY_VERBOSE=1)
//
// Each action ("seed S #i: ...") and each Qt warning goes into a log of the last 80 lines, which
// is printed with the failure (sanitizer report, or a final check that fails); --verbose prints
// every line as it happens. Quiet by default because CI shows only the head and the tail of a
// long output: a 2000-action log once hid the very lines that said why a seed failed. Rerun the
// same seed to replay it (runs finish on a worker thread, so timing can differ between replays;
// the choices of the monkey depend only on the seed and the widgets). Known noise of the
// offscreen platform ("This plugin does not support raise()" and the like) is counted, not kept.
//
// Dialogs never block it: every QDialog that is shown is answered at once from the event loop
// (a file dialog gets a fixed path in the monkey's folder, any other dialog is rejected).
// Left out on purpose: File > Quit (ends the run) and File > Open demo (a full-size image that
// makes the attention modules take many seconds per run; the demo has its own QtTest).
#include <QAbstractItemView>
#include <QAbstractSpinBox>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QImage>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QPushButton>
#include <QSlider>
#include <QTemporaryDir>
#include <QTimer>
#include <QTreeWidget>
#include <QtTest/QtTest>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <vector>

// Under ASan the runtime calls printLast before it exits on a report (the seed and the action).
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define FL_HAVE_SANITIZER_CALLBACK 1
#endif

#include <ATen/ATen.h>

#include "core/io/npy.h"
#include "core/modules/registry.h"
#include "ui/document.h"
#include "ui/input_loader.h"
#include "ui/job_service.h"
#include "ui/main_window.h"
#include "ui/module_panel.h"
#include "ui/run_controller.h"
#include "ui/session_controller.h"

using namespace fl;
using namespace fl::ui;

namespace {

int gSeed = 0;
std::string gLast;  // the action being done, for the death callback
bool gVerbose = false;
std::mutex gLogMutex;  // Qt may warn from the worker thread
std::deque<std::string> gLog;
long gNoise = 0;
constexpr size_t kLogLines = 80;

void logLine(const std::string& line) {
  std::lock_guard<std::mutex> lock(gLogMutex);
  gLog.push_back(line);
  if (gLog.size() > kLogLines) gLog.pop_front();
  if (gVerbose) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
}

/// The last lines of the log, to stderr. try_lock: a sanitizer may stop the process while the
/// worker thread holds the lock; a log missing then is better than a hang.
void dumpLog() {
  std::unique_lock<std::mutex> lock(gLogMutex, std::try_to_lock);
  if (!lock.owns_lock()) return;
  std::fprintf(stderr, "monkey: the last %zu lines of the log (%ld lines of platform noise left out):\n", gLog.size(),
               gNoise);
  for (const std::string& line : gLog) std::fprintf(stderr, "  %s\n", line.c_str());
}

void printLast() {
  dumpLog();
  std::fprintf(stderr, "\nmonkey: FAILED with seed %d during: %s\nmonkey: replay with FL_MONKEY_SEED=%d (or --seed %d)\n",
               gSeed, gLast.c_str(), gSeed, gSeed);
}

/// Qt's messages join the log; the offscreen platform's known noise is only counted.
void messageHandler(QtMsgType type, const QMessageLogContext&, const QString& msg) {
  static const char* const noise[] = {"This plugin does not support", "QPainter::begin: Paint device returned engine == 0",
                                      "paint buffer returned inactive painter", "QStandardPaths: XDG_RUNTIME_DIR"};
  for (const char* n : noise) {
    if (msg.contains(QLatin1String(n))) {
      std::lock_guard<std::mutex> lock(gLogMutex);
      ++gNoise;
      return;
    }
  }
  logLine((type == QtDebugMsg ? "qt debug: " : type == QtInfoMsg ? "qt info: " : "qt warning: ") + msg.toStdString());
}

/// Answers every dialog as soon as it is shown, from the event loop (a modal exec() would
/// otherwise wait for a person): file dialogs get a fixed path, others are rejected.
class DialogAnswerer : public QObject {
 public:
  DialogAnswerer(QString dir, QStringList images, QString weights, std::mt19937* rng)
      : dir_(std::move(dir)), images_(std::move(images)), weights_(std::move(weights)), rng_(rng) {}
  int answered = 0;

  bool eventFilter(QObject* watched, QEvent* event) override {
    if (event->type() == QEvent::Show) {
      if (auto* d = qobject_cast<QDialog*>(watched); d && d->isWindow()) {
        QPointer<QDialog> guard(d);
        QTimer::singleShot(0, d, [this, guard] {
          if (guard && guard->isVisible()) answer(guard);
        });
      }
    }
    return false;
  }

 private:
  void answer(QDialog* d) {
    ++answered;
    if (auto* fd = qobject_cast<QFileDialog*>(d)) {
      const QString filters = fd->nameFilters().join(QLatin1Char(' '));
      QString path;
      if (fd->acceptMode() == QFileDialog::AcceptSave) {
        path = dir_ + (filters.contains(QStringLiteral("session")) ? QStringLiteral("/saved.flsession")
                       : filters.contains(QStringLiteral("PDF"))   ? QStringLiteral("/figure.pdf")
                                                                   : QStringLiteral("/export.npz"));
      } else if (filters.contains(QStringLiteral("state_dict"))) {
        path = weights_;
      } else if (filters.contains(QStringLiteral("session"))) {
        path = dir_ + QStringLiteral("/saved.flsession");
        if (!QFileInfo::exists(path)) {
          fd->reject();
          return;
        }
      } else {
        path = images_[static_cast<int>((*rng_)() % static_cast<unsigned>(images_.size()))];
      }
      logLine("    (file dialog '" + fd->windowTitle().toStdString() + "' answered with " + path.toStdString() + ")");
      fd->selectFile(path);
      QMetaObject::invokeMethod(fd, "accept");  // protected in QFileDialog; a slot
      return;
    }
    logLine("    (dialog '" + d->windowTitle().toStdString() + "' closed)");
    d->reject();
  }

  QString dir_;
  QStringList images_;
  QString weights_;
  std::mt19937* rng_;
};

class Monkey {
 public:
  Monkey(int seed, MainWindow& window, Document& doc, RunController& runner, InputLoader& loader, QString dir,
         QStringList images)
      : rng_(static_cast<unsigned>(seed)), seed_(seed), w_(window), doc_(doc), runner_(runner), loader_(loader),
        dir_(std::move(dir)), images_(std::move(images)) {}

  std::mt19937& rng() { return rng_; }

  void step(int i) {
    index_ = i;
    const int r = pick(100);
    if (r < 55) {
      widgetAction();
    } else if (r < 68) {
      menuAction();
    } else if (r < 76) {
      dockAction();
    } else if (r < 83) {
      fileAction();
    } else if (r < 90) {
      keyAction();
    } else if (r < 95) {
      moduleAction();
    } else {
      settle(3000);
      say(QStringLiteral("wait until the worker is idle"));
    }
    QApplication::processEvents();
  }

  /// Waits (bounded) until runs, loads and figure builds are done.
  bool settle(int ms) {
    QElapsedTimer t;
    t.start();
    while (doc_.jobs()->busy()) {  // runs, loads, weights, sessions and compare builds
      if (t.elapsed() > ms) return false;
      QApplication::processEvents(QEventLoop::AllEvents, 20);
      QThread::msleep(2);
    }
    QApplication::processEvents();
    return true;
  }

 private:
  int pick(int n) { return n <= 0 ? 0 : static_cast<int>(rng_() % static_cast<unsigned>(n)); }

  void say(const QString& what) {
    gLast = QStringLiteral("#%1: %2").arg(index_).arg(what).toStdString();
    logLine("seed " + std::to_string(seed_) + " " + gLast);
  }

  static QString name(const QWidget* w) {
    QString n = w->objectName();
    if (n.isEmpty()) {
      if (auto* b = qobject_cast<const QAbstractButton*>(w)) n = b->text();
    }
    if (n.isEmpty() && w->parentWidget()) n = QStringLiteral("in ") + name(w->parentWidget());
    return QStringLiteral("%1 '%2'").arg(QString::fromLatin1(w->metaObject()->className()), n);
  }

  /// Visible, enabled widgets a person could use, in a stable order.
  std::vector<QWidget*> candidates() {
    std::vector<QWidget*> out;
    const auto add = [&](QWidget* root) {
      for (QWidget* c : root->findChildren<QWidget*>()) {
        if (!c->isVisible() || !c->isEnabled() || c->width() < 2 || c->height() < 2) continue;
        const bool inEditor = qobject_cast<QComboBox*>(c->parentWidget()) || qobject_cast<QAbstractSpinBox*>(c->parentWidget());
        if (qobject_cast<QComboBox*>(c) || qobject_cast<QAbstractSpinBox*>(c) || qobject_cast<QAbstractItemView*>(c) ||
            qobject_cast<QAbstractButton*>(c) || qobject_cast<QSlider*>(c) || (qobject_cast<QLineEdit*>(c) && !inEditor)) {
          // a combo's popup view belongs to the combo, not to the window
          if (qobject_cast<QAbstractItemView*>(c) && c->window() != c->parentWidget()->window()) continue;
          if (c->window()->windowType() == Qt::Popup) continue;
          out.push_back(c);
        }
      }
    };
    add(&w_);
    return out;
  }

  void widgetAction() {
    const std::vector<QWidget*> all = candidates();
    if (all.empty()) return;
    QWidget* c = all[static_cast<size_t>(pick(static_cast<int>(all.size())))];
    if (auto* combo = qobject_cast<QComboBox*>(c)) return comboAction(combo);
    if (auto* spin = qobject_cast<QAbstractSpinBox*>(c)) return spinAction(spin);
    if (auto* view = qobject_cast<QAbstractItemView*>(c)) return viewAction(view);
    if (auto* slider = qobject_cast<QSlider*>(c)) {
      const Qt::Key keys[] = {Qt::Key_Left, Qt::Key_Right, Qt::Key_PageUp, Qt::Key_PageDown, Qt::Key_Home, Qt::Key_End};
      const Qt::Key k = keys[pick(6)];
      say(QStringLiteral("key %1 on %2").arg(QKeySequence(k).toString(), name(slider)));
      slider->setFocus();
      QTest::keyClick(slider, k);
      return;
    }
    if (auto* line = qobject_cast<QLineEdit*>(c)) {
      const char* texts[] = {"1,2", "3", "", "x", "2,4,8", "-1", "999999"};
      const QString text = QString::fromLatin1(texts[pick(7)]);
      say(QStringLiteral("type '%1' + Return into %2").arg(text, name(line)));
      line->setFocus();
      line->selectAll();
      QTest::keyClicks(line, text);
      QTest::keyClick(line, Qt::Key_Return);
      return;
    }
    if (auto* button = qobject_cast<QAbstractButton*>(c)) {
      say(QStringLiteral("click %1").arg(name(button)));
      QTest::mouseClick(button, Qt::LeftButton, {}, button->rect().center());
      return;
    }
  }

  void comboAction(QComboBox* combo) {
    const int how = pick(5);
    const int n = combo->count();
    if (how == 0 || how == 1) {
      // Open the popup with the mouse and click an item in it.
      say(QStringLiteral("mouse: open %1 and pick").arg(name(combo)));
      QTest::mouseClick(combo, Qt::LeftButton, {}, combo->rect().center());
      QApplication::processEvents();
      // Guarded: the pick may rebuild the panel that holds the combo (a module variant brings
      // other parameters), which deletes the combo and its popup during processEvents().
      QPointer<QAbstractItemView> view = combo->view();
      if (!view || !view->isVisible() || n == 0) {
        QTest::keyClick(QApplication::focusWidget() ? QApplication::focusWidget() : combo, Qt::Key_Escape);
        return;
      }
      const int row = pick(n);
      const QRect rect = view->visualRect(combo->model()->index(row, combo->modelColumn(), combo->rootModelIndex()));
      logLine("    pick row " + std::to_string(row) + " '" + combo->itemText(row).toStdString() + "'");
      if (rect.isValid()) {
        QTest::mouseMove(view->viewport(), rect.center());
        QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, rect.center());
      }
      QApplication::processEvents();
      if (view && view->isVisible()) QTest::keyClick(view, Qt::Key_Escape);
    } else if (how == 2) {
      // Keyboard: F4 opens the popup, arrows move, Return picks.
      say(QStringLiteral("keyboard: F4, arrows, Return on %1").arg(name(combo)));
      combo->setFocus();
      QTest::keyClick(combo, Qt::Key_F4);
      QApplication::processEvents();
      QAbstractItemView* view = combo->view();
      QWidget* target = view && view->isVisible() ? static_cast<QWidget*>(view) : combo;
      for (int k = pick(3); k >= 0; --k) QTest::keyClick(target, pick(3) == 0 ? Qt::Key_Up : Qt::Key_Down);
      QTest::keyClick(target, Qt::Key_Return);
    } else if (how == 3) {
      say(QStringLiteral("keyboard: arrow on closed %1").arg(name(combo)));
      combo->setFocus();
      QTest::keyClick(combo, pick(2) ? Qt::Key_Down : Qt::Key_Up);
    } else {
      // Open and close with Esc (it must close the popup only).
      say(QStringLiteral("mouse: open %1, Esc").arg(name(combo)));
      QTest::mouseClick(combo, Qt::LeftButton, {}, combo->rect().center());
      QApplication::processEvents();
      QAbstractItemView* view = combo->view();
      QTest::keyClick(view && view->isVisible() ? static_cast<QWidget*>(view) : combo, Qt::Key_Escape);
    }
  }

  void spinAction(QAbstractSpinBox* spin) {
    const int how = pick(4);
    spin->setFocus();
    if (how == 0) {
      // the arrow buttons at the right edge
      const bool up = pick(2);
      const QPoint at(spin->width() - 6, up ? spin->height() / 4 : spin->height() * 3 / 4);
      say(QStringLiteral("click %1 arrow of %2").arg(up ? QStringLiteral("up") : QStringLiteral("down"), name(spin)));
      QTest::mouseClick(spin, Qt::LeftButton, {}, at);
    } else if (how == 1 || how == 2) {
      const Qt::Key keys[] = {Qt::Key_Up, Qt::Key_Down, Qt::Key_PageUp, Qt::Key_PageDown};
      const Qt::Key k = keys[pick(4)];
      say(QStringLiteral("key %1 on %2").arg(QKeySequence(k).toString(), name(spin)));
      QTest::keyClick(spin, k);
    } else {
      const char* texts[] = {"0", "1", "2", "5", "8", "64", "-1", "1000000", "0.5"};
      const QString text = QString::fromLatin1(texts[pick(9)]);
      say(QStringLiteral("type '%1' + Return into %2").arg(text, name(spin)));
      QTest::keyClick(spin, Qt::Key_A, Qt::ControlModifier);
      QTest::keyClicks(spin, text);
      QTest::keyClick(spin, Qt::Key_Return);
    }
  }

  void viewAction(QAbstractItemView* view) {
    QAbstractItemModel* model = view->model();
    if (!model) return;
    std::vector<QModelIndex> indexes;
    std::function<void(const QModelIndex&)> walk = [&](const QModelIndex& parent) {
      for (int r = 0; r < model->rowCount(parent) && indexes.size() < 200; ++r) {
        const QModelIndex i = model->index(r, 0, parent);
        indexes.push_back(i);
        walk(i);
      }
    };
    walk(view->rootIndex());
    if (indexes.empty()) {
      say(QStringLiteral("click empty %1").arg(name(view)));
      QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, view->viewport()->rect().center());
      return;
    }
    const QModelIndex index = indexes[static_cast<size_t>(pick(static_cast<int>(indexes.size())))];
    view->scrollTo(index);
    const QRect rect = view->visualRect(index);
    if (!rect.isValid() || !view->viewport()->rect().intersects(rect)) return;
    const bool twice = pick(8) == 0;
    say(QStringLiteral("%1 '%2' in %3").arg(twice ? QStringLiteral("double-click") : QStringLiteral("click"),
                                            index.data().toString().left(40).replace(QLatin1Char('\n'), QLatin1Char(' ')), name(view)));
    if (twice) {
      QTest::mouseDClick(view->viewport(), Qt::LeftButton, {}, rect.center());
    } else {
      QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, rect.center());
    }
  }

  void menuAction() {
    std::vector<QAction*> actions;
    std::function<void(QMenu*)> walk = [&](QMenu* menu) {
      for (QAction* a : menu->actions()) {
        if (a->menu()) {
          walk(a->menu());
          continue;
        }
        const QString t = a->text();
        if (a->isSeparator() || !a->isEnabled() || t.contains(QStringLiteral("Quit")) || t.contains(QStringLiteral("demo"))) continue;
        actions.push_back(a);
      }
    };
    for (QAction* top : w_.menuBar()->actions()) {
      if (top->menu()) walk(top->menu());
    }
    if (actions.empty()) return;
    QAction* a = actions[static_cast<size_t>(pick(static_cast<int>(actions.size())))];
    say(QStringLiteral("menu '%1'").arg(a->text().remove(QLatin1Char('&')).replace(QLatin1Char('\t'), QLatin1Char(' '))));
    a->trigger();
  }

  void dockAction() {
    const QList<QDockWidget*> docks = w_.findChildren<QDockWidget*>();
    if (docks.isEmpty()) return;
    QDockWidget* d = docks[pick(static_cast<int>(docks.size()))];
    const int how = pick(4);
    if (how == 0 || !d->isVisible()) {
      say(QStringLiteral("toggle dock %1 (was %2)").arg(d->objectName(), d->isVisible() ? QStringLiteral("shown") : QStringLiteral("hidden")));
      d->toggleViewAction()->trigger();
    } else if (how == 1) {
      say(QStringLiteral("%1 dock %2").arg(d->isFloating() ? QStringLiteral("dock back") : QStringLiteral("float"), d->objectName()));
      d->setFloating(!d->isFloating());
    } else if (how == 2) {
      say(QStringLiteral("resize window"));
      const QSize sizes[] = {{1600, 1000}, {1280, 800}, {1024, 700}, {800, 600}};
      w_.resize(sizes[pick(4)]);
    } else {
      say(QStringLiteral("show Compare"));
      w_.showCompare();
    }
  }

  void fileAction() {
    const int how = pick(6);
    if (how <= 2) {
      // As an Open dialog or a drop would: one file, or several opened together.
      QStringList paths;
      for (int k = 1 + pick(3); k > 0; --k) paths << images_[pick(static_cast<int>(images_.size()))];
      say(QStringLiteral("open files %1").arg(paths.join(QStringLiteral(", ")).replace(dir_ + QLatin1Char('/'), QString())));
      w_.openFiles(paths);
    } else if (how == 3) {
      say(QStringLiteral("save session"));
      w_.sessions()->save(dir_ + QStringLiteral("/saved.flsession"), pick(2));
    } else if (how == 4) {
      const QString path = dir_ + QStringLiteral("/saved.flsession");
      if (!QFileInfo::exists(path)) return;
      say(QStringLiteral("open session"));
      w_.openSession(path);
    } else {
      const QString path = dir_ + (pick(2) ? QStringLiteral("/weights_garbage.pt") : QStringLiteral("/missing.pt"));
      say(QStringLiteral("load weights %1").arg(QFileInfo(path).fileName()));
      w_.modulePanel()->loadWeights(path);
    }
  }

  void keyAction() {
    const int how = pick(3);
    QWidget* focus = QApplication::focusWidget();
    if (how == 0) {
      say(QStringLiteral("Esc on the window"));
      QTest::keyClick(&w_, Qt::Key_Escape);
    } else if (how == 1) {
      say(QStringLiteral("Esc on %1").arg(focus ? name(focus) : QStringLiteral("(no focus)")));
      QTest::keyClick(focus ? focus : static_cast<QWidget*>(&w_), Qt::Key_Escape);
    } else {
      say(QStringLiteral("F5 (Run now)"));
      QTest::keyClick(&w_, Qt::Key_F5);
    }
  }

  void moduleAction() {
    // Through the Module dock's tree, as a person switches modules.
    auto* tree = w_.modulePanel()->findChild<QTreeWidget*>();
    if (!tree || !tree->isVisible()) {
      say(QStringLiteral("(module tree hidden) Esc"));
      QTest::keyClick(&w_, Qt::Key_Escape);
      return;
    }
    std::vector<QTreeWidgetItem*> items;
    for (QTreeWidgetItemIterator it(tree); *it; ++it) {
      if ((*it)->data(0, Qt::UserRole).isValid()) items.push_back(*it);
    }
    QTreeWidgetItem* item = items[static_cast<size_t>(pick(static_cast<int>(items.size())))];
    tree->scrollToItem(item);
    const QRect rect = tree->visualItemRect(item);
    say(QStringLiteral("module '%1' (tree click)").arg(item->text(0)));
    if (rect.isValid()) QTest::mouseClick(tree->viewport(), Qt::LeftButton, {}, rect.center());
  }

  std::mt19937 rng_;
  int seed_;
  int index_ = 0;
  MainWindow& w_;
  Document& doc_;
  RunController& runner_;
  InputLoader& loader_;
  QString dir_;
  QStringList images_;
};

int envInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  int seed = envInt("FL_MONKEY_SEED", 1);
  int actions = envInt("FL_MONKEY_ACTIONS", 2000);
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--seed") seed = std::atoi(argv[++i]);
    else if (std::string(argv[i]) == "--actions") actions = std::atoi(argv[++i]);
  }
  for (int i = 1; i < argc; ++i) gVerbose = gVerbose || std::string(argv[i]) == "--verbose";
  gVerbose = gVerbose || envInt("FL_MONKEY_VERBOSE", 0) != 0;
  qInstallMessageHandler(messageHandler);
  gSeed = seed;
#ifdef FL_HAVE_SANITIZER_CALLBACK
  __sanitizer_set_death_callback(printLast);
#endif
  QApplication::setAttribute(Qt::AA_DontUseNativeDialogs);
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("FusionLensMonkey"));
  QApplication::setOrganizationName(QStringLiteral("FusionLens"));

  QTemporaryDir tmp;
  const QString dir = tmp.path();
  ModuleRegistry registry;
  registerBuiltinModules(registry);
  Document doc(registry);
  RunController runner(&doc);
  InputLoader loader;
  MainWindow window(&doc, &runner, &loader);  // registers the resources with the sample images

  // Small inputs (runs of milliseconds, also for the attention modules), a tensor file, a file
  // that is no image, and a weights file that is no weights file.
  // Crops of the built-in sample (the only image inside the binary): four of one size, one of
  // another (a shape mismatch for the fusion modules).
  QStringList images;
  const QImage sample(QStringLiteral(":/images/fruits.jpg"));
  for (int i = 0; i < 5; ++i) {
    const QSize size = i < 4 ? QSize(96, 64) : QSize(80, 48);
    const QImage img = sample.copy(QRect(i * 50, i * 40, 300, 200)).scaled(size);
    const QString path = dir + QStringLiteral("/crop%1.png").arg(i);
    if (img.isNull() || !img.save(path)) {
      std::fprintf(stderr, "monkey: cannot write %s\n", qPrintable(path));
      return 1;
    }
    images << path;
  }
  writeNpy((dir + QStringLiteral("/tensor.npy")).toStdString(), at::randn({1, 64, 12, 16}));
  images << dir + QStringLiteral("/tensor.npy");
  for (const char* bad : {"/not_an_image.png", "/weights_garbage.pt"}) {
    QFile f(dir + QLatin1String(bad));
    f.open(QIODevice::WriteOnly);
    f.write("this is not what the name says\n");
  }
  images << dir + QStringLiteral("/not_an_image.png");

  std::mt19937 dialogRng(static_cast<unsigned>(seed) * 7919u);
  DialogAnswerer answerer(dir, images, dir + QStringLiteral("/weights_garbage.pt"), &dialogRng);
  app.installEventFilter(&answerer);
  // Fallback for a modal dialog the Show hook missed (seen once with QFileDialog's save mode):
  // whatever modal dialog is up for a tick is rejected, so nothing ever waits for a person.
  QTimer modalGuard;
  modalGuard.setInterval(250);
  QObject::connect(&modalGuard, &QTimer::timeout, [] {
    if (auto* d = qobject_cast<QDialog*>(QApplication::activeModalWidget())) {
      logLine("    (modal dialog '" + d->windowTitle().toStdString() + "' rejected by the guard)");
      d->reject();
    }
  });
  modalGuard.start();

  window.resize(1280, 800);
  window.show();
  // The budget of a modest machine: a whole network that the monkey feeds a large input (an
  // attention inside grows as (H*W)^2; seed 3 once held 2 x 7 GiB under ASan) is refused by the
  // budget, as it would be for a person, instead of paging for minutes.
  doc.setMemoryBudget(int64_t{2} << 30);
  window.setFeatureSpec(QStringLiteral("filterbank:channels=64,stride=4"));
  window.openFiles({images[0], images[1]});
  Monkey monkey(seed, window, doc, runner, loader, dir, images);
  monkey.settle(60000);

  std::printf("monkey: seed %d, %d actions (replay: FL_MONKEY_SEED=%d)\n", seed, actions, seed);
  QElapsedTimer clock;
  clock.start();
  for (int i = 0; i < actions; ++i) monkey.step(i);

  // Still answering: dialogs gone, the worker idle, a queued call runs, a run goes through.
  gLast = "final check: the window still answers";
  for (QWidget* top : QApplication::topLevelWidgets()) {
    if (auto* d = qobject_cast<QDialog*>(top); d && d->isVisible()) d->reject();
  }
  if (QWidget* popup = QApplication::activePopupWidget()) popup->close();
  if (!monkey.settle(300000)) {
    dumpLog();
    std::fprintf(stderr, "monkey: FAILED (seed %d): the worker is still busy 5 minutes after the last action\n", seed);
    return 1;
  }
  bool answered = false;
  QMetaObject::invokeMethod(&window, [&] { answered = true; }, Qt::QueuedConnection);
  QApplication::processEvents();
  if (!answered || !window.isVisible() || window.grab().isNull()) {
    dumpLog();
    std::fprintf(stderr, "monkey: FAILED (seed %d): the window does not answer (queued call %d, visible %d)\n", seed,
                 answered, window.isVisible());
    return 1;
  }
  doc.setModule(QStringLiteral("cbam"));
  window.openFiles({images[0]});
  monkey.settle(60000);
  QSignalSpy done(&runner, &RunController::finished);
  QSignalSpy refused(&doc, &Document::runFailed);
  runner.runNow();
  monkey.settle(60000);
  if (done.isEmpty() && refused.isEmpty()) {
    dumpLog();
    std::fprintf(stderr, "monkey: FAILED (seed %d): Run now after the monkey neither ran nor said why\n", seed);
    return 1;
  }
  std::printf("monkey: seed %d passed: %d actions in %.1f s, %d dialogs answered\n", seed, actions,
              clock.elapsed() / 1000.0, answerer.answered);
  return 0;
}
