#pragma once
/// When estimateSeconds() (core/run/estimate.h) measures the machine.
///
/// Measuring the rates (a 384^3 SGEMM and a 32 MiB copy, once per thread count) costs about
/// 0.1-0.4 s on a two-core machine, most of it page faults on fresh buffers. The CLI wants
/// measured estimates for any run that may be noticeable (its --max-time refusal and progress
/// lines); the desktop app uses the estimate only for the busy bar's ETA of long runs, and its
/// first run should not wait for a measurement it does not need (issue 15: cold start).

namespace fl {

/// Runs whose nominal estimate (the rates of a slow machine: 1 GFLOP/s, 1 GB/s, 20 ns a
/// score) is under `seconds` are estimated with those nominal rates, without measuring
/// anything. Default 0.1 s; values under 0.1 act as 0.1. Process-wide; set it at start-up.
void setMeasureRatesAbove(double seconds);
double measureRatesAbove();

}  // namespace fl
