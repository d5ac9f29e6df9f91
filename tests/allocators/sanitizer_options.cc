// Sanitizer defaults for the allocator tests, which ask for impossible sizes on purpose. Their
// runtimes abort on such a request unless told to let the allocator return null instead
// (allocator_may_return_null); corepy's resources then turn the null into std::bad_alloc, which
// is what the tests check. Options given in ASAN_OPTIONS / TSAN_OPTIONS still win.
//
// ThreadSanitizer also cannot see the synchronization inside libmimalloc (a system library, not
// instrumented), only the memset calls it makes on memory that its threads hand over to each
// other, which it then reports as races; calls made from that library are not reported.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COREPY_SANITIZER_DEFAULTS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define COREPY_SANITIZER_DEFAULTS 1
#endif
#endif

#if defined(COREPY_SANITIZER_DEFAULTS)
extern "C" __attribute__((visibility("default"), used)) const char* __asan_default_options() {
  return "allocator_may_return_null=1";
}
extern "C" __attribute__((visibility("default"), used)) const char* __tsan_default_options() {
  return "allocator_may_return_null=1";
}
extern "C" __attribute__((visibility("default"), used)) const char* __tsan_default_suppressions() {
  return "called_from_lib:libmimalloc.so\n";
}
#endif
