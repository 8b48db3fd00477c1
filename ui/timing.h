#pragma once
// FL_TIMING=1: one line on stderr per milestone, "fl-timing <steady-clock ns> <what>", so the
// time from process start to the first heatmap, and from an input to its picture, can be
// broken down (bench/interaction, issue 15) without a profiler. Off: one cached bool test.
namespace fl::ui {

bool timingEnabled();
/// Writes the milestone line when FL_TIMING is set (any thread).
void timingMark(const char* what);

}  // namespace fl::ui
