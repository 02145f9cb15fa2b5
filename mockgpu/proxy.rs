// SPDX-License-Identifier: GPL-2.0

//! A proxy file: what one `open` of a proxy node creates. It owns one real
//! file, opened with the caller's flags and credentials, and forwards every
//! operation to it, returning the real driver's results unchanged. The few
//! ioctls its target's driver family decodes are charged by `account/`.

use kernel::{
    bindings,
    ffi::{c_char, c_int, c_ulong},
    prelude::*,
    sync::Arc,
};

use crate::{
    account::{self, Book, Family, Ioctl},
    ffi,
    real::{RealFile, Via},
    target::Target,
    tenant::Tenant,
};

/// The state of one open proxy file.
#[pin_data(PinnedDrop)]
pub(crate) struct ProxyFile {
    target: Arc<Target>,
    /// Charged for this file's whole life, whoever uses it later.
    tenant: Arc<Tenant>,
    real: RealFile,
    /// What this file is charged (memory and device time).
    #[pin]
    book: Book,
}

impl ProxyFile {
    /// Opens the real node for the proxy file `file` of `target`, charging
    /// an open file to the caller's tenant (`EMFILE` over its limit).
    ///
    /// # Safety
    ///
    /// `file` is being opened (inside its `open` file operation).
    pub(crate) unsafe fn open(
        target: Arc<Target>,
        file: *mut bindings::file,
    ) -> Result<Pin<KBox<Self>>> {
        // Removal revokes: whatever inode led here (see `target.rs`).
        if target.removed() {
            return Err(ENODEV);
        }
        let tenant = target.tenant_for_open()?;
        let undo = |tenant: &Arc<Tenant>| {
            tenant.uncharge_file();
            target.forget_if_removable(tenant);
        };
        // SAFETY: `file` is being opened (the safety requirements).
        let real = match unsafe { target.node().open_for(file) } {
            // A DRM node whose device was replaced (unbound, another bound
            // at the same minor) is not the device the target charges for:
            // its objects would outlive what the GEM table references.
            Ok(real) if target.gem().is_some_and(|gem| !gem.serves(&real)) => {
                drop(real);
                undo(&tenant);
                return Err(ENODEV);
            }
            Ok(real) => real,
            Err(e) => {
                undo(&tenant);
                return Err(e);
            }
        };
        // SAFETY: as above; nobody else sees `file` yet.
        unsafe { real.mirror_fmode_to(file) };
        // Once constructed, the file charge is returned by `drop`.
        let charged = tenant.clone();
        let owner = target.clone();
        // SAFETY: `real` moves into the proxy file with the book; `drop`
        // detaches the book before it closes `real`, and hands it to the
        // family after.
        let book = unsafe { Book::new(&real) };
        KBox::pin_init(
            pin_init!(ProxyFile {
                target,
                tenant,
                real,
                book <- book,
            }),
            GFP_KERNEL,
        )
        .inspect_err(|_| {
            charged.uncharge_file();
            owner.forget_if_removable(&charged);
        })
    }

    /// Whether the target's ioctl policy lets `cmd` through; a refusal is
    /// counted for this file's tenant.
    #[inline]
    fn allowed(&self, cmd: u32) -> bool {
        let ok = self.target.policy().allows(cmd);
        if !ok {
            self.tenant.count_refused_ioctl();
        }
        ok
    }
}

/// The forwarded file operations. Each takes the proxy `file` it was called on.
impl ProxyFile {
    /// Whether the ioctl `cmd` on `file` goes straight to the driver
    /// ([`ProxyFile::forward_ioctl`]): its number is one the family never
    /// decodes, no allowlist is in force and the flags are in sync. A few
    /// loads (`policy/screen.rs`); else [`ProxyFile::ioctl`] decides.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    #[inline(always)]
    pub(crate) unsafe fn plain_ioctl(&self, file: *mut bindings::file, cmd: u32) -> bool {
        // SAFETY: `file` is valid (the safety requirements).
        self.target.screen_passes(cmd) && unsafe { self.real.flags_synced(file) }
    }

    /// `unlocked_ioctl` of the real driver, its result unchanged: for a
    /// [plain](ProxyFile::plain_ioctl) ioctl.
    #[inline(always)]
    pub(crate) fn forward_ioctl(&self, cmd: u32, arg: usize) -> isize {
        self.real.ioctl(cmd, arg)
    }

    /// `unlocked_ioctl`, every check made.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    pub(crate) unsafe fn ioctl(&self, file: *mut bindings::file, cmd: u32, arg: usize) -> isize {
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.dispatch(file, Via::Native, cmd, arg) }
    }

    /// `compat_ioctl`: a 32-bit program is held to the same limits. DRM's
    /// compat entry hands the numbers the GEM table decodes to `drm_ioctl`
    /// unchanged (their layouts are the same for 32-bit callers).
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    pub(crate) unsafe fn compat_ioctl(
        &self,
        file: *mut bindings::file,
        cmd: u32,
        arg: usize,
    ) -> isize {
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.dispatch(file, Via::Compat, cmd, arg) }
    }

    /// Both ioctl entries, in full: the policy, then the target's
    /// accounting for the ioctls its driver family decodes, else the driver
    /// untouched.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    #[inline(always)]
    unsafe fn dispatch(&self, file: *mut bindings::file, via: Via, cmd: u32, arg: usize) -> isize {
        if !self.allowed(cmd) {
            return EPERM.to_errno() as isize;
        }
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.real.sync_flags_from(file) };
        let family = account::of(&self.target);
        if family.decodes(cmd) {
            // SAFETY: `file` is valid (the safety requirements).
            return unsafe { self.account(&family, file, via, cmd, arg) };
        }
        self.real.forward(via, cmd, arg)
    }

    /// An ioctl the target's family decodes, out of line.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    #[inline(never)]
    unsafe fn account(
        &self,
        family: &account::Accounting<'_>,
        file: *mut bindings::file,
        via: Via,
        cmd: u32,
        arg: usize,
    ) -> isize {
        // SAFETY: inside the ioctl, on the proxy's open `file` (the safety
        // requirements); `io` lives for this call only.
        let io = unsafe {
            Ioctl::new(
                &self.real,
                &self.target,
                &self.tenant,
                &self.book,
                file,
                via,
                cmd,
                arg,
            )
        };
        family.account(&io)
    }

    /// `mmap`: the vma is pointed at the real file before the real driver
    /// sets it up, so page faults never enter mockgpu.
    ///
    /// # Safety
    ///
    /// `vma` is a new vma being mapped for this proxy's file, under the mmap lock.
    pub(crate) unsafe fn mmap(&self, vma: *mut bindings::vm_area_struct) -> c_int {
        // SAFETY: `vma` is valid (the safety requirements); the real file is open.
        unsafe { ffi::mockgpu_mmap_real(self.real.as_ptr(), vma) }
    }

    /// `poll`: the wait queues registered are the real driver's.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file and `wait` the caller's poll table.
    pub(crate) unsafe fn poll(
        &self,
        file: *mut bindings::file,
        wait: *mut bindings::poll_table_struct,
    ) -> bindings::__poll_t {
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.real.sync_flags_from(file) };
        match self.real.fops().poll {
            // SAFETY: the real file is open; `wait` is valid for the call.
            Some(f) => unsafe { f(self.real.as_ptr(), wait) },
            None => bindings::POLLERR,
        }
    }

    /// `read`, with the proxy file's position.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file, `buf` a user pointer, `pos` valid.
    pub(crate) unsafe fn read(
        &self,
        file: *mut bindings::file,
        buf: *mut c_char,
        count: usize,
        pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.real.sync_flags_from(file) };
        match self.real.fops().read {
            // SAFETY: the real file is open; `buf` and `pos` are the VFS's.
            Some(f) => unsafe { f(self.real.as_ptr(), buf, count, pos) },
            None => EINVAL.to_errno() as isize,
        }
    }

    /// `write`, with the proxy file's position.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file, `buf` a user pointer, `pos` valid.
    pub(crate) unsafe fn write(
        &self,
        file: *mut bindings::file,
        buf: *const c_char,
        count: usize,
        pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.real.sync_flags_from(file) };
        match self.real.fops().write {
            // SAFETY: the real file is open; `buf` and `pos` are the VFS's.
            Some(f) => unsafe { f(self.real.as_ptr(), buf, count, pos) },
            None => EINVAL.to_errno() as isize,
        }
    }

    /// `read_iter`.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file; `iocb` and `to` are the VFS's for it.
    pub(crate) unsafe fn read_iter(
        &self,
        file: *mut bindings::file,
        iocb: *mut bindings::kiocb,
        to: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.real.sync_flags_from(file) };
        if self.real.fops().read_iter.is_none() {
            return EINVAL.to_errno() as isize;
        }
        // SAFETY: the real file is open and has `read_iter`; `iocb`/`to` are valid.
        unsafe { ffi::mockgpu_read_iter_real(self.real.as_ptr(), iocb, to) }
    }

    /// `write_iter`.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file; `iocb` and `from` are the VFS's for it.
    pub(crate) unsafe fn write_iter(
        &self,
        file: *mut bindings::file,
        iocb: *mut bindings::kiocb,
        from: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.real.sync_flags_from(file) };
        if self.real.fops().write_iter.is_none() {
            return EINVAL.to_errno() as isize;
        }
        // SAFETY: the real file is open and has `write_iter`; `iocb`/`from` are valid.
        unsafe { ffi::mockgpu_write_iter_real(self.real.as_ptr(), iocb, from) }
    }

    /// `llseek`: the real file seeks from the proxy file's position, and the
    /// proxy file takes the result.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file; the caller serializes its position.
    pub(crate) unsafe fn llseek(
        &self,
        file: *mut bindings::file,
        offset: bindings::loff_t,
        whence: c_int,
    ) -> bindings::loff_t {
        let Some(f) = self.real.fops().llseek else {
            return ESPIPE.to_errno().into();
        };
        let real = self.real.as_ptr();
        // SAFETY: both files are open. The real file's position is used by
        // no one but this proxy file. The VFS serializes positions only under
        // FMODE_ATOMIC_POS, which char devices lack: concurrent seeks race
        // here as they race in the real driver's own llseek on the real node.
        unsafe { (*real).f_pos = (*file).f_pos };
        // SAFETY: the real file is open.
        let ret = unsafe { f(real, offset, whence) };
        if ret >= 0 {
            // SAFETY: as above.
            unsafe { (*file).f_pos = (*real).f_pos };
        }
        ret
    }

    /// `flush`, called on every close of an fd of the proxy file.
    ///
    /// # Safety
    ///
    /// `id` is the VFS's owner id for this close.
    pub(crate) unsafe fn flush(&self, id: bindings::fl_owner_t) -> c_int {
        match self.real.fops().flush {
            // SAFETY: the real file is open.
            Some(f) => unsafe { f(self.real.as_ptr(), id) },
            None => 0,
        }
    }

    /// `fasync`: the real driver signals the proxy file's owner.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    pub(crate) unsafe fn fasync(&self, fd: c_int, file: *mut bindings::file, on: c_int) -> c_int {
        if self.real.fops().fasync.is_none() {
            return 0;
        }
        // SAFETY: both files are open and the real one implements `fasync`.
        unsafe { ffi::mockgpu_fasync_real(fd, file, self.real.as_ptr(), on) }
    }

    /// `get_unmapped_area`: the real driver picks the address (e.g. DRM's
    /// huge-page alignment).
    ///
    /// # Safety
    ///
    /// Called under the VFS contract of `get_unmapped_area`.
    pub(crate) unsafe fn get_unmapped_area(
        &self,
        addr: c_ulong,
        len: c_ulong,
        pgoff: c_ulong,
        flags: c_ulong,
    ) -> c_ulong {
        match self.real.fops().get_unmapped_area {
            // SAFETY: the real file is open.
            Some(f) => unsafe { f(self.real.as_ptr(), addr, len, pgoff, flags) },
            None => ENODEV.to_errno() as c_ulong,
        }
    }

    /// `show_fdinfo`: the real driver's fdinfo (e.g. DRM's client id).
    ///
    /// # Safety
    ///
    /// `m` is the seq_file being written for this proxy's file.
    pub(crate) unsafe fn show_fdinfo(&self, m: *mut bindings::seq_file) {
        if let Some(f) = self.real.fops().show_fdinfo {
            // SAFETY: the real file is open and `m` valid for the call.
            unsafe { f(m, self.real.as_ptr()) }
        }
    }
}

#[pinned_drop]
impl PinnedDrop for ProxyFile {
    fn drop(self: Pin<&mut Self>) {
        // The last reading of the file's device time (counted on while a
        // mapping keeps the context).
        let carried = self.book.detach(&self.tenant);
        // A mapping may keep the real file (checked before our reference
        // goes: then `close_now` does not release the context).
        let kept = self.target.keep_mapped(&self.real, &self.tenant, carried);
        // The driver releases the context now (unless a mapping holds the
        // real file): every buffer nothing else keeps dies here, however
        // the proxy was closed (close, exit, SIGKILL).
        // SAFETY: the proxy file is being released: nothing uses `real` any
        // more; `drop` runs in `__fput`'s process context, without locks.
        unsafe { self.real.close_now() };
        account::of(&self.target).closed(&self.target, &self.tenant, &self.book);
        // A context a mapping keeps stays an open file of the tenant's
        // until the mapping goes (`mapped.rs`).
        if !kept {
            self.tenant.uncharge_file();
        }
        self.target.forget_if_removable(&self.tenant);
    }
}
