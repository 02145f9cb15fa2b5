// SPDX-License-Identifier: GPL-2.0

//! `mmap(2)` of buffers, with pages faulted in lazily.
//!
//! The mmap offset of a handle is `handle << 32`; the low 32 bits are a page-aligned byte offset
//! into the buffer, so part of a buffer may be mapped. Mappings must be `MAP_SHARED`, or
//! read-only (`MAP_PRIVATE` without `PROT_WRITE`, which cannot be made writable later).
//!
//! Each vma holds a reference to its buffer in `vm_private_data`, taken in `mmap` and in
//! `vm_ops->open` (split, fork) and dropped in `vm_ops->close`, so a mapping keeps its buffer
//! alive after `FREE` or `close(2)`.

use kernel::{
    bindings,
    mm::virt::{flags, VmaNew},
    page::PAGE_SHIFT,
    prelude::*,
    sync::Arc,
    types::ForeignOwnable,
};

use crate::{buffer::Buffer, context::Context, fops::AssertSync, helpers};

/// Bit position of the handle in an mmap offset.
const HANDLE_SHIFT: u32 = 32;

/// Bit position of the handle in a `vm_pgoff`.
const PGOFF_HANDLE_SHIFT: u32 = HANDLE_SHIFT - PAGE_SHIFT as u32;

/// Mask of the in-buffer page index in a `vm_pgoff`.
const PGOFF_INDEX_MASK: c_ulong = (1 << PGOFF_HANDLE_SHIFT) - 1;

/// The mmap offset that maps the start of the buffer of `handle`.
pub(crate) fn offset_of_handle(handle: u32) -> u64 {
    u64::from(handle) << HANDLE_SHIFT
}

/// Implements `mmap(2)` on a context file.
pub(crate) fn mmap(ctx: &Context, vma: &VmaNew) -> Result {
    // A private writable mapping would need copy-on-write of buffer pages: refuse it (as DRM
    // does). A private mapping is fine read-only, and can never be made writable.
    if vma.flags() & flags::SHARED == 0 {
        vma.try_clear_maywrite()?;
    }

    // SAFETY: The vma is being set up by `mmap`, so reading its fields is fine.
    let pgoff = unsafe { (*vma.as_ptr()).vm_pgoff };
    let handle = u32::try_from(pgoff >> PGOFF_HANDLE_SHIFT).map_err(|_| EINVAL)?;
    let first = usize::try_from(pgoff & PGOFF_INDEX_MASK).map_err(|_| EINVAL)?;
    let npages = (vma.end() - vma.start()) >> PAGE_SHIFT;

    let buf = ctx.lookup(handle)?;
    match first.checked_add(npages) {
        Some(end) if end <= buf.npages() => {}
        _ => return Err(EINVAL),
    }

    vma.set_mixedmap();
    vma.set_dontexpand();
    vma.set_dontdump();

    let raw = vma.as_ptr();
    // SAFETY: The vma is still being set up by `mmap`, so nobody else accesses these fields.
    // The reference moved into `vm_private_data` is released by `vm_close`, which the kernel
    // calls exactly once for this vma, also if setting up the mapping fails after we return.
    unsafe {
        (*raw).vm_private_data = buf.into_foreign();
        (*raw).vm_ops = &REALGPU_VM_OPS.0;
    }
    Ok(())
}

/// `vm_ops->open`: a copy of a vma (split, fork) takes its own buffer reference.
///
/// # Safety
///
/// `vma` must be a valid vma using [`REALGPU_VM_OPS`].
unsafe extern "C" fn vm_open(vma: *mut bindings::vm_area_struct) {
    // SAFETY: By the safety requirements `vma` is valid, and a vma using our vm_ops holds an
    // `Arc<Buffer>` reference in `vm_private_data` (copied from the vma it was made from, which
    // is alive during this call).
    let buf = unsafe { Arc::<Buffer>::borrow((*vma).vm_private_data) };
    // The new vma shares the pointer; give it its own reference, released by its `vm_close`.
    let _ = Arc::<Buffer>::from(buf).into_foreign();
}

/// `vm_ops->close`: drops the vma's buffer reference.
///
/// # Safety
///
/// `vma` must be a valid vma using [`REALGPU_VM_OPS`], being removed.
unsafe extern "C" fn vm_close(vma: *mut bindings::vm_area_struct) {
    // SAFETY: The vma owns one reference, from `mmap` or `vm_open`; it is closed only once.
    drop(unsafe { Arc::<Buffer>::from_foreign((*vma).vm_private_data) });
}

/// `vm_ops->fault`: allocates the page on first touch and maps it.
///
/// # Safety
///
/// `vmf` must be a fault being handled on a vma using [`REALGPU_VM_OPS`].
unsafe extern "C" fn vm_fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
    // SAFETY: `vmf` is valid for the duration of the fault.
    let (vma, pgoff) = unsafe {
        (
            helpers::realgpu_vmf_vma(vmf),
            helpers::realgpu_vmf_pgoff(vmf),
        )
    };
    // SAFETY: The vma uses our vm_ops, so `vm_private_data` holds a buffer reference that lives
    // at least as long as the vma, which the fault path keeps alive (mmap or vma lock).
    let buf = unsafe { Arc::<Buffer>::borrow((*vma).vm_private_data) };

    // `mmap` checked the range and `VM_DONTEXPAND` keeps it so; a bad index is a SIGBUS anyway.
    let page = usize::try_from(pgoff & PGOFF_INDEX_MASK)
        .map_err(|_| EINVAL)
        .and_then(|index| buf.page_or_alloc(index));
    match page {
        // SAFETY: We are in the fault handler of a `VM_MIXEDMAP` vma (set in `mmap`) and the
        // page is an order-0 page from `alloc_page`. The page stays allocated while mapped: the
        // buffer owns it and outlives the vma, whose PTEs are zapped before `vm_close`.
        Ok(page) => unsafe { helpers::realgpu_vmf_insert_page(vmf, page.as_ptr()) },
        // SAFETY: FFI call without preconditions.
        Err(err) => unsafe { helpers::realgpu_vmf_error(err.to_errno()) },
    }
}

/// The `vm_operations_struct` of buffer mappings.
static REALGPU_VM_OPS: AssertSync<bindings::vm_operations_struct> =
    AssertSync(bindings::vm_operations_struct {
        open: Some(vm_open),
        close: Some(vm_close),
        fault: Some(vm_fault),
        ..pin_init::zeroed()
    });
