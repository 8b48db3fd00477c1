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
#include <QSignalBlocker>
#include <QSplitter>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>

#include "core/common/error.h"
#include "core/common/file_io.h"
#include "ui/compare_controller.h"
#include "ui/compare_view.h"
#include "ui/document.h"
#include "ui/figure/figure_export.h"

namespace fl::ui {

namespace {

QString rowsText(const std::vector<figure::FigureRow>& rows) {
  QString text;
  for (const auto& r : rows) text += QString::fromStdString(r.probe + '\x1f' + r.view + '\x1f' + r.label + '\x1e');
  return text;
}

}  // namespace

ComparePanel::ComparePanel(Document* document, QWidget* parent, CompareController* controller)
    : QWidget(parent), document_(document),
      controller_(controller ? controller : new CompareController(document, this)) {
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
  auto* addPoint = new QPushButton(tr("Add network point..."));
  addPoint->setObjectName(QStringLiteral("compareAddPoint"));
  addPoint->setToolTip(tr("Add an attention point of a TorchScript file (.pt) or a capture (.flcap) as a column: "
                          "your own network beside the built-in modules"));
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
  normBox_->setObjectName(QStringLiteral("compareScale"));
  for (const auto& n : render::normModeNames()) {
    if (n != "fixed") normBox_->addItem(QString::fromStdString(n));
  }
  shared_ = new QCheckBox(tr("Shared scale"));
  shared_->setObjectName(QStringLiteral("compareShared"));
  shared_->setChecked(true);
  shared_->setToolTip(tr("One colour range per row over all modules (raw units), else one per panel"));
  differenceBox_ = new QComboBox;
  differenceBox_->setObjectName(QStringLiteral("compareDifference"));
  differenceBox_->setToolTip(tr("Add a difference column A - B of two module columns, on a symmetric diverging scale"));
  widthBox_ = new QComboBox;
  widthBox_->setObjectName(QStringLiteral("compareWidth"));
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
  left->addWidget(addPoint);
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

  // User actions edit the document's comparison; the controller rebuilds what they change.
  connect(add, &QPushButton::clicked, this, [this] { addModule(moduleBox_->currentData().toString()); });
  connect(addCurrent, &QPushButton::clicked, this, &ComparePanel::addCurrentModule);
  connect(addPoint, &QPushButton::clicked, this, &ComparePanel::addNetworkPointDialog);
  connect(controller_, &CompareController::networkPointsListed, this,
          [this](const QString& file, const QStringList& points, const QString& features, const QString& error) {
            if (file != pendingPointFile_) return;  // a listing nobody waits for any more
            pendingPointFile_.clear();
            if (!error.isEmpty()) {
              Q_EMIT message(error, true);
              return;
            }
            bool ok = false;
            const QString point = QInputDialog::getItem(this, tr("Add network point"),
                                                        tr("Attention point of %1 (the column shows it in \"auto\" rows):")
                                                            .arg(QFileInfo(file).fileName()),
                                                        points, 0, false, &ok);
            if (ok) controller_->addNetworkPoint(file, point, features);
          });
  connect(remove, &QPushButton::clicked, this, [this] { removeColumn(columnList_->currentRow()); });
  connect(columnList_->model(), &QAbstractItemModel::rowsMoved, this,
          [this](const QModelIndex&, int start, int, const QModelIndex&, int row) {
            // Qt gives the row the item was dropped before; the list is rebuilt from the document.
            const int to = row > start ? row - 1 : row;
            QTimer::singleShot(0, this, [this, start, to] { moveColumn(start, to); });
          });
  connect(columnList_, &QListWidget::itemDoubleClicked, this, [this](QListWidgetItem* item) {
    const int i = columnList_->row(item);
    if (i < 0 || i >= static_cast<int>(columns().size())) return;
    bool ok = false;
    const auto& c = columns()[static_cast<size_t>(i)];
    const QString label = QInputDialog::getText(this, tr("Column title"), tr("Title of column %1 (empty: the module's name)").arg(i + 1),
                                                QLineEdit::Normal, QString::fromStdString(c.label), &ok);
    if (ok) setColumnLabel(i, label.trimmed());
  });
  connect(probeEdit_, &QLineEdit::editingFinished, this, &ComparePanel::rowsFromFields);
  connect(viewBox_, &QComboBox::activated, this, &ComparePanel::rowsFromFields);
  connect(viewBox_->lineEdit(), &QLineEdit::editingFinished, this, &ComparePanel::rowsFromFields);
  const auto pushScale = [this] {
    document_->setComparisonScale(render::parseNormMode(normBox_->currentText().toStdString()), shared_->isChecked());
  };
  connect(normBox_, &QComboBox::currentIndexChanged, this, pushScale);
  connect(shared_, &QCheckBox::toggled, this, pushScale);
  connect(widthBox_, &QComboBox::currentIndexChanged, this,
          [this] { document_->setComparisonWidth(widthBox_->currentData().toDouble()); });
  connect(differenceBox_, &QComboBox::currentIndexChanged, this, [this] {
    const QPoint pair = differenceBox_->currentData().toPoint();
    document_->setComparisonDifference(differenceBox_->currentIndex() > 0
                                           ? std::make_optional(std::make_pair(pair.x(), pair.y()))
                                           : std::nullopt);
  });
  connect(exportButton, &QPushButton::clicked, this, &ComparePanel::exportDialog);
  connect(statsButton, &QPushButton::clicked, this, &ComparePanel::saveStatistics);
  connect(view_, &CompareView::hoverText, hover_, &QLabel::setText);

  // Queued: a change may arrive while one of these controls is inside its own signal (a combo
  // rebuilt from its own currentIndexChanged); the controls follow once it returned.
  connect(document_, &Document::comparisonChanged, this, &ComparePanel::syncFromDocument, Qt::QueuedConnection);
  connect(controller_, &CompareController::changed, this, &ComparePanel::syncFromController);
  connect(controller_, &CompareController::built, this, &ComparePanel::built);
  connect(controller_, &CompareController::failed, this, &ComparePanel::failed);
  connect(controller_, &CompareController::message, this, &ComparePanel::message);
  syncFromDocument();
  syncFromController();
}

const std::vector<figure::FigureColumn>& ComparePanel::columns() const { return document_->comparison().columns; }
figure::FigureSpec ComparePanel::currentSpec() const { return document_->comparisonSpec(); }
std::shared_ptr<const figure::FigureModel> ComparePanel::model() const { return controller_->model(); }
bool ComparePanel::busy() const { return controller_->busy(); }
void ComparePanel::refresh() { controller_->refresh(); }
void ComparePanel::addCurrentModule() { controller_->addCurrentModule(); }
void ComparePanel::addModule(const QString& id) { controller_->addModule(id); }
void ComparePanel::addNetworkPoint(const QString& file, const QString& point) { controller_->addNetworkPoint(file, point); }

void ComparePanel::addNetworkPointDialog() {
  const QString file = QFileDialog::getOpenFileName(this, tr("Add network point"), QString(),
                                                    tr("TorchScript files and captures (*.pt *.pth *.flcap);;All files (*)"));
  if (file.isEmpty()) return;
  pendingPointFile_ = file;
  Q_EMIT message(tr("Listing the attention points of %1...").arg(QFileInfo(file).fileName()), false);
  controller_->listNetworkPoints(file);
}

void ComparePanel::removeColumn(int index) { document_->removeComparisonColumn(index); }
void ComparePanel::clearColumns() { document_->clearComparisonColumns(); }
void ComparePanel::applySettings(const figure::FigureSpec& spec) { document_->setComparison(spec); }
QString ComparePanel::exportTo(const QString& path, bool overwrite) { return controller_->exportTo(path, overwrite); }

void ComparePanel::moveColumn(int from, int to) {
  const int n = static_cast<int>(columns().size());
  if (from < 0 || from >= n || to < 0 || to >= n || from == to) {
    syncFromDocument();  // a drop that changes nothing: show the order as it is
    return;
  }
  document_->moveComparisonColumn(from, to);
  syncFromDocument();
  columnList_->setCurrentRow(to);
}

void ComparePanel::setColumnLabel(int index, const QString& label) {
  document_->setComparisonColumnLabel(index, label.toStdString());
}

void ComparePanel::syncFromDocument() {
  const figure::FigureSpec& c = document_->comparison();
  const QSignalBlocker b1(probeEdit_), b2(viewBox_), b3(normBox_), b4(shared_), b5(differenceBox_), b6(widthBox_);
  // The difference choices: every ordered pair of columns; the document's pair chosen.
  differenceBox_->clear();
  differenceBox_->addItem(tr("none"));
  const auto name = [&c, this](int i) {
    const auto& col = c.columns[static_cast<size_t>(i)];
    return QStringLiteral("%1 %2").arg(i + 1).arg(QString::fromStdString(figure::columnTitle(document_->registry(), col)));
  };
  const int n = static_cast<int>(c.columns.size());
  for (int a = 0; a < n; ++a) {
    for (int b = 0; b < n; ++b) {
      if (a != b) differenceBox_->addItem(QStringLiteral("%1 - %2").arg(name(a), name(b)), QPoint(a, b));
    }
  }
  differenceBox_->setCurrentIndex(
      c.difference ? std::max(0, differenceBox_->findData(QPoint(c.difference->first, c.difference->second))) : 0);
  const int current = columnList_->currentRow();
  columnList_->clear();
  for (const auto& col : c.columns) {
    QString text = QString::fromStdString(col.module);
    if (col.module.empty()) {
      // A network's point: the file and the point it shows.
      text = QFileInfo(QString::fromStdString(col.script.empty() ? col.capture : col.script)).fileName();
      if (!col.point.empty()) text += QStringLiteral(" @ %1").arg(QString::fromStdString(col.point));
    }
    if (!col.label.empty()) text += QStringLiteral(" \"%1\"").arg(QString::fromStdString(col.label));
    for (const auto& [k, v] : col.params) text += QStringLiteral(" %1=%2").arg(QString::fromStdString(k), QString::fromStdString(v));
    if (!col.weights.path.empty()) text += QStringLiteral(" [%1]").arg(QFileInfo(QString::fromStdString(col.weights.path)).fileName());
    columnList_->addItem(text);
  }
  if (current >= 0 && current < columnList_->count()) columnList_->setCurrentRow(current);
  // The rows as the fields show them: the probes, and the first row's view.
  if (rowsText(c.rows) != rowsShown_) {
    rowsShown_ = rowsText(c.rows);
    QStringList probes;
    for (const auto& r : c.rows) probes << QString::fromStdString(r.probe);
    probeEdit_->setText(probes.join(QStringLiteral(", ")));
    viewBox_->setCurrentText(QString::fromStdString(c.rows.empty() ? std::string("mean") : c.rows[0].view));
    rowFields_ = probeEdit_->text().trimmed() + QLatin1Char('|') + viewBox_->currentText().trimmed();
  }
  normBox_->setCurrentText(QString::fromStdString(render::normModeName(c.scale.norm.mode)));
  shared_->setChecked(c.scale.shared);
  // Single and double column, or the spec's own width as a third choice.
  int width = widthBox_->findData(c.layout.widthIn);
  if (width < 0) {
    while (widthBox_->count() > 2) widthBox_->removeItem(2);
    widthBox_->addItem(tr("%1 in (from the spec)").arg(c.layout.widthIn), c.layout.widthIn);
    width = 2;
  }
  widthBox_->setCurrentIndex(width);
}

void ComparePanel::syncFromController() {
  status_->setText(controller_->status());
  const auto model = controller_->model();
  if (!model) {
    view_->setPlaceholder(controller_->placeholder());
    view_->setModel(nullptr);
    table_->setRowCount(0);
    shown_.reset();
    return;
  }
  if (model == shown_) return;
  shown_ = model;
  view_->setModel(model);
  const auto& t = model->statistics;
  table_->clear();
  table_->setColumnCount(static_cast<int>(t.columns.size()));
  table_->setRowCount(static_cast<int>(t.rows.size()));
  QStringList headers;
  for (const auto& h : t.columns) headers << QString::fromStdString(h);
  table_->setHorizontalHeaderLabels(headers);
  for (int r = 0; r < static_cast<int>(t.rows.size()); ++r) {
    for (int c = 0; c < static_cast<int>(t.rows[r].size()); ++c) {
      table_->setItem(r, c, new QTableWidgetItem(QString::fromStdString(t.rows[r][c])));
    }
  }
  table_->resizeColumnsToContents();  // names whole; the value column takes the rest
}

void ComparePanel::rowsFromFields() {
  // Focus leaving an untouched field changes nothing: rows a spec gave (with a view per row)
  // stay until the fields are really edited.
  const QString fields = probeEdit_->text().trimmed() + QLatin1Char('|') + viewBox_->currentText().trimmed();
  if (fields == rowFields_) return;
  rowFields_ = fields;
  const std::string view = viewBox_->currentText().trimmed().isEmpty() ? "mean" : viewBox_->currentText().trimmed().toStdString();
  std::vector<figure::FigureRow> rows;
  for (const QString& p : probeEdit_->text().split(QLatin1Char(','), Qt::SkipEmptyParts)) {
    if (!p.trimmed().isEmpty()) rows.push_back({p.trimmed().toStdString(), view, ""});
  }
  if (rows.empty()) rows.push_back({"auto", view, ""});
  rowsShown_ = rowsText(rows);
  document_->setComparisonRows(std::move(rows));
}

void ComparePanel::exportDialog() {
  if (const QString why = controller_->exportBlocker(); !why.isEmpty()) {
    Q_EMIT message(why, true);
    return;
  }
  const QString path = QFileDialog::getSaveFileName(
      this, tr("Export figure"), QStringLiteral("figure.pdf"),
      tr("PDF, vector with 300 dpi heatmaps (*.pdf);;SVG (*.svg);;PNG at %1 dpi (*.png)").arg(model()->spec.layout.dpi),
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
  const auto m = model();
  if (!m || m->statistics.rows.empty()) {
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
  const std::string csv = figure::statisticsCsv(*m);
  if (!f.open(QIODevice::WriteOnly) || f.write(csv.data(), static_cast<qint64>(csv.size())) < 0 || !f.commit()) {
    Q_EMIT message(tr("%1: cannot be written (%2)").arg(path, f.errorString()), true);
    return;
  }
  Q_EMIT message(tr("Wrote %1").arg(path), false);
}

}  // namespace fl::ui
