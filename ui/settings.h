#pragma once
// Typed settings keys, declared once (architecture.md: Preference<T>).
#include <QByteArray>
#include <QDir>
#include <QFileInfo>
#include <QSettings>
#include <QString>
#include <QStringList>
#include <QVariant>

namespace fl::ui {

template <typename T>
struct Preference {
  const char* key;
  T fallback;
  T get() const {
    QSettings s;
    return s.contains(QLatin1String(key)) ? s.value(QLatin1String(key)).template value<T>() : fallback;
  }
  void set(const T& value) const { QSettings().setValue(QLatin1String(key), QVariant::fromValue(value)); }
};

namespace prefs {
inline const Preference<QByteArray> kWindowGeometry{"window/geometry", {}};
inline const Preference<QByteArray> kWindowState{"window/state", {}};
inline const Preference<QStringList> kRecentFiles{"files/recent", {}};
inline const Preference<QString> kLastDirectory{"files/lastDirectory", {}};
inline const Preference<bool> kAutoRun{"run/auto", true};
/// Memory budget of a run in bytes (0 = the core's default, 60% of available memory). The
/// explorer defaults to 4 GiB: a bigger attention matrix is computed in query chunks and
/// shown row by row on demand, which keeps runs short and the machine responsive.
inline const Preference<qint64> kMemoryBudget{"run/memoryBudget", qint64{4} << 30};
inline constexpr int kMaxRecentFiles = 10;
/// SHA-256 of every TorchScript file and capture opened on this machine: the window says once
/// per file that TorchScript runs code from the file.
inline const Preference<QStringList> kSeenScripts{"scripts/seenSha256", {}};
/// Where file dialogs start: the folder last opened from, else the home folder (never the
/// demo's cache folder, never a folder that is gone).
inline QString startDirectory() {
  const QString last = kLastDirectory.get();
  return !last.isEmpty() && QFileInfo(last).isDir() ? last : QDir::homePath();
}
}  // namespace prefs

}  // namespace fl::ui
