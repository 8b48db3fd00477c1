#include "ui/script_controller.h"

#include <ATen/ATen.h>

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QCoreApplication>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>

#include "core/common/error.h"
#include "core/common/sha256.h"
#include "core/features/preprocess.h"
#include "core/io/image.h"
#include "core/io/torchscript_safety.h"
#include "ui/document.h"
#include "ui/error_text.h"
#include "ui/job_service.h"
#include "ui/settings.h"

namespace fl::ui {

namespace {

QString errorText(const std::exception& e) {
  if (const auto* fe = dynamic_cast<const Error*>(&e)) return guiText(*fe);
  return QString::fromStdString(firstLine(e.what()));
}

/// "2e-7" rather than printf's "2e-07".
QString shortNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g", v);
  QString s = QString::fromLatin1(buf);
  s.replace(QStringLiteral("e-0"), QStringLiteral("e-")).replace(QStringLiteral("e+0"), QStringLiteral("e+"));
  return s;
}

/// Class names of a shipped demo network: the manifest.json beside it names the classes and
/// lists the networks by SHA-256 (resources/demo/, scripts/train_demo.py).
std::vector<std::string> manifestClasses(const QString& path, const QString& sha256) {
  QFile f(QFileInfo(path).absoluteDir().filePath(QStringLiteral("manifest.json")));
  if (!f.open(QIODevice::ReadOnly) || f.size() > (4 << 20)) return {};
  const QJsonObject m = QJsonDocument::fromJson(f.readAll()).object();
  bool listed = false;
  const QJsonObject nets = m.value(QStringLiteral("networks")).toObject();
  for (auto it = nets.begin(); it != nets.end(); ++it) {
    const QJsonObject sha = it.value().toObject().value(QStringLiteral("sha256")).toObject();
    for (auto s = sha.begin(); s != sha.end(); ++s) listed |= s.value().toString() == sha256;
  }
  std::vector<std::string> names;
  if (!listed) return names;
  for (const QJsonValue& v : m.value(QStringLiteral("classes")).toArray()) names.push_back(v.toString().toStdString());
  return names;
}

/// A capture's image ([3,H,W], [1,3,H,W] or [1|H,W] gray; [0,1] or [0,255]) as a picture.
QImage tensorImage(const at::Tensor& image) {
  at::Tensor t = image.detach().to(at::kFloat).cpu();
  if (t.dim() == 4) t = t[0];
  if (t.dim() == 2) t = t.unsqueeze(0);
  if (t.dim() != 3 || (t.size(0) != 1 && t.size(0) != 3) || t.numel() == 0) return {};
  if (t.size(0) == 1) t = t.expand({3, t.size(1), t.size(2)});
  if (t.max().item<double>() > 1.5) t = t / 255;
  t = (t.clamp(0, 1) * 255).round().to(at::kByte).permute({1, 2, 0}).contiguous();
  QImage img(static_cast<int>(t.size(1)), static_cast<int>(t.size(0)), QImage::Format_RGB888);
  for (int y = 0; y < img.height(); ++y) {
    std::memcpy(img.scanLine(y), t[y].data_ptr<uint8_t>(), static_cast<size_t>(img.width()) * 3);
  }
  return img;
}

QImage rgbImage(const cv::Mat& rgb) {
  cv::Mat bytes;
  rgb.convertTo(bytes, CV_8UC3, 255.0);
  QImage img(bytes.data, bytes.cols, bytes.rows, static_cast<int>(bytes.step), QImage::Format_RGB888);
  return img.copy();
}

/// A point the views can draw: every tensor as [B, C, H, W] (the kind's layout already for
/// classified points; unclassified ones become feature maps, 1-D to 3-D ones as rows).
at::Tensor viewable(const at::Tensor& t) {
  switch (t.dim()) {
    case 0: return t.reshape({1, 1, 1, 1});
    case 1: return t.reshape({1, 1, 1, t.size(0)});
    case 2: return t.reshape({t.size(0), 1, 1, t.size(1)});
    case 3: return t.unsqueeze(1);
    case 4: return t;
    default: return t.reshape({t.size(0), t.size(1), t.size(2), -1});
  }
}

/// What a load job hands back.
struct LoadOutcome {
  uint64_t load = 0;
  std::optional<ScriptSource> source;
  QString error;
};

/// What a run job hands back.
struct RunOutcome {
  uint64_t revision = 0;
  std::optional<ScriptRun> run;
  RunResult result;
  QString error;
};

}  // namespace

ScriptController::ScriptController(Document* document, QObject* parent) : QObject(parent), document_(document) {
  // A new input, preprocessing or option changes what the script computes (requestChanged
  // counts every such change in the document's revision). No debounce (issue 15): the run
  // starts at once, and changes made while it computes coalesce into one more run (rerun_).
  connect(document_, &Document::requestChanged, this, [this] {
    if (document_->script() && document_->scriptReadiness().isEmpty()) runNow();
  });
}

ScriptController::~ScriptController() {
  if (loadJob_) document_->jobs()->cancel(loadJob_);
  if (runJob_) document_->jobs()->cancel(runJob_);
}

bool ScriptController::isScriptFile(const QString& path) {
  if (QFileInfo(path).suffix().compare(QStringLiteral("flcap"), Qt::CaseInsensitive) == 0) return true;
  return script::looksLikeTorchScript(path.toStdString());
}

void ScriptController::open(const QString& path, const ScriptOpenOptions& options) {
  const uint64_t load = nextLoad_++;
  const bool capture = QFileInfo(path).suffix().compare(QStringLiteral("flcap"), Qt::CaseInsensitive) == 0;
  const ModuleRegistry* registry = &document_->registry();
  if (loadJob_) document_->jobs()->cancel(loadJob_);  // only the newest open counts
  pendingShow_ = options.showPoint;
  loadJob_ = document_->jobs()->submit<LoadOutcome>(
      JobPriority::Interactive, this,
      [path, capture, options, load, registry](JobContext&) {
        LoadOutcome out;
        out.load = load;
        try {
          ScriptSource s;
          s.path = path;
          s.sha256 = QString::fromStdString(sha256File(path.toStdString()));
          if (!options.expectSha256.isEmpty() && options.expectSha256 != s.sha256) {
            throwInput(path.toStdString() + ": the file changed since the session was saved (SHA-256 differs)");
          }
          s.moduleOutputs = options.moduleOutputs;
          if (capture) {
            s.kind = ScriptKind::Capture;
            auto cap = std::make_shared<Capture>(readCapture(path.toStdString()));
            const CaptureCheck check = checkCapture(*registry, *cap);
            s.status.moduleId = QString::fromStdString(check.moduleId);
            s.status.matches = check.matches;
            s.status.maxDiff = check.maxDiff;
            const QString cls = QString::fromStdString(cap->className);
            if (check.matches) {
              s.status.text = QObject::tr("%1 -> built-in %2: matches your PyTorch run, max |diff| %3")
                                  .arg(cls, s.status.moduleId, shortNumber(check.maxDiff));
              s.builtinResult = std::make_shared<RunResult>(check.result);
            } else if (!check.moduleId.empty()) {
              s.status.text = check.ran ? QObject::tr("differs from your module by %1: your %2 is not the standard %3; "
                                                      "showing its own TorchScript instead")
                                              .arg(shortNumber(check.maxDiff), cls, s.status.moduleId)
                                        : QObject::tr("differs from your module: %1; showing its own TorchScript instead")
                                              .arg(QString::fromStdString(check.reason));
            } else {
              s.status.text = QObject::tr("%1 is not a built-in module: showing its own TorchScript").arg(cls);
            }
            if (!check.matches) {
              const std::string trace = writeCaptureScript(*cap);
              try {
                s.model = script::ScriptModel::load(trace);
              } catch (...) {
                removeCaptureScript(trace);
                throw;
              }
              removeCaptureScript(trace);
            }
            s.capture = std::move(cap);
          } else {
            s.kind = ScriptKind::TorchScript;
            s.model = script::ScriptModel::load(path.toStdString());
            // A network on a photo starts with 1 (gray) or 3 (RGB) channels; anything else
            // takes the opened inputs' features.
            int64_t channels = 0;
            if (const auto guess = s.model->guessInputShapes(); guess && !guess->empty() && guess->front().size() >= 2) {
              channels = guess->front()[1];
            }
            s.imageInput = options.imageInput.value_or(s.model->inputNames().size() == 1 && (channels == 1 || channels == 3));
            Preprocess p;
            if (channels == 1) p.order = Preprocess::Order::Gray;
            s.preprocess = options.preprocess.value_or(preprocessText(p));
            parsePreprocess(s.preprocess);  // a session's text is checked here, not at each run
            s.classNames = manifestClasses(path, s.sha256);
          }
          out.source = std::move(s);
        } catch (const std::exception& e) {
          out.error = errorText(e);
        }
        return out;
      },
      [this](LoadOutcome&& out, const JobReport&) {
        loadJob_ = 0;
        updateBusy();
        if (out.load != nextLoad_ - 1) return;  // a newer open replaced it
        if (!out.source) {
          Q_EMIT failed(out.error);
          return;
        }
        QStringList seen = prefs::kSeenScripts.get();
        const bool first = !seen.contains(out.source->sha256);
        if (first) {
          seen.prepend(out.source->sha256);
          while (seen.size() > 500) seen.removeLast();
          prefs::kSeenScripts.set(seen);
        }
        const QString path = out.source->path;
        document_->setScript(std::move(*out.source));
        Q_EMIT opened(path, first);
        if (document_->scriptReadiness().isEmpty()) {
          runNow();
        }
      });
  updateBusy();
}

void ScriptController::runNow() {
  if (!document_->script()) return;
  const QString why = document_->scriptReadiness();
  if (!why.isEmpty()) {
    Q_EMIT runFailed(why);
    return;
  }
  if (runJob_) {
    rerun_ = true;  // after the running one: one run at a time, the newest state last
    return;
  }
  startRun();
}

void ScriptController::startRun() {
  rerun_ = false;
  const ScriptSource& s = *document_->script();
  const uint64_t revision = document_->revision();
  // A snapshot: the worker never touches the document.
  std::shared_ptr<const script::ScriptModel> model = s.model;
  std::shared_ptr<const Capture> capture = s.capture;
  std::shared_ptr<const RunResult> builtin = s.builtinResult;
  const bool imageInput = s.imageInput && s.kind == ScriptKind::TorchScript;
  const std::string preprocess = s.preprocess;
  const bool moduleOutputs = s.moduleOutputs;
  const std::vector<std::string> classes = s.classNames;
  const std::string name = QFileInfo(s.path).fileName().toStdString();
  const int64_t memoryBudget = document_->memoryBudget();  // 0: the default budget
  std::string imagePath;
  std::vector<at::Tensor> tensors;
  if (imageInput) {
    for (const InputItem& in : document_->inputs()) {
      if (!in.image.isNull()) {
        imagePath = in.path.toStdString();
        break;
      }
    }
  } else if (!capture && model) {
    for (size_t i = 0; i < model->inputNames().size() && i < document_->inputs().size(); ++i) {
      tensors.push_back(document_->inputs()[i].tensor);
    }
  }
  QImage firstImage;
  if (!capture && !document_->inputs().empty()) firstImage = document_->inputs().front().image;
  runJob_ = document_->jobs()->submit<RunOutcome>(
      JobPriority::Interactive, this,
      [=](JobContext&) {
        RunOutcome out;
        out.revision = revision;
        const auto start = std::chrono::steady_clock::now();
        try {
          ScriptRun run;
          if (capture) {
            run.inputs = capture->inputs;
            if (capture->image) run.image = tensorImage(*capture->image);
          } else if (imageInput) {
            const Image img = readImage(imagePath);
            PreprocessedImage pre = preprocessImage(img.rgb, parsePreprocess(preprocess));
            run.inputs = {pre.tensor};
            run.image = rgbImage(pre.rgb);
          } else {
            run.inputs = tensors;
            run.image = firstImage;
          }
          if (builtin) {
            out.result = *builtin;
          } else {
            const auto forwardStart = std::chrono::steady_clock::now();
            run.result = model->run(run.inputs, moduleOutputs, memoryBudget);
            const double forwardMs =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - forwardStart).count();
            std::vector<std::pair<std::string, at::Tensor>> probes;
            std::vector<ProbeKind> kinds;
            for (const auto& p : run.result.points) {
              probes.emplace_back(p.spec.name, viewable(p.value));
              kinds.push_back(p.kind.value_or(ProbeKind::FeatureMap));
            }
            out.result = scriptRunAsResult(name, run.result.outputs, probes, kinds);
            out.result.forwardMs = forwardMs;
            // [1,K] logits: the predicted class and its softmax score.
            if (run.result.outputs.size() == 1) {
              const at::Tensor y = run.result.outputs.front().second;
              if (y.dim() == 2 && y.size(0) == 1 && y.size(1) >= 2 && y.is_floating_point()) {
                const at::Tensor prob = y.to(at::kDouble).softmax(1)[0];
                const int64_t k = prob.argmax().item<int64_t>();
                const QString cls = k < static_cast<int64_t>(classes.size()) ? QString::fromStdString(classes[static_cast<size_t>(k)])
                                                                             : QObject::tr("class %1").arg(k);
                run.prediction = QObject::tr("predicted: %1 (softmax %2 of %3 classes)")
                                     .arg(cls)
                                     .arg(prob[k].item<double>(), 0, 'f', 3)
                                     .arg(y.size(1));
              }
            }
          }
          out.run = std::move(run);
          out.result.totalMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        } catch (const std::exception& e) {
          out.error = errorText(e);
        }
        return out;
      },
      [this](RunOutcome&& out, const JobReport& report) {
        runJob_ = 0;
        // Made for an older state (another file, input or preprocessing): run again instead.
        const bool stale = out.revision != document_->revision() || !document_->script();
        if (!stale) {
          if (out.run) {
            ResultContext context;
            context.peakBytes = report.peakBytes;
            document_->setScriptResult(std::move(*out.run), std::move(out.result), std::move(context));
            if (!pendingShow_.isEmpty()) {
              const RunResult* r = document_->result();
              if (r && pendingShow_.startsWith(QStringLiteral("probe.")) && r->findProbe(pendingShow_.mid(6).toStdString())) {
                ViewSettings v = document_->view();
                v.tensor = pendingShow_;
                document_->setView(v);
              }
              pendingShow_.clear();
            }
          } else {
            Q_EMIT runFailed(out.error);
          }
        } else if (document_->script()) {
          rerun_ = true;
        }
        if (rerun_ && document_->script() && document_->scriptReadiness().isEmpty()) startRun();
        updateBusy();
      });
  updateBusy();
}

void ScriptController::waitForIdle() {
  for (int i = 0; i < 100 && busy(); ++i) {
    document_->jobs()->waitFor({loadJob_, runJob_});
    QCoreApplication::processEvents();
  }
}

void ScriptController::updateBusy() {
  if (busy() == busy_) return;
  busy_ = busy();
  Q_EMIT busyChanged(busy_);
}

}  // namespace fl::ui
