//! The process allocator, hardened against hostile length fields.
//!
//! kafka-protocol's decoders call `Vec::with_capacity(n)` with `n` read off
//! the wire before reading any element, so a 10-byte frame can ask for
//! hundreds of gigabytes; the system allocator refuses and Rust aborts the
//! process. Checking every count of every API before decoding would mean
//! re-implementing each schema. Instead, allocations of 1 GiB or more (which
//! fjord itself never makes: frames are capped by socket.request.max.bytes)
//! are served by an `MAP_NORESERVE` anonymous mapping. Such a reservation
//! costs address space only; the decoder fails on the first missing element
//! and the mapping is released untouched. Everything else goes to the system
//! allocator unchanged.
//!
//! Limitation: with `vm.overcommit_memory = 2` the kernel ignores
//! MAP_NORESERVE and a huge reservation can still fail (tuning/ says so).

use std::alloc::{GlobalAlloc, Layout, System};

/// Requests at or above this size get a lazy, unreserved mapping.
const HUGE: usize = 1 << 30;
const PAGE: usize = 4096;

pub struct GuardedAlloc;

fn is_huge(layout: &Layout) -> bool {
    layout.size() >= HUGE && layout.align() <= PAGE
}

// SAFETY: every pointer handed out is either from `System` (and returned to
// it) or from mmap of at least `layout.size()` bytes, page aligned (which
// satisfies any alignment up to PAGE), and munmapped with the same size. Which
// of the two is decided by the layout alone, the same at alloc and dealloc.
unsafe impl GlobalAlloc for GuardedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_huge(&layout) {
            map(layout.size())
        } else {
            System.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_huge(&layout) {
            map(layout.size()) // anonymous mappings are zero-filled
        } else {
            System.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_huge(&layout) {
            libc::munmap(ptr.cast(), layout.size());
        } else {
            System.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        if !is_huge(&layout) && !is_huge(&new_layout) {
            return System.realloc(ptr, layout, new_size);
        }
        let new_ptr = self.alloc(new_layout);
        if !new_ptr.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new_ptr
    }
}

unsafe fn map(size: usize) -> *mut u8 {
    let ptr = libc::mmap(
        std::ptr::null_mut(),
        size,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        -1,
        0,
    );
    if ptr == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        ptr.cast()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hostile_capacity_does_not_abort() {
        // What a decoder does with an array count of i32::MAX.
        let v: Vec<[u8; 64]> = Vec::with_capacity(i32::MAX as usize);
        assert!(v.capacity() >= i32::MAX as usize);
    }
}
