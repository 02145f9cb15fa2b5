// SPDX-License-Identifier: GPL-2.0

//! Buffers: VRAM allocations whose pages are allocated lazily.
//!
//! A buffer is shared through `Arc<Buffer>`: by the handle tables of contexts, by export files,
//! by the mappings of it and by the jobs that use it. It dies, and returns its bytes to the
//! pool, with its last reference.
//!
//! # Concurrency of the contents
//!
//! Page contents are written by the kernel only when a page is allocated (zeroed, before it is
//! published) and by jobs, which the ordered engine runs one at a time. Userspace may access the
//! same pages at any time through a mapping, exactly as it could race with a DMA engine; the
//! kernel side therefore only touches the contents through raw-pointer copies (never through
//! Rust references), the same contract as copies to and from user memory.

use core::ops::Range;
use kernel::{
    new_mutex,
    page::{page_align, Page, PAGE_SHIFT, PAGE_SIZE},
    prelude::*,
    sync::{Arc, Mutex, SetOnce},
};

use crate::{
    device::Device,
    pool::{MemStats, VramCharge},
};

/// Size of the bounce chunks jobs use to move page contents.
const CHUNK: usize = 256;

/// The largest buffer: its byte offsets must fit the low 32 bits of an mmap offset.
pub(crate) const MAX_BUFFER_SIZE: usize = 1 << 32;

/// A VRAM buffer.
///
/// # Invariants
///
/// - `size` is a non-zero multiple of `PAGE_SIZE`, at most [`MAX_BUFFER_SIZE`], and
///   `pages.len() == size / PAGE_SIZE`.
/// - Every page slot is only ever populated while `alloc_lock` is held.
#[pin_data]
pub(crate) struct Buffer {
    id: u64,
    size: usize,
    pages: KVVec<SetOnce<Page>>,
    #[pin]
    alloc_lock: Mutex<()>,
    charge: VramCharge,
    _live: LiveId,
}

/// A buffer's entry in the registry of live buffers (`realgpu_buffer_alive`,
/// which mockgpu asks), from its creation to its drop.
///
/// # Invariants
///
/// `0` is recorded as alive while this exists.
struct LiveId(u64);

impl LiveId {
    fn new(id: u64) -> Result<Self> {
        // SAFETY: plain call; the registry copies the id.
        kernel::error::to_result(unsafe { crate::helpers::realgpu_live_add(id) })?;
        // INVARIANT: recorded just now.
        Ok(LiveId(id))
    }
}

impl Drop for LiveId {
    fn drop(&mut self) {
        // SAFETY: plain call.
        unsafe { crate::helpers::realgpu_live_del(self.0) };
    }
}

impl Buffer {
    /// Allocates a buffer of at least `size` bytes from the pool of `dev`, charged to `owner`.
    ///
    /// `EINVAL` if `size` is 0 or overflows when rounded up to pages, `ENOMEM` if the pool cannot
    /// hold it.
    pub(crate) fn new(dev: &Arc<Device>, owner: &Arc<MemStats>, size: u64) -> Result<Arc<Self>> {
        if size == 0 {
            return Err(EINVAL);
        }
        let size = usize::try_from(size).map_err(|_| EINVAL)?;
        let size = page_align(size).ok_or(EINVAL)?;
        if size > MAX_BUFFER_SIZE {
            // Larger than any pool can be (see `realgpu_main::MAX_VRAM_MB`).
            return Err(ENOMEM);
        }
        let charge = VramCharge::new(dev, owner, size as u64)?;

        let npages = size >> PAGE_SHIFT;
        let mut pages = KVVec::with_capacity(npages, GFP_KERNEL)?;
        for _ in 0..npages {
            pages
                .push_within_capacity(SetOnce::new())
                .map_err(|_| ENOMEM)?;
        }

        let id = dev.alloc_buf_id();
        let live = LiveId::new(id)?;
        // INVARIANT: `size` is a non-zero page multiple of at most `MAX_BUFFER_SIZE`, with one
        // empty slot per page.
        Arc::pin_init(
            try_pin_init!(Self {
                id,
                size,
                pages,
                alloc_lock <- new_mutex!(()),
                charge,
                _live: live,
            }),
            GFP_KERNEL,
        )
    }

    /// The device-wide id of this buffer.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The size in bytes (a multiple of the page size).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The number of pages.
    pub(crate) fn npages(&self) -> usize {
        self.pages.len()
    }

    /// Returns page `index` if it has been allocated.
    fn page(&self, index: usize) -> Option<&Page> {
        self.pages.get(index)?.as_ref()
    }

    /// Returns page `index`, allocating a zeroed page on first use.
    pub(crate) fn page_or_alloc(&self, index: usize) -> Result<&Page> {
        let slot = self.pages.get(index).ok_or(EINVAL)?;
        if let Some(page) = slot.as_ref() {
            return Ok(page);
        }

        let _guard = self.alloc_lock.lock();
        if let Some(page) = slot.as_ref() {
            return Ok(page);
        }
        let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
        // By the type invariants nobody else populates a slot while we hold `alloc_lock`, and the
        // slot was empty above, so this succeeds.
        if slot.populate(page) {
            self.charge.add_resident(PAGE_SIZE as u64);
        }
        slot.as_ref().ok_or(ENOMEM)
    }

    /// Allocates every page that is not allocated yet.
    pub(crate) fn populate(&self) -> Result {
        for index in 0..self.npages() {
            self.page_or_alloc(index)?;
        }
        Ok(())
    }

    /// Sets every byte of the pages `pages` to `value`.
    pub(crate) fn fill(&self, value: u8, pages: Range<usize>) -> Result {
        let chunk = [value; CHUNK];
        for index in pages {
            let page = self.page_or_alloc(index)?;
            for offset in (0..PAGE_SIZE).step_by(CHUNK) {
                // SAFETY: `chunk` is valid for reading `CHUNK` bytes. Kernel-side writers of the
                // page are serialised by the engine; userspace may race, see the module docs.
                unsafe { page.write_raw(chunk.as_ptr(), offset, CHUNK)? };
            }
        }
        Ok(())
    }

    /// The sum of the bytes of the pages `pages`, as a `u64`. Pages never allocated read as
    /// zeroes.
    pub(crate) fn checksum(&self, pages: Range<usize>) -> Result<u64> {
        let mut chunk = [0u8; CHUNK];
        let mut sum = 0u64;
        for index in pages {
            let Some(page) = self.page(index) else {
                continue;
            };
            for offset in (0..PAGE_SIZE).step_by(CHUNK) {
                // SAFETY: `chunk` is valid for writing `CHUNK` bytes. Kernel-side writers of the
                // page are serialised with us by the engine; userspace may race, see the module
                // docs.
                unsafe { page.read_raw(chunk.as_mut_ptr(), offset, CHUNK)? };
                sum = chunk
                    .iter()
                    .fold(sum, |acc, &byte| acc.wrapping_add(u64::from(byte)));
            }
        }
        Ok(sum)
    }

    /// Copies the pages `pages` of `src`, which must have the same size, into `self`.
    pub(crate) fn copy_from(&self, src: &Buffer, pages: Range<usize>) -> Result {
        if src.size != self.size {
            return Err(EINVAL);
        }
        let mut chunk = [0u8; CHUNK];
        for index in pages {
            let dst_page = self.page_or_alloc(index)?;
            let Some(src_page) = src.page(index) else {
                // SAFETY: Kernel-side writers of the page are serialised by the engine;
                // userspace may race, see the module docs.
                unsafe { dst_page.fill_zero_raw(0, PAGE_SIZE)? };
                continue;
            };
            for offset in (0..PAGE_SIZE).step_by(CHUNK) {
                // SAFETY: `chunk` is valid for `CHUNK` bytes; it is a separate bounce buffer, so
                // this is correct even when `src` and `self` are the same buffer. Kernel-side
                // accesses are serialised by the engine; userspace may race, see the module docs.
                unsafe {
                    src_page.read_raw(chunk.as_mut_ptr(), offset, CHUNK)?;
                    dst_page.write_raw(chunk.as_ptr(), offset, CHUNK)?;
                }
            }
        }
        Ok(())
    }
}
