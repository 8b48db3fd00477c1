#include "ui/compare_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QSaveFile>
#include <QScrollArea>
#include <QSplitter>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>

#include "core/common/error.h"
#include "core/common/file_io.h"
#include "ui/compare_view.h"
#include "ui/document.h"
#include "ui/error_text.h"
#include "ui/figure/figure_export.h"
#include "ui/job_service.h"

namespace fl::ui {

ComparePanel::ComparePanel(Document* document, QWidget* parent)
    : QWidget(parent), document_(document) {
  moduleBox_ = new QComboBox;
  for (const auto& d : document_->registry().all()) {
    moduleBox_->addItem(QString::fromStdString(d.displayName), QString::fromStdString(d.id));
  }
  moduleBox_->model()->sort(0);  // alphabetical: AFF, CAFM, CBAM, ...
  moduleBox_->setCurrentIndex(0);
  auto* add = new QPushButton(tr("Add"));
  add->setToolTip(tr("Add this module (default parameters, seeded weights) as a column"));
  auto* addCurrent = new QPushButton(tr("Add current"));
  addCurrent->setToolTip(tr("Add the module of the main view, with its parameters and weights"));
  auto* remove = new QPushButton(tr("Remove"));
  columnList_ = new QListWidget;
  columnList_->setMaximumHeight(90);
  columnList_->setDragDropMode(QAbstractItemView::InternalMove);
  columnList_->setToolTip(tr("The figure's columns, left to right: drag to reorder, double-click to set a title"));
  probeEdit_ = new QLineEdit(QStringLiteral("auto"));
  probeEdit_->setObjectName(QStringLiteral("compareProbe"));
  probeEdit_->setToolTip(tr("The probes shown, one row each, separated by commas: a name (weight, "
                            "spatial_weight, ...), auto (each module's first spatial probe), output or input.N"));
  viewBox_ = new QComboBox;
  viewBox_->setEditable(true);  // channel:N and query:X,Y are typed
  viewBox_->addItems({QStringLiteral("mean"), QStringLiteral("complement"), QStringLiteral("channel:0"),
                      QStringLiteral("query:0,0")});
  viewBox_->setToolTip(tr("How each row's tensor becomes a map: channel mean, complement (1 - mean: the other "
                          "input's weight), channel:N, or for attention query:X,Y (optionally :head=H)"));
  normBox_ = new QComboBox;
  for (const auto& n : render::normModeNames()) {
    if (n != "fixed") normBox_->addItem(QString::fromStdString(n));
  }
  shared_ = new QCheckBox(tr("Shared scale"));
  shared_->setChecked(true);
  shared_->setToolTip(tr("One colour range per row over all modules (raw units), else one per panel"));
  differenceBox_ = new QComboBox;
  differenceBox_->setToolTip(tr("Add a difference column A - B of two module columns, on a symmetric diverging scale"));
  widthBox_ = new QComboBox;
  widthBox_->addItem(tr("double column (7.16 in)"), 7.16);
  widthBox_->addItem(tr("single column (3.5 in)"), 3.5);
  auto* exportButton = new QPushButton(tr("Export figure..."));
  auto* statsButton = new QPushButton(tr("Save statistics..."));

  // Controls in a narrow column on the left, the figure and its statistics on the right: the
  // canvas gets the dock's whole height.
  auto* addRow = new QHBoxLayout;
  addRow->addWidget(add);
  addRow->addWidget(addCurrent);
  addRow->addWidget(remove);
  auto* form = new QFormLayout;
  form->addRow(tr("Probe"), probeEdit_);
  form->addRow(tr("View"), viewBox_);
  form->addRow(tr("Scale"), normBox_);
  form->addRow(QString(), shared_);
  form->addRow(tr("Difference"), differenceBox_);
  form->addRow(tr("Width"), widthBox_);
  auto* exportRow = new QHBoxLayout;
  exportRow->addWidget(exportButton);
  exportRow->addWidget(statsButton);

  view_ = new CompareView;
  auto* scroll = new QScrollArea;
  scroll->setWidget(view_);
  scroll->setWidgetResizable(true);
  hover_ = new QLabel;
  hover_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  hover_->setWordWrap(true);
  status_ = new QLabel;
  status_->setWordWrap(true);
  status_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  table_ = new QTableWidget;
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->setVisible(false);

  auto* controls = new QWidget;
  auto* left = new QVBoxLayout(controls);
  left->setContentsMargins(0, 0, 0, 0);
  left->addWidget(moduleBox_);
  left->addLayout(addRow);
  left->addWidget(columnList_);
  left->addLayout(form);
  left->addLayout(exportRow);
  left->addWidget(status_, 1);
  controls->setMaximumWidth(380);
  auto* figure = new QWidget;
  auto* mid = new QVBoxLayout(figure);
  mid->setContentsMargins(0, 0, 0, 0);
  mid->addWidget(scroll, 1);
  mid->addWidget(hover_);
  auto* right = new QSplitter(Qt::Vertical);
  right->addWidget(figure);
  right->addWidget(table_);
  right->setStretchFactor(0, 3);
  right->setStretchFactor(1, 2);  // the statistics table shows a few rows, not two
  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(controls);
  split->addWidget(right);
  split->setStretchFactor(1, 1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(2, 2, 2, 2);
  layout->addWidget(split);

  connect(add, &QPushButton::clicked, this, [this] { addModule(moduleBox_->currentData().toString()); });
  connect(addCurrent, &QPushButton::clicked, this, &ComparePanel::addCurrentModule);
  connect(remove, &QPushButton::clicked, this, [this] { removeColumn(columnList_->currentRow()); });
  connect(columnList_->model(), &QAbstractItemModel::rowsMoved, this,
          [this](const QModelIndex&, int start, int, const QModelIndex&, int row) {
            // Qt gives the row the item was dropped before; the list is rebuilt from columns_.
            const int to = row > start ? row - 1 : row;
            QTimer::singleShot(0, this, [this, start, to] { moveColumn(start, to); });
          });
  connect(columnList_, &QListWidget::itemDoubleClicked, this, [this](QListWidgetItem* item) {
    const int i = columnList_->row(item);
    if (i < 0 || i >= static_cast<int>(columns_.size())) return;
    bool ok = false;
    const auto& c = columns_[static_cast<size_t>(i)];
    const QString label = QInputDialog::getText(this, tr("Column title"), tr("Title of column %1 (empty: the module's name)").arg(i + 1),
                                                QLineEdit::Normal, QString::fromStdString(c.label), &ok);
    if (ok) setColumnLabel(i, label.trimmed());
  });
  connect(probeEdit_, &QLineEdit::editingFinished, this, &ComparePanel::rowsFromFields);
  connect(viewBox_, &QComboBox::activated, this, &ComparePanel::rowsFromFields);
  connect(viewBox_->lineEdit(), &QLineEdit::editingFinished, this, &ComparePanel::rowsFromFields);
  connect(normBox_, &QComboBox::currentIndexChanged, this, &ComparePanel::refresh);
  connect(widthBox_, &QComboBox::currentIndexChanged, this, &ComparePanel::refresh);
  connect(shared_, &QCheckBox::toggled, this, &ComparePanel::refresh);
  connect(differenceBox_, &QComboBox::currentIndexChanged, this, &ComparePanel::refresh);
  connect(exportButton, &QPushButton::clicked, this, &ComparePanel::exportDialog);
  connect(statsButton, &QPushButton::clicked, this, &ComparePanel::saveStatistics);
  connect(view_, &CompareView::hoverText, hover_, &QLabel::setText);
  // New inputs, or another colormap, alpha or batch in the main view: the comparison follows.
  connect(document_, &Document::inputsChanged, this, &ComparePanel::refresh);
  connect(document_, &Document::viewChanged, this, [this] {
    if (!columns_.empty() && viewKey() != builtView_) refresh();
  });
  updateColumnList();
}

void ComparePanel::addCurrentModule() {
  if (document_->moduleId().isEmpty()) return;
  figure::FigureColumn c;
  c.module = document_->moduleId().toStdString();
  c.params = document_->params();
  c.weights.path = document_->weightsPath().toStdString();
  if (!c.weights.path.empty()) c.label = QFileInfo(document_->weightsPath()).completeBaseName().toStdString();
  columns_.push_back(c);
  updateColumnList();
  refresh();
}

void ComparePanel::addModule(const QString& id) {
  if (!document_->registry().find(id.toStdString())) return;
  figure::FigureColumn c;
  c.module = id.toStdString();
  columns_.push_back(c);
  updateColumnList();
  refresh();
}

void ComparePanel::removeColumn(int index) {
  if (index < 0 || index >= static_cast<int>(columns_.size())) return;
  // The difference follows its two modules, and goes with either of them.
  const bool diff = differenceBox_->currentIndex() > 0;
  QPoint pair = differenceBox_->currentData().toPoint();
  columns_.erase(columns_.begin() + index);
  {
    const QSignalBlocker block(differenceBox_);
    differenceBox_->setCurrentIndex(0);
  }
  updateColumnList();
  if (diff && pair.x() != index && pair.y() != index) {
    pair = QPoint(pair.x() - (pair.x() > index), pair.y() - (pair.y() > index));
    const QSignalBlocker block(differenceBox_);
    differenceBox_->setCurrentIndex(std::max(0, differenceBox_->findData(pair)));
  }
  refresh();
}

void ComparePanel::moveColumn(int from, int to) {
  const int n = static_cast<int>(columns_.size());
  if (from < 0 || from >= n || to < 0 || to >= n || from == to) {
    updateColumnList();  // a drop that changes nothing: show the order as it is
    return;
  }
  // Where every old index goes, so the chosen difference keeps its two modules.
  std::vector<int> order(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  const int moved = order[static_cast<size_t>(from)];
  order.erase(order.begin() + from);
  order.insert(order.begin() + to, moved);
  std::vector<int> newIndex(static_cast<size_t>(n));
  std::vector<figure::FigureColumn> reordered;
  for (int i = 0; i < n; ++i) {
    newIndex[static_cast<size_t>(order[static_cast<size_t>(i)])] = i;
    reordered.push_back(columns_[static_cast<size_t>(order[static_cast<size_t>(i)])]);
  }
  const bool diff = differenceBox_->currentIndex() > 0;
  const QPoint pair = differenceBox_->currentData().toPoint();
  columns_ = reordered;
  {
    const QSignalBlocker block(differenceBox_);
    differenceBox_->setCurrentIndex(0);
  }
  updateColumnList();
  if (diff) {
    const QSignalBlocker block(differenceBox_);
    differenceBox_->setCurrentIndex(std::max(0, differenceBox_->findData(
        QPoint(newIndex[static_cast<size_t>(pair.x())], newIndex[static_cast<size_t>(pair.y())]))));
  }
  columnList_->setCurrentRow(to);
  refresh();
}

void ComparePanel::setColumnLabel(int index, const QString& label) {
  if (index < 0 || index >= static_cast<int>(columns_.size())) return;
  columns_[static_cast<size_t>(index)].label = label.toStdString();
  updateColumnList();
  refresh();
}

void ComparePanel::clearColumns() {
  columns_.clear();
  updateColumnList();
  refresh();
}

void ComparePanel::updateColumnList() {
  // The difference choices: every ordered pair of columns; the chosen pair stays chosen.
  {
    const QSignalBlocker block(differenceBox_);
    const QPoint chosen = differenceBox_->currentIndex() > 0 ? differenceBox_->currentData().toPoint() : QPoint(-1, -1);
    differenceBox_->clear();
    differenceBox_->addItem(tr("none"));
    const auto name = [this](int i) {
      const auto& c = columns_[static_cast<size_t>(i)];
      return QStringLiteral("%1 %2").arg(i + 1).arg(QString::fromStdString(c.label.empty() ? c.module : c.label));
    };
    const int n = static_cast<int>(columns_.size());
    for (int a = 0; a < n; ++a) {
      for (int b = 0; b < n; ++b) {
        if (a != b) differenceBox_->addItem(QStringLiteral("%1 - %2").arg(name(a), name(b)), QPoint(a, b));
      }
    }
    const int i = chosen.x() >= 0 ? differenceBox_->findData(chosen) : 0;
    differenceBox_->setCurrentIndex(std::max(0, i));
  }
  columnList_->clear();
  for (const auto& c : columns_) {
    QString text = QString::fromStdString(c.module);
    if (!c.label.empty()) text += QStringLiteral(" \"%1\"").arg(QString::fromStdString(c.label));
    for (const auto& [k, v] : c.params) text += QStringLiteral(" %1=%2").arg(QString::fromStdString(k), QString::fromStdString(v));
    if (!c.weights.path.empty()) text += QStringLiteral(" [%1]").arg(QFileInfo(QString::fromStdString(c.weights.path)).fileName());
    columnList_->addItem(text);
  }
}

figure::FigureSpec ComparePanel::currentSpec() const {
  figure::FigureSpec s = base_;  // what no control here sets stays as the last spec gave it
  s.inputs.clear();
  s.features.clear();
  s.difference.reset();
  // The inputs assigned to the current module, in its input order; else every opened input.
  std::vector<int> order;
  for (int i : document_->assignment()) {
    if (i >= 0) order.push_back(i);
  }
  // A column may need more inputs than the main module takes (aff beside eca): then the
  // opened inputs in order, as many as the hungriest column needs.
  size_t needed = 1;
  for (const auto& c : columns_) {
    if (const ModuleDescriptor* d = document_->registry().find(c.module)) needed = std::max(needed, d->inputs.size());
  }
  if (order.size() < needed) {
    order.clear();
    for (int i = 0; i < static_cast<int>(document_->inputs().size()) && order.size() < needed; ++i) order.push_back(i);
  }
  for (int i : order) {
    const InputItem& in = document_->inputs()[static_cast<size_t>(i)];
    s.inputs.push_back({in.path.toStdString(), {}});
    if (!in.featureSpec.isEmpty()) s.features.push_back(in.featureSpec.toStdString());
  }
  s.columns = columns_;
  s.rows = rows_;
  s.scale.norm.mode = render::parseNormMode(normBox_->currentText().toStdString());
  s.scale.shared = shared_->isChecked();
  s.scale.colormap = render::parseColormap(document_->view().colormap.toStdString());
  if (render::isDiverging(s.scale.colormap)) s.scale.colormap = render::Colormap::Viridis;
  s.alpha = document_->view().alpha;
  const QPoint pair = differenceBox_->currentData().toPoint();
  if (differenceBox_->currentIndex() > 0 && pair.x() < static_cast<int>(columns_.size()) &&
      pair.y() < static_cast<int>(columns_.size())) {
    s.difference = std::make_pair(pair.x(), pair.y());
  }
  s.layout.widthIn = widthBox_->currentData().toDouble();
  s.batch = std::max(0, document_->view().batch);
  return s;
}

void ComparePanel::applySettings(const figure::FigureSpec& s, bool rebuild) {
  ++generation_;  // a build still running shows the old settings: drop its figure
  const QSignalBlocker b1(probeEdit_), b2(viewBox_), b3(normBox_), b4(shared_), b5(differenceBox_), b6(widthBox_);
  base_ = s;
  if (!s.rows.empty()) {
    rows_ = s.rows;
    QStringList probes;
    for (const auto& r : rows_) probes << QString::fromStdString(r.probe);
    probeEdit_->setText(probes.join(QStringLiteral(", ")));
    viewBox_->setCurrentText(QString::fromStdString(rows_[0].view));
    rowFields_ = probeEdit_->text().trimmed() + QLatin1Char('|') + viewBox_->currentText().trimmed();
  }
  normBox_->setCurrentText(QString::fromStdString(render::normModeName(s.scale.norm.mode)));
  shared_->setChecked(s.scale.shared);
  // Single and double column, or the spec's own width as a third choice.
  while (widthBox_->count() > 2) widthBox_->removeItem(2);
  int width = widthBox_->findData(s.layout.widthIn);
  if (width < 0) {
    widthBox_->addItem(tr("%1 in (from the spec)").arg(s.layout.widthIn), s.layout.widthIn);
    width = 2;
  }
  widthBox_->setCurrentIndex(width);
  columns_ = s.columns;
  updateColumnList();
  differenceBox_->setCurrentIndex(0);
  if (s.difference) {
    const int i = differenceBox_->findData(QPoint(s.difference->first, s.difference->second));
    if (i > 0) differenceBox_->setCurrentIndex(i);
  }
  if (rebuild) refresh();
}

void ComparePanel::rowsFromFields() {
  // Focus leaving an untouched field changes nothing: rows a spec gave (with a view per row)
  // stay until the fields are really edited.
  const QString fields = probeEdit_->text().trimmed() + QLatin1Char('|') + viewBox_->currentText().trimmed();
  if (fields == rowFields_) return;
  rowFields_ = fields;
  const std::string view = viewBox_->currentText().trimmed().isEmpty() ? "mean" : viewBox_->currentText().trimmed().toStdString();
  rows_.clear();
  for (const QString& p : probeEdit_->text().split(QLatin1Char(','), Qt::SkipEmptyParts)) {
    if (!p.trimmed().isEmpty()) rows_.push_back({p.trimmed().toStdString(), view, ""});
  }
  if (rows_.empty()) rows_.push_back({"auto", view, ""});
  refresh();
}

ComparePanel::~ComparePanel() {
  // Never waits: a queued build is dropped, a running one stops before its next column and
  // is not delivered (the panel is gone). It uses only its spec and the registry.
  if (job_) document_->jobs()->cancel(job_);
}

void ComparePanel::onBuilt(CompareBuild b) {
  if (b.generation == generation_) {
    if (b.model) {
      model_ = b.model;
      stale_ = false;
      showModel();
      Q_EMIT built();
    } else {
      // The last good figure stays; the message says why the new one could not be built.
      stale_ = model_ != nullptr;
      lastError_ = b.error;
      status_->setText(b.error);
      Q_EMIT failed(b.error);
    }
  }
  building_ = false;
  if (pending_) {
    pending_ = false;
    refresh();
  }
}

void ComparePanel::refresh() {
  // A build still running is from before this change: whatever follows, drop its figure.
  const auto dropRunning = [this] {
    ++generation_;
    pending_ = false;
  };
  if (columns_.empty() || document_->inputs().empty()) {
    dropRunning();
    model_.reset();
    stale_ = false;
    const QString why = columns_.empty() ? tr("No modules to compare: add one above.")
                                         : tr("Open an image or tensor first (File > Open): the columns run on it.");
    view_->setPlaceholder(columns_.empty() ? QString() : why);
    view_->setModel(nullptr);
    table_->setRowCount(0);
    status_->setText(why);
    return;
  }
  // A column that needs more inputs than are open: say so in the window's words.
  for (const auto& c : columns_) {
    const ModuleDescriptor* d = document_->registry().find(c.module);
    if (d && d->inputs.size() > document_->inputs().size()) {
      QStringList names;
      for (const auto& in : d->inputs) names << QString::fromStdString(in.name);
      const QString why = tr("%1 needs %2 inputs (%3); %4 open. Open another image or tensor.")
                              .arg(QString::fromStdString(d->displayName))
                              .arg(d->inputs.size())
                              .arg(names.join(QStringLiteral(", ")))
                              .arg(document_->inputs().size() == 1 ? tr("1 is") : tr("%1 are").arg(document_->inputs().size()));
      dropRunning();
      stale_ = model_ != nullptr;
      lastError_ = why;
      status_->setText(why);
      if (!model_) {
        view_->setPlaceholder(why);
        view_->setModel(nullptr);
      }
      Q_EMIT failed(why);
      return;
    }
  }
  if (building_) {
    pending_ = true;  // one build at a time; the newest settings follow
    return;
  }
  figure::FigureSpec spec;
  try {
    spec = currentSpec();
  } catch (const Error& e) {
    dropRunning();
    stale_ = model_ != nullptr;
    lastError_ = QString::fromUtf8(e.what());
    status_->setText(lastError_);
    return;
  }
  builtView_ = viewKey();
  building_ = true;
  const uint64_t gen = ++generation_;
  status_->setText(tr("Running %1 module(s)...").arg(columns_.size()));
  const ModuleRegistry* registry = &document_->registry();
  job_ = document_->jobs()->submit<CompareBuild>(
      JobPriority::Compare, this,
      [registry, spec, gen](JobContext& ctx) {
        CompareBuild b;
        b.generation = gen;
        try {
          figure::BuildOptions options;
          options.runner = [&ctx, registry](const RunRequest& req) { return ctx.run(*registry, req); };
          options.progress = [&ctx](int, int, const std::string&) { ctx.checkCancelled(); };
          b.model = std::make_shared<figure::FigureModel>(figure::buildFigure(*registry, spec, "", options));
        } catch (const Error& e) {
          b.error = guiText(e);
        } catch (const std::exception& e) {
          b.error = QString::fromUtf8(e.what());
        }
        return b;
      },
      [this](CompareBuild&& b, const JobReport&) {
        job_ = 0;
        onBuilt(std::move(b));
      });
}

void ComparePanel::showModel() {
  view_->setModel(model_);
  QStringList notes;
  for (const auto& w : model_->warnings) notes << QString::fromStdString(w);
  status_->setText(notes.isEmpty() ? tr("%1 module(s) on one scale; hover for values, wheel to zoom, "
                                        "drag to pan, double-click to reset.")
                                         .arg(model_->runs.size())
                                   : notes.join(QStringLiteral("\n")));
  const auto& t = model_->statistics;
  table_->clear();
  table_->setColumnCount(static_cast<int>(t.columns.size()));
  table_->setRowCount(static_cast<int>(t.rows.size()));
  QStringList headers;
  for (const auto& c : t.columns) headers << QString::fromStdString(c);
  table_->setHorizontalHeaderLabels(headers);
  for (int r = 0; r < static_cast<int>(t.rows.size()); ++r) {
    for (int c = 0; c < static_cast<int>(t.rows[r].size()); ++c) {
      table_->setItem(r, c, new QTableWidgetItem(QString::fromStdString(t.rows[r][c])));
    }
  }
  table_->resizeColumnsToContents();  // names whole; the value column takes the rest
}

QString ComparePanel::viewKey() const {
  const ViewSettings& v = document_->view();
  return QStringLiteral("%1|%2|%3").arg(v.colormap).arg(v.alpha).arg(v.batch);
}

QString ComparePanel::exportBlocker() const {
  if (!model_) return tr("Nothing to export yet: add modules to the comparison.");
  if (busy()) return tr("The figure is being rebuilt; export when it is shown.");
  if (stale_) {
    return tr("Not exported: the figure on screen is from before the last change, which failed (%1). "
              "Fix or undo that change first.").arg(lastError_);
  }
  return {};
}

QString ComparePanel::exportTo(const QString& path, bool overwrite) {
  if (const QString why = exportBlocker(); !why.isEmpty()) return why;
  try {
    figure::ExportOptions o;
    o.overwrite = overwrite;
    const auto written = figure::exportFigure(*model_, path.toStdString(), o);
    Q_EMIT message(tr("Wrote %1 (and its spec and statistics)").arg(QString::fromStdString(written.front())), false);
    return {};
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what());
  }
}

void ComparePanel::exportDialog() {
  if (const QString why = exportBlocker(); !why.isEmpty()) {
    Q_EMIT message(why, true);
    return;
  }
  const QString path = QFileDialog::getSaveFileName(
      this, tr("Export figure"), QStringLiteral("figure.pdf"),
      tr("PDF, vector with 300 dpi heatmaps (*.pdf);;SVG (*.svg);;PNG at %1 dpi (*.png)").arg(model_->spec.layout.dpi),
      nullptr, QFileDialog::DontConfirmOverwrite);
  if (path.isEmpty()) return;
  QStringList existing;
  for (const auto& f : figure::exportFiles(path.toStdString(), {})) {
    if (QFileInfo::exists(QString::fromStdString(f))) existing << QFileInfo(QString::fromStdString(f)).fileName();
  }
  bool overwrite = false;
  if (!existing.isEmpty()) {
    // Never overwrite silently: say exactly which files would be replaced.
    if (QMessageBox::question(this, tr("Replace files?"),
                              tr("These files exist and would be replaced:\n%1").arg(existing.join('\n'))) !=
        QMessageBox::Yes) {
      return;
    }
    overwrite = true;
  }
  const QString error = exportTo(path, overwrite);
  if (!error.isEmpty()) Q_EMIT message(error, true);
}

void ComparePanel::saveStatistics() {
  if (!model_ || model_->statistics.rows.empty()) {
    Q_EMIT message(tr("No statistics yet: add modules to the comparison."), true);
    return;
  }
  const QString path = QFileDialog::getSaveFileName(this, tr("Save statistics"), QStringLiteral("statistics.csv"),
                                                    tr("CSV (*.csv)"));
  if (path.isEmpty()) return;
  try {
    requireReplaceableTarget(path.toStdString());  // QSaveFile would rename over a FIFO or device
  } catch (const Error& e) {
    Q_EMIT message(QString::fromStdString(e.what()), true);
    return;
  }
  QSaveFile f(path);
  const std::string csv = figure::statisticsCsv(*model_);
  if (!f.open(QIODevice::WriteOnly) || f.write(csv.data(), static_cast<qint64>(csv.size())) < 0 || !f.commit()) {
    Q_EMIT message(tr("%1: cannot be written (%2)").arg(path, f.errorString()), true);
    return;
  }
  Q_EMIT message(tr("Wrote %1").arg(path), false);
}

}  // namespace fl::ui
