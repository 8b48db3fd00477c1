#pragma once
// QCustomPlot's header uses Qt's `signals`, `slots`, `emit` and `foreach` keywords, which
// QT_NO_KEYWORDS hides (it must stay on: LibTorch headers use `slots`). Map them to the
// Q_ macros for this one include only.
#define signals Q_SIGNALS
#define slots Q_SLOTS
#define emit Q_EMIT
#define foreach Q_FOREACH
#include <qcustomplot.h>
#undef signals
#undef slots
#undef emit
#undef foreach
