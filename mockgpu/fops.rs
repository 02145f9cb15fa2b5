// SPDX-License-Identifier: GPL-2.0

//! The proxy's `file_operations`: the only `unsafe extern "C"` entry points of
//! mockgpu's data path.
//!
//! A proxy must offer exactly the operations the real driver implements, with
//! its `fop_flags` (the VFS reads `FOP_UNSIGNED_OFFSET` and friends from the
//! proxy's table before any of our code runs, and treats a missing operation
//! differently from one that fails). So each target gets a table built from
//! the real driver's: [`OpSet`] records which operations exist, and
//! [`table_for`] returns a shared, immutable table for that set and those
//! flags. Tables live until the module is unloaded: every file using one
//! holds a reference on this module (`owner`), so none outlives its table.
//!
//! Each adapter is a few lines: recover the [`ProxyFile`] from
//! `private_data`, call its safe method, return the real driver's result.
//!
//! This layer is the top of the module's graph: it knows proxy files and
//! targets; they know it only through the opaque [`ProxyOps`] a target is
//! given ([`ops_for`]), which also tells a proxy file from any other.

use kernel::{
    bindings,
    ffi::{c_char, c_int, c_uint, c_ulong},
    prelude::*,
    sync::Arc,
};

use crate::{
    proxy::ProxyFile,
    target::{ProxyOps, Target},
};

/// The set of forwarded operations a real driver implements.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct OpSet(u32);

impl OpSet {
    const LLSEEK: u32 = 1 << 0;
    const READ: u32 = 1 << 1;
    const WRITE: u32 = 1 << 2;
    const READ_ITER: u32 = 1 << 3;
    const WRITE_ITER: u32 = 1 << 4;
    const POLL: u32 = 1 << 5;
    const IOCTL: u32 = 1 << 6;
    const COMPAT_IOCTL: u32 = 1 << 7;
    const MMAP: u32 = 1 << 8;
    const FLUSH: u32 = 1 << 9;
    const FASYNC: u32 = 1 << 10;
    const GET_UNMAPPED_AREA: u32 = 1 << 11;
    const SHOW_FDINFO: u32 = 1 << 12;

    /// The forwarded operations that `fops` implements.
    pub(crate) fn of(fops: &bindings::file_operations) -> Self {
        let bits = [
            (fops.llseek.is_some(), Self::LLSEEK),
            (fops.read.is_some(), Self::READ),
            (fops.write.is_some(), Self::WRITE),
            (fops.read_iter.is_some(), Self::READ_ITER),
            (fops.write_iter.is_some(), Self::WRITE_ITER),
            (fops.poll.is_some(), Self::POLL),
            (fops.unlocked_ioctl.is_some(), Self::IOCTL),
            (fops.compat_ioctl.is_some(), Self::COMPAT_IOCTL),
            (
                fops.mmap.is_some() || fops.mmap_prepare.is_some(),
                Self::MMAP,
            ),
            (fops.flush.is_some(), Self::FLUSH),
            (fops.fasync.is_some(), Self::FASYNC),
            (fops.get_unmapped_area.is_some(), Self::GET_UNMAPPED_AREA),
            (fops.show_fdinfo.is_some(), Self::SHOW_FDINFO),
        ];
        OpSet(
            bits.iter()
                .filter(|(has, _)| *has)
                .fold(0, |acc, (_, bit)| acc | bit),
        )
    }

    fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    /// Operations of `fops` that mockgpu does not forward (for the setup log).
    fn unforwarded(fops: &bindings::file_operations) -> bool {
        fops.iopoll.is_some()
            || fops.uring_cmd.is_some()
            || fops.splice_read.is_some()
            || fops.splice_write.is_some()
            || fops.fsync.is_some()
            || fops.lock.is_some()
            || fops.flock.is_some()
            || fops.fallocate.is_some()
            || fops.copy_file_range.is_some()
    }
}

/// An immutable `file_operations` table shared by the targets with the same
/// operations and flags.
struct Table {
    ops: OpSet,
    fop_flags: bindings::fop_flags_t,
    fops: bindings::file_operations,
}

// SAFETY: `fops` holds function pointers and a pointer to this module, never
// written after construction; the kernel reads it from any thread.
unsafe impl Send for Table {}

kernel::sync::global_lock! {
    // SAFETY: `init_tables` initializes it in module init, before any use.
    unsafe(uninit) static TABLES: Mutex<KVec<KBox<Table>>> = KVec::new();
}

/// Initializes the table cache.
///
/// # Safety
///
/// Called once, from module init, before any other function of this module.
pub(crate) unsafe fn init_tables() {
    // SAFETY: by the safety requirements, called exactly once, first.
    unsafe { TABLES.init() };
}

/// Frees every table.
///
/// # Safety
///
/// Called from module exit: no file uses a table any more (each would hold a
/// reference on this module) and no target is registered.
pub(crate) unsafe fn free_tables() {
    // Replace the vector, so that its buffer is freed too.
    drop(core::mem::take(&mut *TABLES.lock()));
}

/// What a target of a real driver with the file operations `real` gets
/// from this layer: its proxy table and the test for proxy files.
pub(crate) fn ops_for(real: &bindings::file_operations) -> Result<ProxyOps> {
    Ok(ProxyOps {
        table: table_for(real)?,
        is_proxy,
        unforwarded: OpSet::unforwarded(real),
    })
}

/// A proxy table for a real driver with these operations and flags, valid
/// until the module is unloaded (see the module documentation).
fn table_for(real: &bindings::file_operations) -> Result<*const bindings::file_operations> {
    let ops = OpSet::of(real);
    let fop_flags = real.fop_flags;
    let mut tables = TABLES.lock();
    if let Some(t) = tables
        .iter()
        .find(|t| t.ops == ops && t.fop_flags == fop_flags)
    {
        return Ok(&t.fops);
    }
    let table = KBox::new(
        Table {
            ops,
            fop_flags,
            fops: build(ops, fop_flags),
        },
        GFP_KERNEL,
    )?;
    let ptr: *const bindings::file_operations = &table.fops;
    // The box's contents do not move when the box does.
    tables.push(table, GFP_KERNEL)?;
    Ok(ptr)
}

fn build(ops: OpSet, fop_flags: bindings::fop_flags_t) -> bindings::file_operations {
    bindings::file_operations {
        owner: kernel::module::this_module::<crate::LocalModule>().as_ptr(),
        fop_flags,
        open: Some(proxy_open),
        release: Some(proxy_release),
        llseek: ops.has(OpSet::LLSEEK).then_some(proxy_llseek as _),
        read: ops.has(OpSet::READ).then_some(proxy_read as _),
        write: ops.has(OpSet::WRITE).then_some(proxy_write as _),
        read_iter: ops.has(OpSet::READ_ITER).then_some(proxy_read_iter as _),
        write_iter: ops.has(OpSet::WRITE_ITER).then_some(proxy_write_iter as _),
        poll: ops.has(OpSet::POLL).then_some(proxy_poll as _),
        unlocked_ioctl: ops.has(OpSet::IOCTL).then_some(proxy_ioctl as _),
        compat_ioctl: ops
            .has(OpSet::COMPAT_IOCTL)
            .then_some(proxy_compat_ioctl as _),
        mmap: ops.has(OpSet::MMAP).then_some(proxy_mmap as _),
        flush: ops.has(OpSet::FLUSH).then_some(proxy_flush as _),
        fasync: ops.has(OpSet::FASYNC).then_some(proxy_fasync as _),
        get_unmapped_area: ops
            .has(OpSet::GET_UNMAPPED_AREA)
            .then_some(proxy_get_unmapped_area as _),
        show_fdinfo: ops
            .has(OpSet::SHOW_FDINFO)
            .then_some(proxy_show_fdinfo as _),
        // SAFETY: every other member is an optional function pointer or a
        // flag, for which all-zeroes means "not implemented".
        ..unsafe { core::mem::zeroed() }
    }
}

/// Whether `file` is a proxy file of mockgpu whose open succeeded.
///
/// # Safety
///
/// `file` is a valid, open file.
unsafe fn is_proxy(file: *const bindings::file) -> bool {
    // SAFETY: an open file's `f_op` is valid (the safety requirements).
    let open = unsafe { (*(*file).f_op).open };
    // Only our tables use `proxy_open`; an installed file's open succeeded.
    open.is_some_and(|f| core::ptr::fn_addr_eq(f, proxy_open as OpenFn))
}

type OpenFn = unsafe extern "C" fn(*mut bindings::inode, *mut bindings::file) -> c_int;

/// # Safety
///
/// Called by `chrdev_open` for an inode of a proxy node, which it holds.
unsafe extern "C" fn proxy_open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `chrdev_open` holds the node of `inode` during the call.
    let target: Arc<Target> = unsafe { Target::from_inode(inode) }.into();
    // SAFETY: `file` is being opened.
    match unsafe { ProxyFile::open(target, file) } {
        Ok(proxy) => {
            // SAFETY: the box is never moved out of: it is only used through
            // this pointer and dropped in place by `proxy_release`.
            let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(proxy) });
            // SAFETY: nobody else sees `file` until open returns.
            unsafe { (*file).private_data = raw.cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS once, on the last reference of a file that
/// `proxy_open` opened.
unsafe extern "C" fn proxy_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `proxy_open` stored a pinned `KBox<ProxyFile>` here; this is
    // its only release, and it is dropped in place.
    drop(unsafe { Pin::new_unchecked(KBox::from_raw((*file).private_data.cast::<ProxyFile>())) });
    0
}

/// The proxy state of an open proxy file.
///
/// # Safety
///
/// `file` is a file that `proxy_open` opened and that is not released
/// during the returned borrow (the VFS holds a reference for every call).
#[inline]
unsafe fn proxy<'a>(file: *mut bindings::file) -> &'a ProxyFile {
    // SAFETY: `proxy_open` stored a `KBox<ProxyFile>`, released only in
    // `proxy_release`, which cannot run during the borrow.
    unsafe { &*(*file).private_data.cast::<ProxyFile>() }
}

/// # Safety
///
/// VFS contract of `unlocked_ioctl` on a proxy file.
unsafe extern "C" fn proxy_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> isize {
    // SAFETY: the VFS calls file operations on open files only.
    let p = unsafe { proxy(file) };
    // The hot path: straight to the driver, as a tail call.
    // SAFETY: as above.
    if unsafe { p.plain_ioctl(file, cmd) } {
        return p.forward_ioctl(cmd, arg as usize);
    }
    // SAFETY: as above.
    unsafe { proxy_ioctl_checked(file, cmd, arg) }
}

/// `unlocked_ioctl` with every check: out of line, with the arguments in
/// the registers they came in, so that the hot path stays a few loads.
///
/// # Safety
///
/// As for [`proxy_ioctl`].
#[inline(never)]
unsafe fn proxy_ioctl_checked(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> isize {
    // SAFETY: `file` is an open proxy file inside its `unlocked_ioctl` (the
    // safety requirements).
    unsafe { proxy(file).ioctl(file, cmd, arg as usize) }
}

/// # Safety
///
/// VFS contract of `compat_ioctl` on a proxy file.
unsafe extern "C" fn proxy_compat_ioctl(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> isize {
    // SAFETY: the VFS calls file operations on open files only.
    unsafe { proxy(file).compat_ioctl(file, cmd, arg as usize) }
}

/// # Safety
///
/// VFS contract of `mmap`: `vma` is being set up for `file` under the mmap lock.
unsafe extern "C" fn proxy_mmap(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: the VFS calls file operations on open files only; `vma` is new.
    unsafe { proxy(file).mmap(vma) }
}

/// # Safety
///
/// VFS contract of `poll`.
unsafe extern "C" fn proxy_poll(
    file: *mut bindings::file,
    wait: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: the VFS calls file operations on open files only; `wait` is the VFS's.
    unsafe { proxy(file).poll(file, wait) }
}

/// # Safety
///
/// VFS contract of `read`: `buf` is a user pointer, `pos` a valid position.
unsafe extern "C" fn proxy_read(
    file: *mut bindings::file,
    buf: *mut c_char,
    count: usize,
    pos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: the VFS calls file operations on open files only.
    unsafe { proxy(file).read(file, buf, count, pos) }
}

/// # Safety
///
/// VFS contract of `write`: `buf` is a user pointer, `pos` a valid position.
unsafe extern "C" fn proxy_write(
    file: *mut bindings::file,
    buf: *const c_char,
    count: usize,
    pos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: the VFS calls file operations on open files only.
    unsafe { proxy(file).write(file, buf, count, pos) }
}

/// # Safety
///
/// VFS contract of `read_iter`: `iocb->ki_filp` is the proxy file.
unsafe extern "C" fn proxy_read_iter(
    iocb: *mut bindings::kiocb,
    to: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: `iocb` is valid and its file open (the VFS contract).
    let file = unsafe { (*iocb).ki_filp };
    // SAFETY: as above.
    unsafe { proxy(file).read_iter(file, iocb, to) }
}

/// # Safety
///
/// VFS contract of `write_iter`: `iocb->ki_filp` is the proxy file.
unsafe extern "C" fn proxy_write_iter(
    iocb: *mut bindings::kiocb,
    from: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: `iocb` is valid and its file open (the VFS contract).
    let file = unsafe { (*iocb).ki_filp };
    // SAFETY: as above.
    unsafe { proxy(file).write_iter(file, iocb, from) }
}

/// # Safety
///
/// VFS contract of `llseek`; the caller serializes the file position.
unsafe extern "C" fn proxy_llseek(
    file: *mut bindings::file,
    offset: bindings::loff_t,
    whence: c_int,
) -> bindings::loff_t {
    // SAFETY: the VFS calls file operations on open files only.
    unsafe { proxy(file).llseek(file, offset, whence) }
}

/// # Safety
///
/// VFS contract of `flush` (called on every close of an fd of the file).
unsafe extern "C" fn proxy_flush(file: *mut bindings::file, id: bindings::fl_owner_t) -> c_int {
    // SAFETY: the VFS calls file operations on open files only.
    unsafe { proxy(file).flush(id) }
}

/// # Safety
///
/// VFS contract of `fasync`.
unsafe extern "C" fn proxy_fasync(fd: c_int, file: *mut bindings::file, on: c_int) -> c_int {
    // SAFETY: the VFS calls file operations on open files only.
    unsafe { proxy(file).fasync(fd, file, on) }
}

/// # Safety
///
/// VFS contract of `get_unmapped_area`.
unsafe extern "C" fn proxy_get_unmapped_area(
    file: *mut bindings::file,
    addr: c_ulong,
    len: c_ulong,
    pgoff: c_ulong,
    flags: c_ulong,
) -> c_ulong {
    // SAFETY: the VFS calls file operations on open files only.
    unsafe { proxy(file).get_unmapped_area(addr, len, pgoff, flags) }
}

/// # Safety
///
/// VFS contract of `show_fdinfo`: `m` is the seq_file being written.
unsafe extern "C" fn proxy_show_fdinfo(m: *mut bindings::seq_file, file: *mut bindings::file) {
    // SAFETY: the VFS calls file operations on open files only.
    unsafe { proxy(file).show_fdinfo(m) }
}
