// Included by every public C++ header of corepy before its first declaration, so that a consumer
// compiling them without C++17 gets one line naming the fix rather than "'std::pmr' has not been
// declared" deep inside an allocator header. MSVC reports __cplusplus as 199711L unless
// /Zc:__cplusplus is given; _MSVC_LANG has the real standard there. corepy/c_api.h and
// corepy/version.h do not include it: they are C.
#ifndef COREPY_COREPY_INTERNAL_REQUIRE_CXX17_H_
#define COREPY_COREPY_INTERNAL_REQUIRE_CXX17_H_

// The message stays one line.
// clang-format off
#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 201703L
#error "corepy needs C++17 or later: compile with -std=c++17 (Bazel: build --cxxopt=-std=c++17 in your .bazelrc; CMake: CMAKE_CXX_STANDARD 17, automatic through the corepy:: targets)"
#endif
// clang-format on

#endif  // COREPY_COREPY_INTERNAL_REQUIRE_CXX17_H_
