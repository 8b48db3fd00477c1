// libFuzzer target: the figure-spec parser (core/figure/figure_spec.h: parseFigureSpec), which
// reads hand-written JSON. Any input must either parse or throw fl::Error (a usage or input
// error naming the key); crashes, sanitizer reports, nlohmann or std exceptions escaping it
// and timeouts are bugs.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/common/error.h"
#include "core/figure/figure_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)fl::figure::parseFigureSpec(text, "fuzz.spec.json");
  } catch (const fl::Error&) {
  }
  return 0;
}
