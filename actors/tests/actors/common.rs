//! A counting global allocator for the allocation proofs of the per-frame paths, installed by this
//! test binary's `main.rs`. Counting is per thread, so the harness's other threads (and parallel
//! tests) cannot disturb the numbers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static FREES: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // `try_with` keeps this safe during thread teardown.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn bump_free() {
    let _ = FREES.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: defers to `System` for the actual work; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        bump_free();
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations (alloc, alloc_zeroed, realloc) this thread made while `f` ran.
#[allow(dead_code)] // each test binary uses one of the two measures
pub fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// Every allocator call, frees included, this thread made while `f` ran.
#[allow(dead_code)]
pub fn allocator_calls_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get) + FREES.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) + FREES.with(Cell::get) - before
}
