#!/usr/bin/python3
"""What each piece of an empty with_arena scope costs (issue 15): a replay of its hot loop.

The loop below is BM_EmptyScope's (tests/bench/arena_scope_benchmark.cc), instruction for
instruction as GCC 12 compiles it at -c opt on x86-64 (objdump of the benchmark binary, session
17), on a fake thread state and arena laid out as the real ones: every load, store, compare and
branch of the quiet path, taken in the same order. Each variant leaves out one group of them and
times the rest. What a piece costs is the base loop's time less the variant's.

    /usr/bin/python3 tests/bench/scope_pieces.py [--cpu N] [--quick]

Needs gcc; x86-64 only. `bazel test` runs it once with --quick (//tests/bench:scope_pieces_smoke)
to keep it working; the figures come from a full run on a quiet machine, compared within one run
only.
"""
import argparse
import os
import subprocess
import sys
import tempfile

# (group, instruction). %[t] is the thread state, %%rbx the arena once loaded; a branch to 9f
# leaves the loop (never taken: the fake arena is quiet and nothing is allocated).
LOOP = [
    ("depth", "movl 0x10(%[t]),%%r15d"),
    ("scope pointer", "movq 0x48(%[t]),%%rbx"),
    ("scope pointer", "testq %%rbx,%%rbx"),
    ("scope pointer", "je 9f"),
    ("depth", "leal 1(%%r15),%%eax"),
    ("depth", "movl %%eax,0x10(%[t])"),
    ("bump pointer", "movq 0x8(%%rbx),%%rax"),
    ("used at the open", "movq 0x28(%%rbx),%%r11"),
    ("frame's chunk", "xorl %%edx,%%edx"),
    ("window", "movq 0x38(%%rbx),%%r8"),
    ("floor", "movq 0x30(%%rbx),%%r9"),
    ("bump pointer", "movq %%rax,%%r12"),
    ("spill count", "movq 0x48(%%rbx),%%rcx"),
    ("spill bytes", "movq 0x60(%%rbx),%%r10"),
    ("used at the open", "movq %%r12,%%rdi"),
    ("used at the open", "subq %%r11,%%rdi"),
    ("quiet at the open", "cmpb $0,0x69(%%rbx)"),
    ("quiet at the open", "je 9f"),
    ("floor", "movq %%r12,0x30(%%rbx)"),
    ("benchmark's work", "addl $1,%%r14d"),
    ("window", "movq $0,0x38(%%rbx)"),
    ("spill count", "cmpq 0x48(%%rbx),%%rcx"),
    ("spill count", "jne 9f"),
    ("quiet at the close", "cmpb $0,0x69(%%rbx)"),
    ("quiet at the close", "je 9f"),
    ("bump pointer", "movq 0x8(%%rbx),%%rax"),
    ("bump pointer", "cmpq %%rax,%%r12"),
    ("bump pointer", "jne 9f"),
    ("window", "cmpq $0,0x38(%%rbx)"),
    ("window", "jne 9f"),
    ("window", "movq %%r8,0x38(%%rbx)"),
    ("floor", "movq %%r9,0x30(%%rbx)"),
    ("depth", "movl %%r15d,0x10(%[t])"),
    ("scope pointer at the close", "movq 0x48(%[t]),%%rax"),
    ("scope pointer at the close", "testq %%rax,%%rax"),
    ("scope pointer at the close", "je 9f"),
]

PROGRAM = r"""
#include <stdint.h>
#include <stdio.h>
#include <time.h>
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}
int main(void) {
  static _Alignas(64) unsigned char state[256], arena[256];

  *(void**)(state + 0x48) = arena;         /* scope_arena */
  *(uint64_t*)(arena + 0x8) = 0x1000;      /* cur_ */
  *(uint64_t*)(arena + 0x28) = 0x1000;     /* begin_ */
  arena[0x69] = 1;                         /* quiet_ */
  const long n = ROUNDS;
  double best = 1e9;
  for (int r = 0; r < 5; ++r) {
    long left = n;
    double t0 = now();
    asm volatile(
        "1:\n\t"
        BODY
        "decq %[n]\n\t"
        "jne 1b\n\t"
        "9:\n"
        : [n] "+r"(left)
        : [t] "r"(state)
        : "rax", "rbx", "rcx", "rdx", "rdi", "r8", "r9", "r10", "r11", "r12", "r14", "r15",
          "memory", "cc");
    double t = (now() - t0) / n * 1e9;
    if (left != 0) { printf("left the loop early\n"); return 1; }
    if (t < best) best = t;
  }
  printf("%.3f\n", best);
  return 0;
}
"""


def run(without, cpu, workdir, rounds):
    """The fastest of 5 timings of `rounds` loops, in ns a loop."""
    body = "".join('"%s\\n\\t"\n' % ins for group, ins in LOOP if group not in without)
    source = os.path.join(workdir, "loop.c")
    binary = os.path.join(workdir, "loop")
    with open(source, "w") as f:
        f.write(PROGRAM.replace("BODY", body))
    subprocess.run(["gcc", "-O2", "-DROUNDS=%d" % rounds, "-o", binary, source], check=True)
    command = ([] if cpu is None else ["taskset", "-c", str(cpu)]) + [binary]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU (taskset)")
    parser.add_argument("--quick", action="store_true", help="few rounds: checks that it runs")
    args = parser.parse_args()
    if os.uname().machine != "x86_64":
        message = "scope_pieces.py replays x86-64 instructions; this machine is " + os.uname().machine
        if args.quick:  # the smoke test: nothing to check here
            print("skipped: " + message)
            return
        sys.exit(message)
    groups = list(dict.fromkeys(group for group, _ in LOOP))
    frame = [g for g in groups if g not in ("depth", "scope pointer", "scope pointer at the close",
                                            "benchmark's work")]
    variants = [("the whole scope", set())] + [("without " + g, {g}) for g in groups] + [
        ("the thread's part only (no frame)", set(frame)),
        ("the loop alone", set(groups)),
    ]
    rounds = 200000 if args.quick else 50000000
    with tempfile.TemporaryDirectory() as workdir:
        print("%-38s %12s %8s %9s" % ("loop", "instructions", "ns", "saves ns"))
        base = None
        for name, without in variants:
            count = sum(1 for group, _ in LOOP if group not in without) + 2  # + dec, jne
            ns = run(without, args.cpu, workdir, rounds)
            base = ns if base is None else base
            print("%-38s %12d %8.3f %9s" %
                  (name, count, ns, "" if not without else "%.3f" % (base - ns)))

if __name__ == "__main__":
    main()
