/* The C side of //tests/process:teardown_test (issue 10, defect 4): a C program linked to
 * libcorepy.so that calls the C ABI during teardown, where corepy's per-thread state is already
 * destroyed. Each call must return 0 with the right answer, or (corepy_arena_stats) a documented
 * error code with a message; a failing call must return its code and leave a readable message.
 * Prints each result; a wrong one ends the process with exit code 3.
 *
 * Usage: teardown_c_abi_child atexit_sum | atexit_error | pthread_key_destructor */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corepy/c_api.h"

static const float kData[] = {1.0f, 2.0f, 3.0f, 4.5f}; /* sums to 10.5 exactly */

static void wrong(const char* where, const char* what) {
  printf("%s: WRONG: %s\n", where, what);
  _exit(3);
}

static void sum_and_report(const char* where) {
  float out = -1.0f;
  const int rc = corepy_sum_f32(kData, 4, &out);
  printf("%s: corepy_sum_f32 rc=%d sum=%g\n", where, rc, out);
  if (rc != COREPY_OK) wrong(where, corepy_last_error());
  if (out != 10.5f) wrong(where, "the sum is not 10.5");
}

/* 0 with stats, or an error code the header documents with a message. */
static void stats_and_report(const char* where) {
  corepy_arena_stats_t stats;
  memset(&stats, 0, sizeof stats);
  const int rc = corepy_arena_stats(&stats);
  if (rc == COREPY_OK) {
    printf("%s: corepy_arena_stats rc=0 capacity=%zu used=%zu\n", where, stats.capacity,
           stats.used);
  } else {
    const char* message = corepy_last_error();
    printf("%s: corepy_arena_stats rc=%d (%s): %s\n", where, rc, corepy_error_string(rc),
           message != NULL ? message : "(null)");
    if (rc < COREPY_ERROR_NULL_POINTER || rc > COREPY_ERROR_INTERNAL) {
      wrong(where, "corepy_arena_stats returned an undocumented code");
    }
    if (message == NULL || message[0] == '\0') wrong(where, "no message for the error");
  }
  printf("%s: corepy_arena_stats answered\n", where);
}

/* NULL data with count 3: COREPY_ERROR_NULL_POINTER, out untouched, a message. */
static void failing_call_and_report(const char* where) {
  float out = -1.0f;
  const int rc = corepy_sum_f32(NULL, 3, &out);
  const char* message = corepy_last_error();
  printf("%s: corepy_sum_f32(NULL, 3) rc=%d out=%g last_error=\"%s\"\n", where, rc, out,
         message != NULL ? message : "(null)");
  if (rc != COREPY_ERROR_NULL_POINTER) wrong(where, "want COREPY_ERROR_NULL_POINTER");
  if (out != -1.0f) wrong(where, "out was written");
  if (message == NULL || message[0] == '\0') wrong(where, "corepy_last_error() is empty");
  printf("%s: failing call reported\n", where);
}

static void atexit_sum(void) {
  sum_and_report("atexit handler");
  stats_and_report("atexit handler");
}

static void atexit_error(void) { failing_call_and_report("atexit handler"); }

static void key_destructor(void* value) {
  (void)value;
  /* Runs after the thread's C++ thread_local destructors, corepy's included. */
  sum_and_report("pthread key destructor");
  stats_and_report("pthread key destructor");
  failing_call_and_report("pthread key destructor");
}

static pthread_key_t key;

static void* thread_body(void* arg) {
  (void)arg;
  pthread_setspecific(key, &key);
  sum_and_report("thread");
  failing_call_and_report("thread");
  return NULL;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0); /* every line out before a possible abort */
  if (argc != 2) {
    fprintf(stderr, "usage: %s atexit_sum | atexit_error | pthread_key_destructor\n", argv[0]);
    return 2;
  }
  if (strcmp(argv[1], "atexit_sum") == 0) {
    sum_and_report("main");
    atexit(atexit_sum);
    return 0;
  }
  if (strcmp(argv[1], "atexit_error") == 0) {
    /* The thread's last-error message exists (and is destroyed at exit) before the handler runs. */
    sum_and_report("main");
    failing_call_and_report("main");
    atexit(atexit_error);
    return 0;
  }
  if (strcmp(argv[1], "pthread_key_destructor") == 0) {
    pthread_t thread;
    if (pthread_key_create(&key, key_destructor) != 0) return 2;
    if (pthread_create(&thread, NULL, thread_body, NULL) != 0) return 2;
    pthread_join(thread, NULL);
    printf("main: joined\n");
    return 0;
  }
  fprintf(stderr, "unknown scenario %s\n", argv[1]);
  return 2;
}
