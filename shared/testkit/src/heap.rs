//! Peak heap of a benchmark: a counting allocator a bench binary installs with
//! `#[global_allocator] static ALLOCATOR: warp_testkit::heap::Counting = warp_testkit::heap::Counting;`,
//! then [`start`] before the measured part and [`peak_mb_since`] after it (live bytes above the
//! level at the start; everything the process allocates meanwhile counts, an in-process
//! sandbox's buffers included).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

/// Resets the peak to the live bytes now; returns them (the baseline).
pub fn start() -> usize {
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    baseline
}

/// The peak above `baseline` since [`start`], in MiB.
pub fn peak_mb_since(baseline: usize) -> f64 {
    PEAK.load(Ordering::Relaxed).saturating_sub(baseline) as f64 / 1_048_576.0
}

/// `--name <positive number>` from the command line, else `default`.
pub fn count_flag(name: &str, default: usize) -> Result<usize, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(at) => args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{name} needs a positive number")),
        None => Ok(default),
    }
}

/// Two decimals, for a bench table.
pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
