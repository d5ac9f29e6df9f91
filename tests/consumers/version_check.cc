// The second program of each consumer (cmake/, pkgconfig/; run.sh runs them): the installed
// corepy/version.h, the C ABI's corepy_version() and the version the package manager found
// (EXPECTED_VERSION) agree, and libcorepy.so answers. The first program is the README's
// examples/registry.cc: a scoped op whose scratch comes from a resource of the program's own.
#include <cstdio>
#include <cstring>

#include "corepy/c_api.h"
#include "corepy/version.h"

#ifndef EXPECTED_VERSION
#error "build with -DEXPECTED_VERSION=\"<the version the package manager found>\""
#endif

int main() {
  int failures = 0;
  if (std::strcmp(COREPY_VERSION_STRING, EXPECTED_VERSION) != 0) {
    std::fprintf(stderr, "version_check: corepy/version.h says %s, the package manager %s\n",
                 COREPY_VERSION_STRING, EXPECTED_VERSION);
    ++failures;
  }
  if (std::strcmp(corepy_version(), COREPY_VERSION_STRING) != 0) {
    std::fprintf(stderr, "version_check: corepy_version() says %s, corepy/version.h %s\n",
                 corepy_version(), COREPY_VERSION_STRING);
    ++failures;
  }
  const float x[] = {1, 2, 3, 4, 5, 6};
  float sum = 0;
  if (corepy_sum_f32(x, 6, &sum) != COREPY_OK || sum != 21) {
    std::fprintf(stderr, "version_check: corepy_sum_f32({1..6}) gave %g, not 21: %s\n", sum,
                 corepy_last_error());
    ++failures;
  }
  if (failures != 0) return 1;
  std::printf("version_check: corepy %s (header, C ABI and package agree)\n", corepy_version());
  return 0;
}
