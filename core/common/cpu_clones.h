#pragma once
/// FL_CPU_CLONES: compile a hot loop once per x86-64 level (AVX-512, AVX2, baseline) and let
/// the loader pick the best one for the CPU (GCC's target_clones, an ifunc). The loops are plain
/// C++ written for the auto-vectoriser, so elsewhere (another architecture, or clang, whose
/// target_clones does not take these arch names) they compile once for the baseline.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FL_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FL_CPU_CLONES
#endif
