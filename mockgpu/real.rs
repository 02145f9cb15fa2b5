// SPDX-License-Identifier: GPL-2.0

//! The real device behind a proxy: its node, captured once when the target is
//! set up, and the files opened from it, one per proxy file.
//!
//! This file and `fops.rs` are the only places that touch the real driver's
//! `file_operations`; everything above them is safe Rust.

use core::ptr::NonNull;

use kernel::{
    bindings,
    error::{from_err_ptr, to_result},
    ffi::{c_long, c_uint, c_ulong},
    prelude::*,
    str::CStr,
};

use crate::ffi;

/// A real char device node, captured by path when a target is set up, and
/// never looked up by path again: inside a container that path is the proxy.
/// With it, the credentials of the operator who set the target up: every
/// real file is opened with them, as overlayfs opens backing files with the
/// mounter's credentials.
///
/// # Invariants
///
/// `path` holds a reference (`path_get`) on the mount and dentry of a char
/// device inode, and `cred` a reference on credentials; both are released in
/// `Drop`. `rdev`, `mode`, `uid` and `gid` are that inode's.
pub(crate) struct RealNode {
    path: bindings::path,
    cred: *const bindings::cred,
    rdev: bindings::dev_t,
    mode: bindings::umode_t,
    uid: u32,
    gid: u32,
}

// SAFETY: `path` and `cred` only hold references on refcounted objects that
// any thread may use and release; they are never mutated after construction.
unsafe impl Send for RealNode {}
// SAFETY: shared access only reads `path` and `cred` (to open the node), which
// the VFS allows concurrently.
unsafe impl Sync for RealNode {}

impl RealNode {
    /// Resolves `name` in the caller's namespace; it must be a char device.
    pub(crate) fn capture(name: &CStr) -> Result<Self> {
        let mut path = bindings::path {
            mnt: core::ptr::null_mut(),
            dentry: core::ptr::null_mut(),
        };
        // SAFETY: `name` is NUL-terminated and `path` is valid for writes.
        to_result(unsafe { ffi::mockgpu_capture_path(name.as_char_ptr(), &mut path) })?;
        // INVARIANT: `kern_path` succeeded, so `path` holds a reference;
        // `get_current_cred` returns a referenced `cred`; the inode's fields
        // are filled in below before the node is returned.
        let mut node = RealNode {
            path,
            // SAFETY: takes a reference on the current task's credentials.
            cred: unsafe { ffi::mockgpu_cred_get_current() },
            rdev: 0,
            mode: 0,
            uid: 0,
            gid: 0,
        };
        // SAFETY: `node.path` is a valid, referenced path; the outputs are writable.
        to_result(unsafe {
            ffi::mockgpu_path_info(
                &node.path,
                &mut node.rdev,
                &mut node.mode,
                &mut node.uid,
                &mut node.gid,
            )
        })?;
        Ok(node)
    }

    /// The owner and group of the real node (global ids).
    pub(crate) fn owner(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }

    /// The device number of the real node.
    pub(crate) fn rdev(&self) -> bindings::dev_t {
        self.rdev
    }

    /// The permission bits of the real node.
    pub(crate) fn permissions(&self) -> bindings::umode_t {
        self.mode & 0o777
    }

    /// Opens the real node for the proxy file `user`, with its flags and the
    /// operator's credentials. The caller's access was checked on the proxy
    /// node by open(2); the real driver's own open runs as usual.
    ///
    /// # Safety
    ///
    /// `user` is a file being opened (inside its `open` file operation).
    pub(crate) unsafe fn open_for(&self, user: *mut bindings::file) -> Result<RealFile> {
        // SAFETY: `user` is valid by the safety requirements; `self.path` and
        // `self.cred` are referenced by the type invariants.
        let raw = from_err_ptr(unsafe { ffi::mockgpu_open_real(user, &self.path, self.cred) })?;
        let raw = NonNull::new(raw).ok_or(ENODEV)?;
        // SAFETY: `mockgpu_open_real` returned a new open file whose reference
        // is handed over.
        unsafe { RealFile::from_raw(raw) }
    }
}

impl RealNode {
    /// Opens the real node as the current task (the operator setting up the
    /// target), to learn which driver and file operations are behind it.
    pub(crate) fn open_probe(&self) -> Result<RealFile> {
        // SAFETY: `self.path` is a referenced path by the type invariants.
        let raw = from_err_ptr(unsafe { ffi::mockgpu_open_probe(&self.path) })?;
        let raw = NonNull::new(raw).ok_or(ENODEV)?;
        // SAFETY: a new open file whose reference is handed over.
        unsafe { RealFile::from_raw(raw) }
    }
}

impl Drop for RealNode {
    fn drop(&mut self) {
        // SAFETY: by the type invariants `path` and `cred` hold references,
        // dropped once here.
        unsafe {
            ffi::mockgpu_path_put(&mut self.path);
            ffi::mockgpu_cred_put(self.cred);
        }
    }
}

/// An open file of the real driver, owned by one proxy file.
///
/// The forwarding paths read both pointers directly: no call, no lookup.
///
/// # Invariants
///
/// `file` is open and we own one reference on it, dropped in `Drop` (or
/// earlier by [`RealFile::close_now`], which sets `closed`). `fops` is its
/// `f_op`, the real driver's table, which does not change after open and
/// stays valid while the file is open (an open file pins its driver's
/// module). `unlocked_ioctl` is `fops`'s, or [`no_ioctl`] if it has none.
pub(crate) struct RealFile {
    file: NonNull<bindings::file>,
    fops: NonNull<bindings::file_operations>,
    /// Read once at open, so that the ioctl hot path loads one pointer.
    unlocked_ioctl: IoctlFn,
    closed: core::sync::atomic::AtomicBool,
}

/// An `unlocked_ioctl` file operation.
type IoctlFn = unsafe extern "C" fn(*mut bindings::file, c_uint, c_ulong) -> c_long;

/// What the VFS answers for a file without `unlocked_ioctl`.
extern "C" fn no_ioctl(_file: *mut bindings::file, _cmd: c_uint, _arg: c_ulong) -> c_long {
    ENOTTY.to_errno() as c_long
}

// SAFETY: a reference on a `struct file` may be used and dropped (`fput`)
// from any thread; `fops` is an immutable table.
unsafe impl Send for RealFile {}
// SAFETY: the file operations are called concurrently on the same file by
// the VFS itself; `RealFile` adds no state of its own.
unsafe impl Sync for RealFile {}

impl RealFile {
    /// Takes over the reference on an open file.
    ///
    /// # Safety
    ///
    /// `file` is an open file and the caller hands one reference on it over.
    unsafe fn from_raw(file: NonNull<bindings::file>) -> Result<Self> {
        // SAFETY: `file` is open (the safety requirements).
        let fops = unsafe { (*file.as_ptr()).f_op };
        let Some(fops) = NonNull::new(fops.cast_mut()) else {
            // A char device file that opened has a table; refuse one without.
            // SAFETY: the reference handed over is dropped once, here.
            unsafe { bindings::fput(file.as_ptr()) };
            return Err(ENODEV);
        };
        // SAFETY: `fops` is the open file's table, valid while it is open.
        let unlocked_ioctl = unsafe { fops.as_ref() }.unlocked_ioctl.unwrap_or(no_ioctl);
        // INVARIANT: the reference is ours; `fops` is the open file's table
        // and `unlocked_ioctl` its ioctl handler (or `no_ioctl`).
        Ok(RealFile {
            file,
            fops,
            unlocked_ioctl,
            closed: core::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The raw `struct file` of the real driver.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.file.as_ptr()
    }

    /// The real driver's file operations.
    #[inline]
    pub(crate) fn fops(&self) -> &bindings::file_operations {
        // SAFETY: by the type invariants `fops` is valid while `self` lives.
        unsafe { self.fops.as_ref() }
    }

    /// Carries the proxy file's `F_SETFL` flags (`O_NONBLOCK`, ...) over.
    ///
    /// # Safety
    ///
    /// `proxy` is a valid file for the duration of the call.
    #[inline]
    pub(crate) unsafe fn sync_flags_from(&self, proxy: *mut bindings::file) {
        // SAFETY: `proxy` is valid (the safety requirements).
        if !unsafe { self.flags_synced(proxy) } {
            // SAFETY: both files are valid (the caller's guarantee and the
            // invariants); the helper takes the real file's `f_lock`.
            unsafe { ffi::mockgpu_sync_flags(proxy, self.as_ptr(), SYNC_FLAGS) }
        }
    }

    /// Whether the real file has the proxy file's `F_SETFL` flags already.
    ///
    /// # Safety
    ///
    /// `proxy` is a valid file for the duration of the call.
    #[inline(always)]
    pub(crate) unsafe fn flags_synced(&self, proxy: *mut bindings::file) -> bool {
        let real = self.as_ptr();
        // SAFETY: both files are valid (the caller's guarantee and the
        // invariants); `f_flags` is read racily by the VFS too (as READ_ONCE).
        let (want, have) = unsafe {
            (
                core::ptr::read_volatile(&raw const (*proxy).f_flags),
                core::ptr::read_volatile(&raw const (*real).f_flags),
            )
        };
        (want ^ have) & SYNC_FLAGS == 0
    }

    /// Copies the VFS mode bits of the real file to the proxy file.
    ///
    /// # Safety
    ///
    /// `proxy` is a file being opened (inside its `open` file operation).
    pub(crate) unsafe fn mirror_fmode_to(&self, proxy: *mut bindings::file) {
        // SAFETY: both files are valid and nobody else sees `proxy` yet.
        unsafe { ffi::mockgpu_mirror_fmode(proxy, self.as_ptr()) }
    }

    /// `unlocked_ioctl` of the real driver, its result unchanged.
    ///
    /// Inlined into the proxy's `unlocked_ioctl`, where it becomes a tail call.
    #[inline(always)]
    pub(crate) fn ioctl(&self, cmd: u32, arg: usize) -> isize {
        // SAFETY: the file is open and `unlocked_ioctl` its driver's handler
        // or `no_ioctl` (type invariants); the driver validates `cmd` and
        // treats `arg` as an untrusted user value, as for ioctl(2).
        unsafe { (self.unlocked_ioctl)(self.as_ptr(), cmd, arg as c_ulong) as isize }
    }

    /// `compat_ioctl` of the real driver, its result unchanged.
    pub(crate) fn compat_ioctl(&self, cmd: u32, arg: usize) -> isize {
        match self.fops().compat_ioctl {
            // SAFETY: as for `ioctl`.
            Some(f) => unsafe { f(self.as_ptr(), cmd, arg as c_ulong) as isize },
            // What the VFS expects from a driver without a compat handler.
            None => ENOIOCTLCMD.to_errno() as isize,
        }
    }
}

/// How an ioctl reached mockgpu, and so how it is forwarded.
#[derive(Clone, Copy)]
pub(crate) enum Via {
    /// `unlocked_ioctl`.
    Native,
    /// `compat_ioctl`, from a 32-bit task. The decoded arguments have the
    /// same layout for 32-bit callers (fixed-size fields, explicit padding),
    /// and `compat_ptr` is the identity on x86-64 and arm64.
    Compat,
}

impl RealFile {
    /// Forwards an ioctl the way it came in, its result unchanged.
    #[inline]
    pub(crate) fn forward(&self, via: Via, cmd: u32, arg: usize) -> isize {
        match via {
            Via::Native => self.ioctl(cmd, arg),
            Via::Compat => self.compat_ioctl(cmd, arg),
        }
    }
}

impl RealFile {
    /// The parent of the DRM device this file was opened on (the GPU's bus
    /// device), if it has one.
    ///
    /// # Safety
    ///
    /// The file was opened on a node of the DRM char major, so its
    /// `private_data` is its `struct drm_file`.
    pub(crate) unsafe fn drm_parent(&self) -> Option<DeviceRef> {
        // SAFETY: the file is open (type invariants) and a DRM file (the
        // safety requirements).
        let dev = unsafe { ffi::mockgpu_drm_parent(self.as_ptr()) };
        // INVARIANT: `mockgpu_drm_parent` returns a referenced device or NULL.
        NonNull::new(dev).map(DeviceRef)
    }
}

/// A reference on a `struct device`.
///
/// # Invariants
///
/// The pointer holds one reference (`get_device`), dropped in `Drop`.
pub(crate) struct DeviceRef(NonNull<bindings::device>);

// SAFETY: a device reference may be used and dropped from any thread.
unsafe impl Send for DeviceRef {}
// SAFETY: shared access only passes the pointer on to the driver core.
unsafe impl Sync for DeviceRef {}

impl DeviceRef {
    /// The device.
    pub(crate) fn as_ptr(&self) -> *mut bindings::device {
        self.0.as_ptr()
    }
}

impl Drop for DeviceRef {
    fn drop(&mut self) {
        // SAFETY: the reference is ours (type invariants), dropped once.
        unsafe { ffi::mockgpu_device_put(self.0.as_ptr()) };
    }
}

impl RealFile {
    /// Whether this is the only reference on the file: no mapping holds
    /// it (each vma of it holds one), so dropping it releases the context.
    pub(crate) fn only_ref(&self) -> bool {
        // SAFETY: the file is open (type invariants).
        unsafe { ffi::mockgpu_file_count(self.as_ptr()) <= 1 }
    }

    /// Another reference on the same file.
    pub(crate) fn share(&self) -> Result<RealFile> {
        // SAFETY: the file is open (type invariants); `get_file` takes a
        // reference, which `from_raw` takes over.
        let file = unsafe { bindings::get_file(self.as_ptr()) };
        let file = NonNull::new(file).ok_or(EINVAL)?;
        // SAFETY: `file` is open and the reference just taken is handed over.
        unsafe { RealFile::from_raw(file) }
    }
}

impl RealFile {
    /// Drops our reference now, synchronously: if it is the last one (no
    /// mapping holds the file), the driver releases the context before this
    /// returns, and with it every buffer nothing else keeps, so that their
    /// charges can end at once, as the memory does on the bare device.
    ///
    /// # Safety
    ///
    /// Called once, by the owner, in process context with no lock held, and
    /// nothing uses the file afterwards.
    pub(crate) unsafe fn close_now(&self) {
        use core::sync::atomic::Ordering;
        if !self.closed.swap(true, Ordering::AcqRel) {
            // SAFETY: our reference (type invariants), dropped once (the
            // flag); `__fput_sync` may run the driver's release here, which
            // the safety requirements allow.
            unsafe { bindings::__fput_sync(self.as_ptr()) };
        }
    }
}

impl Drop for RealFile {
    fn drop(&mut self) {
        if !*self.closed.get_mut() {
            // SAFETY: by the type invariants we own one reference, dropped once here.
            unsafe { bindings::fput(self.as_ptr()) };
        }
    }
}

/// The flags `fcntl(F_SETFL)` changes on the proxy file, carried over to the
/// real file before each forwarded call.
const SYNC_FLAGS: u32 = bindings::O_APPEND
    | bindings::O_NONBLOCK
    | bindings::O_NDELAY
    | bindings::O_DIRECT
    | bindings::O_NOATIME;
