// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C wrappers in `realgpu_helpers.c`.
//!
//! These wrap static inline functions and macros that bindgen does not expose. The prototypes
//! must match `realgpu_helpers.h`.

use kernel::{bindings, ffi::c_int, prelude::*};

// The pointee structs contain zero-sized bindgen placeholders that trip `improper_ctypes`; we
// only pass the pointers through to C.
#[allow(improper_ctypes)]
unsafe extern "C" {
    /// Allocates an ordered workqueue named `realgpu`.
    ///
    /// Returns null on failure. The caller owns the queue and must destroy it with
    /// `destroy_workqueue`.
    pub(crate) fn realgpu_alloc_ordered_wq() -> *mut bindings::workqueue_struct;

    /// Creates an anonymous-inode file with the given `fops` and `private_data`.
    ///
    /// Returns an `ERR_PTR` on failure; on success the caller owns one reference to the file.
    ///
    /// # Safety
    ///
    /// `fops` must point to a `file_operations` table that lives as long as the module; its
    /// `release` callback takes over whatever `priv_` owns.
    pub(crate) fn realgpu_anon_getfile(
        fops: *const bindings::file_operations,
        priv_: *mut c_void,
    ) -> *mut bindings::file;

    /// Returns `vmf->vma`.
    ///
    /// # Safety
    ///
    /// `vmf` must be a valid `struct vm_fault` for the duration of the call.
    pub(crate) fn realgpu_vmf_vma(vmf: *const bindings::vm_fault) -> *mut bindings::vm_area_struct;

    /// Returns `vmf->pgoff`.
    ///
    /// # Safety
    ///
    /// `vmf` must be a valid `struct vm_fault` for the duration of the call.
    pub(crate) fn realgpu_vmf_pgoff(vmf: *const bindings::vm_fault) -> c_ulong;

    /// Calls `vmf_insert_page(vmf->vma, vmf->address, page)`.
    ///
    /// # Safety
    ///
    /// `vmf` must be a fault being handled by a `VM_MIXEDMAP` vma's `fault` callback and `page`
    /// a valid order-0, non-anonymous page.
    pub(crate) fn realgpu_vmf_insert_page(
        vmf: *mut bindings::vm_fault,
        page: *mut bindings::page,
    ) -> bindings::vm_fault_t;

    /// Calls `vmf_error(err)`: converts a negative errno into a `vm_fault_t`.
    pub(crate) fn realgpu_vmf_error(err: c_int) -> bindings::vm_fault_t;

    /// Records buffer `id` as alive; 0 or `-ENOMEM`.
    pub(crate) fn realgpu_live_add(id: u64) -> c_int;

    /// Records buffer `id` as dead.
    pub(crate) fn realgpu_live_del(id: u64);
}
