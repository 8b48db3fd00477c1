#include "ui/examples.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QObject>
#include <QStandardPaths>

#include "core/features/features.h"

namespace fl::ui {

namespace {

Example trained(const QString& id, const QString& name, const QString& garment, const QString& tensor) {
  const QString base = QStringLiteral(":/demo/") + id;
  return {QObject::tr("Trained %1 on a Fashion-MNIST %2").arg(name, garment.section(QLatin1Char('-'), 1).replace(QLatin1Char('_'), QLatin1Char(' '))),
          id,
          QStringLiteral(":/images/garments/") + garment + QStringLiteral(".png"),
          base + QStringLiteral(".stem.pt"),
          base + QStringLiteral(".weights.safetensors"),
          QString(),
          tensor};
}

/// A whole trained network (TorchScript) opened with its attention points: the fusion
/// networks fuse two branches of one garment inside the network, so the window shows them
/// this way (their built-in modules would need both branches' features as inputs).
Example whole(const QString& id, const QString& name, const QString& garment, const QString& point) {
  return {QObject::tr("Trained %1 network, whole (TorchScript), on a Fashion-MNIST %2")
              .arg(name, garment.section(QLatin1Char('-'), 1).replace(QLatin1Char('_'), QLatin1Char(' '))),
          id,
          QStringLiteral(":/images/garments/") + garment + QStringLiteral(".png"),
          QString(),
          QString(),
          QString::fromStdString(defaultFeatureSpecText()),
          QStringLiteral("probe.") + point,
          QStringLiteral(":/demo/") + id + QStringLiteral(".pt"),
          // as it was trained (scripts/train_demo.py): one gray channel in [0,1]
          QStringLiteral("size=none,order=gray,range=1,mean=0,std=1")};
}

}  // namespace

const std::vector<Example>& examples() {
  // Single-input networks: their stem is the feature backbone and the built-in module runs
  // with the trained weights. Fusion networks open whole, with their attention points.
  static const std::vector<Example> all = {
      trained(QStringLiteral("cbam"), QStringLiteral("CBAM"), QStringLiteral("0-ankle_boot"),
              QStringLiteral("probe.spatial_weight")),
      trained(QStringLiteral("spatial-attention"), QStringLiteral("spatial attention"),
              QStringLiteral("2-trouser"), QStringLiteral("probe.spatial_weight")),
      trained(QStringLiteral("cbam-joint"), QStringLiteral("CBAM (joint MLP)"), QStringLiteral("1-pullover"),
              QStringLiteral("probe.spatial_weight")),
      trained(QStringLiteral("se"), QStringLiteral("SE"), QStringLiteral("1-pullover"),
              QStringLiteral("probe.channel_weight")),
      trained(QStringLiteral("eca"), QStringLiteral("ECA"), QStringLiteral("0-ankle_boot"),
              QStringLiteral("probe.channel_weight")),
      trained(QStringLiteral("ms-cam"), QStringLiteral("MS-CAM"), QStringLiteral("2-trouser"),
              QStringLiteral("probe.weight")),
      trained(QStringLiteral("safm"), QStringLiteral("SAFM"), QStringLiteral("0-ankle_boot"),
              QStringLiteral("probe.modulation")),
      trained(QStringLiteral("mfe"), QStringLiteral("MFE"), QStringLiteral("1-pullover"),
              QStringLiteral("probe.scale_weights")),
      trained(QStringLiteral("osra"), QStringLiteral("OSRA"), QStringLiteral("0-ankle_boot"),
              QStringLiteral("probe.attention")),
      // The whole trained network with its attention points (TorchScript), on the photo the
      // way it was trained: gray, [0,1].
      whole(QStringLiteral("cbam"), QStringLiteral("CBAM"), QStringLiteral("0-ankle_boot"),
            QStringLiteral("att.SpatialGate.sigmoid")),
      // CBAM at two depths of one network: its spatial maps at stride 2 and 4 (att1, att2).
      whole(QStringLiteral("cbam-2depth"), QStringLiteral("CBAM (two depths)"), QStringLiteral("0-ankle_boot"),
            QStringLiteral("att1.SpatialGate.sigmoid")),
      whole(QStringLiteral("aff"), QStringLiteral("AFF"), QStringLiteral("9-sneaker"), QStringLiteral("att.sigmoid")),
      whole(QStringLiteral("iaff"), QStringLiteral("iAFF"), QStringLiteral("4-shirt"), QStringLiteral("att.sigmoid_1")),
      whole(QStringLiteral("cafm"), QStringLiteral("CAFM"), QStringLiteral("18-bag"), QStringLiteral("att.softmax_2")),
      whole(QStringLiteral("gated-fusion"), QStringLiteral("gated fusion"), QStringLiteral("1-pullover"),
            QStringLiteral("att.sigmoid")),
      whole(QStringLiteral("msf"), QStringLiteral("MSF"), QStringLiteral("2-trouser"), QStringLiteral("att.softmax")),
      whole(QStringLiteral("cmgm"), QStringLiteral("CMGM"), QStringLiteral("0-ankle_boot"), QStringLiteral("att.softmax")),
      {QObject::tr("Seeded weights: CBAM on fruits.jpg (filter-bank features)"), QStringLiteral("cbam"),
       QStringLiteral(":/images/fruits.jpg"), QString(), QString(),
       QString::fromStdString(defaultFeatureSpecText()), QStringLiteral("probe.spatial_weight")},
  };
  return all;
}

QString materialiseResource(const QString& resource, QString* error) {
  QFile in(resource);
  if (!in.open(QIODevice::ReadOnly)) {
    if (error) *error = QObject::tr("%1 is not in this build").arg(resource);
    return QString();
  }
  const QByteArray bytes = in.readAll();
  const QString dir = QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + QStringLiteral("/examples");
  QDir().mkpath(dir);
  const QString path = dir + QLatin1Char('/') + QFileInfo(resource).fileName();
  QFile old(path);
  if (old.open(QIODevice::ReadOnly)) {
    if (old.readAll() == bytes) return path;  // written by an earlier start
    old.close();
  }
  QFile out(path);
  if (!out.open(QIODevice::WriteOnly | QIODevice::Truncate) || out.write(bytes) != bytes.size() || !out.flush()) {
    if (error) *error = QObject::tr("%1 could not be written").arg(path);
    return QString();
  }
  return path;
}

}  // namespace fl::ui
