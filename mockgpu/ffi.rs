// SPDX-License-Identifier: GPL-2.0

//! The C helpers of `helpers.c` (thin wrappers over static inline kernel
//! functions). Each caller states why its call is sound.

use kernel::{
    bindings,
    ffi::{c_char, c_long, c_uint, c_ulong, c_void},
    prelude::*,
};

#[allow(
    improper_ctypes,
    reason = "kernel structs are passed by pointer only; bindgen marks some members opaque"
)]
unsafe extern "C" {
    /// The `targets=` module parameter, a NUL-terminated string.
    pub(crate) fn mockgpu_targets_param() -> *const c_char;
    /// `kern_path(name, LOOKUP_FOLLOW, out)`.
    pub(crate) fn mockgpu_capture_path(name: *const c_char, out: *mut bindings::path) -> c_int;
    /// `path_put(path)`.
    pub(crate) fn mockgpu_path_put(path: *mut bindings::path);
    /// Device number, mode and owner (global uid and gid) of a char device
    /// path, `-ENOTTY` if not a char device.
    pub(crate) fn mockgpu_path_info(
        path: *const bindings::path,
        rdev: *mut bindings::dev_t,
        mode: *mut bindings::umode_t,
        uid: *mut u32,
        gid: *mut u32,
    ) -> c_int;
    /// `get_current_cred()`: a reference on the current task's credentials.
    pub(crate) fn mockgpu_cred_get_current() -> *const bindings::cred;
    /// `put_cred(cred)`.
    pub(crate) fn mockgpu_cred_put(cred: *const bindings::cred);
    /// Opens the real node for `user` (its flags) with the credentials
    /// `cred`, as a backing file whose user path is `user`'s; an `ERR_PTR`
    /// on failure.
    pub(crate) fn mockgpu_open_real(
        user: *mut bindings::file,
        real: *const bindings::path,
        cred: *const bindings::cred,
    ) -> *mut bindings::file;
    /// Opens the real node read-write as the current task; an `ERR_PTR` on failure.
    pub(crate) fn mockgpu_open_probe(real: *const bindings::path) -> *mut bindings::file;
    /// The name of the module owning `fops`, or "" for built-in code.
    pub(crate) fn mockgpu_fops_module_name(fops: *const bindings::file_operations)
        -> *const c_char;
    /// Reads one `u32` of user memory at `p` (`get_user`); 0 or `-EFAULT`.
    pub(crate) fn mockgpu_get_user_u32(out: *mut u32, p: *const c_void) -> c_int;
    /// Reads one `u64` of user memory at `p` (`get_user`); 0 or `-EFAULT`.
    pub(crate) fn mockgpu_get_user_u64(out: *mut u64, p: *const c_void) -> c_int;
    /// Copies the flags in `mask` of the proxy file to the real file, under its `f_lock`.
    pub(crate) fn mockgpu_sync_flags(
        proxy: *mut bindings::file,
        real: *mut bindings::file,
        mask: c_uint,
    );
    /// Copies the mode bits the VFS reads from the file (stream, seekable, nowait).
    pub(crate) fn mockgpu_mirror_fmode(proxy: *mut bindings::file, real: *const bindings::file);
    /// `vma_set_file(vma, real)` then `vfs_mmap(real, vma)`.
    pub(crate) fn mockgpu_mmap_real(
        real: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int;
    /// Calls the real file's `read_iter` with a kiocb cloned from `iocb`.
    pub(crate) fn mockgpu_read_iter_real(
        real: *mut bindings::file,
        iocb: *mut bindings::kiocb,
        to: *mut bindings::iov_iter,
    ) -> isize;
    /// Calls the real file's `write_iter` with a kiocb cloned from `iocb`.
    pub(crate) fn mockgpu_write_iter_real(
        real: *mut bindings::file,
        iocb: *mut bindings::kiocb,
        from: *mut bindings::iov_iter,
    ) -> isize;
    /// Carries the proxy's `F_SETOWN` owner to the real file and calls its `fasync`.
    pub(crate) fn mockgpu_fasync_real(
        fd: c_int,
        proxy: *mut bindings::file,
        real: *mut bindings::file,
        on: c_int,
    ) -> c_int;
    /// Registers mockgpu's device class.
    pub(crate) fn mockgpu_nodes_init() -> c_int;
    /// Undoes `mockgpu_nodes_init`.
    pub(crate) fn mockgpu_nodes_exit();
    /// Registers one more char major with all its minors; 0 or a negative errno.
    pub(crate) fn mockgpu_major_alloc(major: *mut c_uint) -> c_int;
    /// Unregisters a major from `mockgpu_major_alloc`.
    pub(crate) fn mockgpu_major_free(major: c_uint);
    /// The parent of the device behind an open DRM file, referenced, or NULL.
    pub(crate) fn mockgpu_drm_parent(drm: *mut bindings::file) -> *mut bindings::device;
    /// `put_device(dev)`.
    pub(crate) fn mockgpu_device_put(dev: *mut bindings::device);
    /// Creates the node `/dev/mockgpu/<name>` at `major:minor`, under
    /// `parent` (or none), reporting `devname` (or its own name) as its
    /// DEVNAME; on success the node owns the target reference `target`
    /// (dropped by `mockgpu_target_put` when the node's last reference
    /// goes). An `ERR_PTR` on failure.
    pub(crate) fn mockgpu_node_add(
        major: c_uint,
        minor: c_uint,
        name: *const c_char,
        mode: bindings::umode_t,
        uid: u32,
        gid: u32,
        fops: *const bindings::file_operations,
        target: *const c_void,
        real_path: *const c_char,
        parent: *mut bindings::device,
        devname: *const c_char,
    ) -> *mut MockgpuNode;
    /// Removes a node: no new open finds it; open files keep it alive.
    pub(crate) fn mockgpu_node_del(node: *mut MockgpuNode);
    /// Fills `ids` (room for `max`) with the tenant chain of the current
    /// task for `kind`, nearest first, the initial namespace last; returns
    /// how many, `-ELOOP` if more than `max`, `-EINVAL` for an unknown kind.
    pub(crate) fn mockgpu_tenant_chain(kind: u32, ids: *mut u64, max: c_uint) -> c_int;
    /// A reference on the namespace or cgroup `level` steps up the current
    /// task's chain, or NULL.
    pub(crate) fn mockgpu_tenant_ref_get(kind: u32, level: c_uint) -> *mut c_void;
    /// Whether the namespace or cgroup of a reference is still in use.
    pub(crate) fn mockgpu_tenant_ref_alive(kind: u32, r: *mut c_void) -> bool;
    /// Drops a reference from `mockgpu_tenant_ref_get`.
    pub(crate) fn mockgpu_tenant_ref_put(kind: u32, r: *mut c_void);
    /// The real driver's fdinfo of `real` into `buf`: its length, `-ENOENT`
    /// without `show_fdinfo`, `-EOVERFLOW` if it did not fit.
    pub(crate) fn mockgpu_real_fdinfo(
        real: *mut bindings::file,
        buf: *mut u8,
        size: usize,
    ) -> isize;
    /// Monotonic time in µs.
    pub(crate) fn mockgpu_now_us() -> u64;
    /// Sleeps interruptibly until the time (µs); `-ERESTARTSYS` on a signal.
    pub(crate) fn mockgpu_sleep_until_us(deadline_us: u64) -> c_int;
    /// Maps a scratch page in the current task; its address or a negative errno.
    pub(crate) fn mockgpu_scratch_map() -> c_ulong;
    /// Unmaps a page from `mockgpu_scratch_map`.
    pub(crate) fn mockgpu_scratch_unmap(addr: c_ulong);
    /// Creates /sys/kernel/debug/mockgpu/status.
    pub(crate) fn mockgpu_debugfs_init();
    /// Removes it, waiting for readers in progress.
    pub(crate) fn mockgpu_debugfs_exit();
    /// Whether the file is `O_NONBLOCK`.
    pub(crate) fn mockgpu_nonblock(file: *const bindings::file) -> bool;
    /// The file's reference count (`file_count`).
    pub(crate) fn mockgpu_file_count(file: *mut bindings::file) -> c_long;
    /// Whether the open file is a DRM device's.
    pub(crate) fn mockgpu_drm_file(real: *const bindings::file) -> bool;
    /// The DRM device of a DRM file, referenced with its driver's module, or NULL.
    pub(crate) fn mockgpu_drm_dev_get(real: *mut bindings::file) -> *mut c_void;
    /// Drops a reference from `mockgpu_drm_dev_get`.
    pub(crate) fn mockgpu_drm_dev_put(dev: *mut c_void);
    /// The DRM device of a DRM file, unreferenced (an identity).
    pub(crate) fn mockgpu_drm_dev_of(real: *mut bindings::file) -> *const c_void;
    /// The name of the DRM file's driver, a static string.
    pub(crate) fn mockgpu_drm_driver_name(real: *mut bindings::file) -> *const c_char;
    /// `drm_ioctl`'s sizing of `cmd`: 0, or a negative errno if mockgpu
    /// does not run that number itself.
    pub(crate) fn mockgpu_drm_sizes(
        real: *mut bindings::file,
        cmd: c_uint,
        inb: *mut u32,
        outb: *mut u32,
        ksize: *mut u32,
    ) -> c_int;
    /// Runs `cmd` on the kernel copy `kdata` (of the size `mockgpu_drm_sizes` gave).
    pub(crate) fn mockgpu_drm_call(
        real: *mut bindings::file,
        cmd: c_uint,
        kdata: *mut c_void,
    ) -> c_int;
    /// The GEM object behind a handle, referenced, and its size; or NULL.
    pub(crate) fn mockgpu_gem_lookup(
        real: *mut bindings::file,
        handle: u32,
        size: *mut u64,
    ) -> *mut c_void;
    /// `drm_gem_object_put`.
    pub(crate) fn mockgpu_gem_put(obj: *mut c_void);
    /// The references on a GEM object (`kref_read`).
    pub(crate) fn mockgpu_gem_refs(obj: *mut c_void) -> c_uint;
    /// `drm_gem_handle_delete`.
    pub(crate) fn mockgpu_gem_handle_delete(real: *mut bindings::file, handle: u32) -> c_int;
    /// A delayed work calling `f(data)`; NULL without memory.
    pub(crate) fn mockgpu_reaper_new(
        f: unsafe extern "C" fn(*const c_void),
        data: *const c_void,
    ) -> *mut MockgpuReaper;
    /// Runs the reaper in `ms`, sooner if it was due later.
    pub(crate) fn mockgpu_reaper_kick(r: *mut MockgpuReaper, ms: c_uint);
    /// Cancels the reaper (waiting for a running call) and frees it.
    pub(crate) fn mockgpu_reaper_free(r: *mut MockgpuReaper);
    /// Registers the dmem region `mockgpu/<name>` of `size` bytes (the
    /// machine's memory if 0): the region, NULL (no dmem) or an `ERR_PTR`.
    pub(crate) fn mockgpu_dmem_register(name: *const c_char, size: u64) -> *mut c_void;
    /// Unregisters a region (charges outstanding keep it alive).
    pub(crate) fn mockgpu_dmem_unregister(region: *mut c_void);
    /// Charges the current task's cgroup: 0 and the pool, `-EAGAIN` over `dmem.max`.
    pub(crate) fn mockgpu_dmem_try_charge(
        region: *mut c_void,
        size: u64,
        pool: *mut *mut c_void,
    ) -> c_int;
    /// Returns a charge to its pool.
    pub(crate) fn mockgpu_dmem_uncharge(pool: *mut c_void, size: u64);
    /// realgpu's `realgpu_buffer_alive`, with a reference on its module; NULL
    /// if realgpu is not loaded.
    pub(crate) fn mockgpu_realgpu_alive_get() -> *mut c_void;
    /// Drops the reference of `mockgpu_realgpu_alive_get`.
    pub(crate) fn mockgpu_realgpu_alive_put();
    /// Calls the function from `mockgpu_realgpu_alive_get`.
    pub(crate) fn mockgpu_realgpu_alive(alive: *mut c_void, id: u64) -> bool;
    /// realgpu's `realgpu_newest_handle` and `realgpu_delete_handle`, each
    /// with a reference on its module; both or neither (`false`).
    pub(crate) fn mockgpu_realgpu_handles_get(
        newest: *mut *mut c_void,
        del: *mut *mut c_void,
    ) -> bool;
    /// Drops the references of `mockgpu_realgpu_handles_get`.
    pub(crate) fn mockgpu_realgpu_handles_put();
    /// Calls `realgpu_newest_handle` (from `mockgpu_realgpu_handles_get`).
    pub(crate) fn mockgpu_realgpu_newest(
        newest: *mut c_void,
        real: *mut bindings::file,
        handle: *mut u32,
        id: *mut u64,
        size: *mut u64,
    ) -> c_int;
    /// Calls `realgpu_delete_handle` (from `mockgpu_realgpu_handles_get`).
    pub(crate) fn mockgpu_realgpu_delete(
        del: *mut c_void,
        real: *mut bindings::file,
        handle: u32,
    ) -> c_int;
    /// The target reference of the node an inode of mockgpu's major opened.
    pub(crate) fn mockgpu_node_target(inode: *const bindings::inode) -> *const c_void;
}

/// `struct mockgpu_node` of helpers.c, only handled by pointer.
#[repr(C)]
pub(crate) struct MockgpuNode {
    _opaque: [u8; 0],
}

/// `struct mockgpu_reaper` of drm_helpers.c, only handled by pointer.
#[repr(C)]
pub(crate) struct MockgpuReaper {
    _opaque: [u8; 0],
}
