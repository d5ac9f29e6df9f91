// bumpalo's allocation, timed as tests/bench/allocators_benchmark.cc times the arena's concrete
// path: batches of 256 allocations of 64 bytes at alignment 16, each pointer consumed by an
// empty asm statement that, like the C++ sink(), makes the compiler produce it without
// clobbering memory, then a reset. Built and run by run.sh from a copy of bumpalo's repository.
//
//   bumpalo_bench             best ns per allocation over 51 timed runs of 1M allocations
//                             (short runs, so the best is one the scheduler did not interrupt)
//   bumpalo_bench ROUNDS      ROUNDS batches and nothing else (for callgrind's counts)
use bumpalo::Bump;
use std::alloc::Layout;
use std::time::Instant;

const BATCH: usize = 256;
const SIZE: usize = 64;
const ALIGN: usize = 16;

#[inline(always)]
fn sink(p: *mut u8) {
    unsafe { std::arch::asm!("/* {0} */", in(reg) p, options(nomem, nostack, preserves_flags)) };
}

#[inline(never)]
fn rounds(bump: &mut Bump, n: usize) {
    let layout = Layout::from_size_align(SIZE, ALIGN).unwrap();
    for _ in 0..n {
        for _ in 0..BATCH {
            sink(bump.alloc_layout(layout).as_ptr());
        }
        bump.reset();
    }
}

fn main() {
    let mut bump = Bump::with_capacity(BATCH * (SIZE + ALIGN) + 4096);
    if let Some(arg) = std::env::args().nth(1) {
        let n: usize = arg.parse().expect("ROUNDS must be a number");
        rounds(&mut bump, n);
        return;
    }
    let n = 4_000;
    rounds(&mut bump, n); // warm up
    let mut best = f64::MAX;
    for _ in 0..51 {
        let start = Instant::now();
        rounds(&mut bump, n);
        let ns = start.elapsed().as_nanos() as f64 / (n * BATCH) as f64;
        best = best.min(ns);
    }
    println!("bumpalo/{}  {:.3} ns per allocation (best of 51 runs of {} allocations, wall clock)", SIZE, best, n * BATCH);
}
