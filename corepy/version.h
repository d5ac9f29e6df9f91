/* corepy's version, in one place. CMake's project(VERSION) and corepy.pc read it from here,
 * MODULE.bazel and CHANGELOG.md repeat it (.ci/check_version.py checks that they agree), and
 * corepy_version() (corepy/c_api.h) returns COREPY_VERSION_STRING. Plain C preprocessor, so C
 * and any C++ standard can include it. */
#ifndef COREPY_COREPY_VERSION_H_
#define COREPY_COREPY_VERSION_H_

#define COREPY_VERSION_MAJOR 0
#define COREPY_VERSION_MINOR 5
#define COREPY_VERSION_PATCH 0
#define COREPY_VERSION_STRING "0.5.0"

#endif /* COREPY_COREPY_VERSION_H_ */
