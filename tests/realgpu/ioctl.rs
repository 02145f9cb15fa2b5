// SPDX-License-Identifier: GPL-2.0

//! The ioctls of `/dev/realgpu`.

use kernel::{
    fs::file::{flags::O_CLOEXEC, FileDescriptorReservation},
    prelude::*,
    sync::{Arc, ArcBorrow},
    transmute::{AsBytes, FromBytes},
    uaccess::{UserSlice, UserSliceReader, UserSliceWriter},
};

use crate::{
    buffer::Buffer,
    context::Context,
    fops,
    job::JobOp,
    mmap,
    uapi::{self, Alloc, AttachPeer, Export, Free, Import, Info, Submit, Wait},
};

/// Runs the ioctl `cmd` on the context `ctx`.
pub(crate) fn dispatch(ctx: ArcBorrow<'_, Context>, cmd: u32, arg: usize) -> Result<isize> {
    let arg = UserPtr::from_addr(arg);
    match cmd {
        uapi::IOCTL_GET_INFO => get_info(&ctx, arg),
        uapi::IOCTL_ALLOC => alloc(&ctx, arg),
        uapi::IOCTL_FREE => free(&ctx, arg),
        uapi::IOCTL_SUBMIT => submit(ctx, arg),
        uapi::IOCTL_WAIT => wait(&ctx, arg),
        uapi::IOCTL_EXPORT => export(&ctx, arg),
        uapi::IOCTL_IMPORT => import(&ctx, arg),
        uapi::IOCTL_ATTACH_PEER => attach_peer(arg),
        _ => Err(ENOTTY),
    }?;
    Ok(0)
}

/// Reads the argument struct of an `_IOW`/`_IOWR` ioctl; the writer writes it back.
fn read_arg<T: FromBytes>(arg: UserPtr) -> Result<(T, UserSliceWriter)> {
    let (mut reader, writer): (UserSliceReader, UserSliceWriter) =
        UserSlice::new(arg, size_of::<T>()).reader_writer();
    Ok((reader.read::<T>()?, writer))
}

/// Writes the argument struct of an `_IOR` ioctl.
fn write_arg<T: AsBytes>(arg: UserPtr, value: &T) -> Result {
    UserSlice::new(arg, size_of::<T>()).writer().write(value)
}

fn get_info(ctx: &Context, arg: UserPtr) -> Result {
    let pool = &ctx.dev().pool;
    write_arg(
        arg,
        &Info {
            abi_version: uapi::ABI_VERSION,
            pad: 0,
            vram_total: pool.total(),
            vram_used: pool.used(),
            ctx_id: ctx.id(),
        },
    )
}

fn alloc(ctx: &Context, arg: UserPtr) -> Result {
    let (mut req, mut writer) = read_arg::<Alloc>(arg)?;
    if req.pad != 0 {
        return Err(EINVAL);
    }
    let buf = Buffer::new(ctx.dev(), ctx.mem(), req.size)?;
    req.size = buf.size() as u64;
    req.buf_id = buf.id();
    let handle = ctx.add_handle(buf)?;
    req.handle = handle;
    req.mmap_offset = mmap::offset_of_handle(handle);
    if let Err(err) = writer.write(&req) {
        // Userspace cannot learn the handle: undo.
        drop(ctx.remove_handle(handle));
        return Err(err);
    }
    Ok(())
}

fn free(ctx: &Context, arg: UserPtr) -> Result {
    let (req, _) = read_arg::<Free>(arg)?;
    if req.pad != 0 {
        return Err(EINVAL);
    }
    // The buffer dies here unless exported, mapped or used by a queued job.
    drop(ctx.remove_handle(req.handle)?);
    Ok(())
}

/// Checks that an unused handle field is 0.
fn unused(handle: u32) -> Result {
    if handle == 0 {
        Ok(())
    } else {
        Err(EINVAL)
    }
}

fn submit(ctx: ArcBorrow<'_, Context>, arg: UserPtr) -> Result {
    let (mut req, mut writer) = read_arg::<Submit>(arg)?;
    if req.flags != 0 || req.cost_us > uapi::MAX_COST_US {
        return Err(EINVAL);
    }
    let op = match req.op {
        uapi::OP_NOP => {
            unused(req.src)?;
            unused(req.dst)?;
            JobOp::Nop
        }
        uapi::OP_FILL => {
            unused(req.src)?;
            let value = u8::try_from(req.value).map_err(|_| EINVAL)?;
            let dst = ctx.lookup(req.dst)?;
            // Allocate the pages now, where failure can be reported.
            dst.populate()?;
            JobOp::Fill { dst, value }
        }
        uapi::OP_COPY => {
            let src = ctx.lookup(req.src)?;
            let dst = ctx.lookup(req.dst)?;
            if src.size() != dst.size() {
                return Err(EINVAL);
            }
            dst.populate()?;
            JobOp::Copy { src, dst }
        }
        uapi::OP_CHECKSUM => {
            unused(req.dst)?;
            JobOp::Checksum {
                src: ctx.lookup(req.src)?,
            }
        }
        _ => return Err(EINVAL),
    };
    req.fence = Context::submit(ctx, op, req.cost_us)?;
    // If this fails the job still runs; its completion event is still delivered.
    writer.write(&req)
}

fn wait(ctx: &Context, arg: UserPtr) -> Result {
    let (mut req, mut writer) = read_arg::<Wait>(arg)?;
    req.result = ctx.wait(req.fence, req.timeout_ns)?;
    writer.write(&req)
}

fn export(ctx: &Context, arg: UserPtr) -> Result {
    let (mut req, mut writer) = read_arg::<Export>(arg)?;
    let buf = ctx.lookup(req.handle)?;
    let reservation = FileDescriptorReservation::get_unused_fd_flags(O_CLOEXEC)?;
    let file = fops::export_file(buf)?;
    // The reserved fd is below `RLIMIT_NOFILE`, far below `i32::MAX`.
    req.fd = i32::try_from(reservation.reserved_fd()).map_err(|_| EMFILE)?;
    // Only install the fd once userspace is sure to learn it; otherwise dropping `file` and
    // `reservation` undoes everything.
    writer.write(&req)?;
    reservation.fd_install(file);
    Ok(())
}

fn import(ctx: &Context, arg: UserPtr) -> Result {
    let (mut req, mut writer) = read_arg::<Import>(arg)?;
    let buf: Arc<Buffer> = fops::buffer_from_fd(req.fd)?;
    req.size = buf.size() as u64;
    req.buf_id = buf.id();
    let handle = ctx.add_handle(buf)?;
    req.handle = handle;
    req.mmap_offset = mmap::offset_of_handle(handle);
    if let Err(err) = writer.write(&req) {
        drop(ctx.remove_handle(handle));
        return Err(err);
    }
    Ok(())
}

fn attach_peer(arg: UserPtr) -> Result {
    let (mut req, mut writer) = read_arg::<AttachPeer>(arg)?;
    if req.pad != 0 {
        return Err(EINVAL);
    }
    req.peer_ctx_id = fops::context_from_fd(req.fd)?.id();
    writer.write(&req)
}
