// SPDX-License-Identifier: GPL-2.0

//! The C operation tables of realgpu files, and the only place that handles their raw
//! `private_data`.
//!
//! The Rust `MiscDevice` abstraction has no `poll`, so the misc device uses the hand-built
//! [`REALGPU_FOPS`] (as `rust_binder_fops` does). Its files hold an `Arc<Context>` in
//! `private_data`. Export files use [`REALGPU_EXPORT_FOPS`] and hold an `Arc<Buffer>`.
//!
//! The tables are also how foreign fds are recognised: `ATTACH_PEER` and `IMPORT` compare
//! `file->f_op` with them.

use core::ptr::{self, NonNull};
use kernel::{
    bindings,
    error::from_err_ptr,
    fs::{File, LocalFile},
    mm::virt::VmaNew,
    module::this_module,
    prelude::*,
    seq_file::SeqFile,
    sync::{aref::ARef, poll::PollTable, Arc, ArcBorrow},
    types::ForeignOwnable,
    uaccess::UserSlice,
};

use crate::{buffer::Buffer, context::Context, helpers, ioctl, misc::RealGpuMisc, mmap};

/// A C struct in a `static`, asserted to be safe to share.
#[repr(transparent)]
pub(crate) struct AssertSync<T>(pub(crate) T);

// SAFETY: Only used for C operation tables, which are never written after initialisation.
unsafe impl<T> Sync for AssertSync<T> {}

/// The file operations of `/dev/realgpu`.
static REALGPU_FOPS: AssertSync<bindings::file_operations> =
    AssertSync(bindings::file_operations {
        owner: this_module::<crate::LocalModule>().as_ptr(),
        open: Some(realgpu_open),
        release: Some(realgpu_release),
        read: Some(realgpu_read),
        poll: Some(realgpu_poll),
        unlocked_ioctl: Some(realgpu_ioctl),
        compat_ioctl: bindings::compat_ptr_ioctl,
        mmap: Some(realgpu_mmap),
        show_fdinfo: Some(realgpu_show_fdinfo),
        ..pin_init::zeroed()
    });

/// The file operations of buffer export files.
static REALGPU_EXPORT_FOPS: AssertSync<bindings::file_operations> =
    AssertSync(bindings::file_operations {
        owner: this_module::<crate::LocalModule>().as_ptr(),
        release: Some(export_release),
        ..pin_init::zeroed()
    });

/// The file operations to register the misc device with.
pub(crate) fn device_fops() -> *const bindings::file_operations {
    &REALGPU_FOPS.0
}

/// For mockgpu, as a DRM driver's `drm_gem_object_lookup` is for a proxy:
/// the newest handle of the context of `file`, its buffer's id and size.
/// Right after an `ALLOC` or `IMPORT` returns, with the file's other
/// handle-changing ioctls held off, that is the handle it made: the answer
/// comes from the driver, not from the caller's memory. `-EINVAL` if `file`
/// is not a realgpu device file, `-ENOENT` if that handle is closed.
///
/// # Safety
///
/// `file` is an open file and the out-pointers are valid for writes.
#[no_mangle]
pub(crate) unsafe extern "C" fn realgpu_rs_newest_handle(
    file: *mut bindings::file,
    handle: *mut u32,
    id: *mut u64,
    size: *mut u64,
) -> c_int {
    // SAFETY: `file` is open (the safety requirements).
    if unsafe { (*file).f_op } != device_fops() {
        return EINVAL.to_errno();
    }
    // SAFETY: a realgpu device file, open for this call.
    let ctx = unsafe { context(file) };
    let Some((h, buf)) = ctx.newest() else {
        return ENOENT.to_errno();
    };
    // SAFETY: valid for writes (the safety requirements).
    unsafe {
        *handle = h;
        *id = buf.id();
        *size = buf.size() as u64;
    }
    0
}

/// For mockgpu: closes `handle` of the context of `file` in the kernel, as
/// `FREE` would (the buffer dies unless a mapping, an export or a job keeps
/// it), to undo an allocation over a limit without a request in user
/// memory. `-EINVAL` if `file` is not a realgpu device file or has no such
/// handle.
///
/// # Safety
///
/// `file` is an open file.
#[no_mangle]
pub(crate) unsafe extern "C" fn realgpu_rs_delete_handle(
    file: *mut bindings::file,
    handle: u32,
) -> c_int {
    // SAFETY: `file` is open (the safety requirements).
    if unsafe { (*file).f_op } != device_fops() {
        return EINVAL.to_errno();
    }
    // SAFETY: a realgpu device file, open for this call.
    let ctx = unsafe { context(file) };
    match ctx.remove_handle(handle) {
        Ok(buf) => {
            drop(buf);
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Borrows the context of a realgpu file.
///
/// # Safety
///
/// `file` must be a file using [`REALGPU_FOPS`] that was opened successfully and is not
/// released during `'a`.
unsafe fn context<'a>(file: *mut bindings::file) -> ArcBorrow<'a, Context> {
    // SAFETY: By the safety requirements `realgpu_open` stored an `Arc<Context>` in
    // `private_data`, which `realgpu_release` only takes back after `'a`.
    unsafe { Arc::<Context>::borrow((*file).private_data) }
}

/// `open`: creates the context of the file.
///
/// # Safety
///
/// Called by `misc_open` for our misc device, with `file->private_data` pointing at its
/// `struct miscdevice`.
unsafe extern "C" fn realgpu_open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `misc_open` set `private_data` to our registered `struct miscdevice`, which cannot
    // be deregistered during this call.
    let dev = unsafe { RealGpuMisc::device((*file).private_data.cast()) };

    // Events are a stream: no file position, `pread(2)` and `lseek(2)` fail with `ESPIPE`.
    // SAFETY: `inode` and `file` are the file being opened.
    let ret = unsafe { bindings::stream_open(inode, file) };
    if ret != 0 {
        return ret;
    }

    match Context::new(dev) {
        Ok(ctx) => {
            // SAFETY: The file is being opened, so we may set its `private_data`. Ownership of
            // the reference moves to the file until `realgpu_release`.
            unsafe { (*file).private_data = ctx.into_foreign() };
            0
        }
        Err(err) => err.to_errno(),
    }
}

/// `release`: drops the context's handles and its file reference.
///
/// # Safety
///
/// `file` must be a file of [`REALGPU_FOPS`] being released.
unsafe extern "C" fn realgpu_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `realgpu_open` stored this reference; release is the last call on the file.
    let ctx = unsafe { Arc::<Context>::from_foreign((*file).private_data) };
    ctx.release();
    0
}

/// `unlocked_ioctl`.
///
/// # Safety
///
/// `file` must be an open file of [`REALGPU_FOPS`].
unsafe extern "C" fn realgpu_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: The file is open for the duration of the call.
    let ctx = unsafe { context(file) };
    match ioctl::dispatch(ctx, cmd, arg as usize) {
        Ok(ret) => ret as c_long,
        Err(err) => err.to_errno() as c_long,
    }
}

/// `read`: returns whole completion events.
///
/// # Safety
///
/// `file` must be an open file of [`REALGPU_FOPS`].
unsafe extern "C" fn realgpu_read(
    file: *mut bindings::file,
    buf: *mut c_char,
    count: usize,
    _ppos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: The file is open for the duration of the call.
    let ctx = unsafe { context(file) };
    // SAFETY: The file is valid for the duration of the call. As in `kernel::miscdevice`, any
    // `fdget_pos` on it is irrelevant: we never touch the file position.
    let file = unsafe { File::from_raw_file(file) };
    let writer = UserSlice::new(UserPtr::from_ptr(buf.cast()), count).writer();
    match ctx.read(file, writer) {
        Ok(len) => len as isize,
        Err(err) => err.to_errno() as isize,
    }
}

/// `poll`: readable while a completion event is queued.
///
/// # Safety
///
/// `file` must be an open file of [`REALGPU_FOPS`] and `wait` null or a valid poll table.
unsafe extern "C" fn realgpu_poll(
    file: *mut bindings::file,
    wait: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: The file is open for the duration of the call.
    let ctx = unsafe { context(file) };
    // SAFETY: The file is valid for the duration of the call; we never touch its position.
    let file = unsafe { File::from_raw_file(file) };
    // SAFETY: The caller provides a poll table that is null or valid for this call.
    let table = unsafe { PollTable::from_raw(wait) };
    ctx.poll(file, table)
}

/// `mmap`: maps (part of) a buffer; see [`mmap::mmap`].
///
/// # Safety
///
/// `file` must be an open file of [`REALGPU_FOPS`] and `vma` a vma being set up for it.
unsafe extern "C" fn realgpu_mmap(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: The file is open for the duration of the call.
    let ctx = unsafe { context(file) };
    // SAFETY: The caller provides a vma undergoing its initial setup.
    let vma = unsafe { VmaNew::from_raw(vma) };
    match mmap::mmap(&ctx, vma) {
        Ok(()) => 0,
        Err(err) => err.to_errno(),
    }
}

/// `show_fdinfo`: the context's DRM usage statistics; see [`Context::show_fdinfo`].
///
/// # Safety
///
/// `file` must be an open file of [`REALGPU_FOPS`] and `m` the seq file of its fdinfo being
/// shown.
unsafe extern "C" fn realgpu_show_fdinfo(m: *mut bindings::seq_file, file: *mut bindings::file) {
    // SAFETY: The fdinfo reader holds a reference to the file for the duration of the call.
    let ctx = unsafe { context(file) };
    // SAFETY: The caller passes a valid seq file that only this thread uses during the call.
    let m = unsafe { SeqFile::from_raw(m) };
    ctx.show_fdinfo(m);
}

/// `release` of export files: drops the buffer reference.
///
/// # Safety
///
/// `file` must be a file of [`REALGPU_EXPORT_FOPS`] being released.
unsafe extern "C" fn export_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `export_file` stored this reference; release is the last call on the file.
    drop(unsafe { Arc::<Buffer>::from_foreign((*file).private_data) });
    0
}

/// Creates an export file (not yet in any fd table) holding a reference to `buf`.
pub(crate) fn export_file(buf: Arc<Buffer>) -> Result<ARef<File>> {
    let priv_ = buf.into_foreign();
    // SAFETY: The table is static and its `release` takes over the reference in `priv_`.
    let raw = unsafe { helpers::realgpu_anon_getfile(&REALGPU_EXPORT_FOPS.0, priv_) };
    match from_err_ptr(raw).map(NonNull::new) {
        Ok(Some(file)) => {
            // SAFETY: `anon_inode_getfile` returned a new file whose only reference we own.
            // `File` is a transparent wrapper of `struct file`, and no `fdget_pos` can exist
            // on a file that is in no fd table.
            Ok(unsafe { ARef::from_raw(file.cast::<File>()) })
        }
        err => {
            // SAFETY: No file was created, so the reference in `priv_` is still ours.
            drop(unsafe { Arc::<Buffer>::from_foreign(priv_) });
            Err(err.err().unwrap_or(ENOMEM))
        }
    }
}

/// Looks up `fd` and checks that its file uses `fops`.
///
/// `EBADF` if `fd` is not open, `EINVAL` if it is some other file.
fn fget_ours(
    fd: i32,
    fops: &'static AssertSync<bindings::file_operations>,
) -> Result<ARef<LocalFile>> {
    let file = LocalFile::fget(u32::try_from(fd).map_err(|_| EBADF)?)?;
    // SAFETY: `file` holds a reference, so the file is valid; `f_op` does not change once the
    // file is in an fd table.
    let f_op = unsafe { (*file.as_ptr()).f_op };
    if ptr::eq(f_op, &fops.0) {
        Ok(file)
    } else {
        Err(EINVAL)
    }
}

/// The buffer of an export fd (`EBADF` if not open, `EINVAL` if not an export file).
pub(crate) fn buffer_from_fd(fd: i32) -> Result<Arc<Buffer>> {
    let file = fget_ours(fd, &REALGPU_EXPORT_FOPS)?;
    // SAFETY: The file uses our export table, so `private_data` holds an `Arc<Buffer>` until
    // `export_release`, which cannot run while we hold `file`.
    let buf = unsafe { Arc::<Buffer>::borrow((*file.as_ptr()).private_data) };
    Ok(buf.into())
}

/// The context of a realgpu fd (`EBADF` if not open, `EINVAL` if not a realgpu file).
pub(crate) fn context_from_fd(fd: i32) -> Result<Arc<Context>> {
    let file = fget_ours(fd, &REALGPU_FOPS)?;
    // SAFETY: The file uses our table and is in an fd table, so it was opened successfully;
    // it cannot be released while we hold `file`.
    let ctx = unsafe { context(file.as_ptr()) };
    Ok(ctx.into())
}
