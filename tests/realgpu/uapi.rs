// SPDX-License-Identifier: GPL-2.0

//! Rust mirror of `uapi/realgpu.h`.
//!
//! The layouts must match the C header exactly; the sizes are checked at compile time.

use kernel::{
    ioctl::{_IOR, _IOW, _IOWR},
    prelude::*,
    transmute::{AsBytes, FromBytes},
};

/// `REALGPU_ABI_VERSION`.
pub(crate) const ABI_VERSION: u32 = 1;

/// `REALGPU_IOC_MAGIC`.
const MAGIC: u32 = 0xB7;

/// `REALGPU_OP_NOP`.
pub(crate) const OP_NOP: u32 = 0;
/// `REALGPU_OP_FILL`.
pub(crate) const OP_FILL: u32 = 1;
/// `REALGPU_OP_COPY`.
pub(crate) const OP_COPY: u32 = 2;
/// `REALGPU_OP_CHECKSUM`.
pub(crate) const OP_CHECKSUM: u32 = 3;

/// `REALGPU_EVENT_JOB_DONE`.
pub(crate) const EVENT_JOB_DONE: u32 = 1;

/// Largest `cost_us` a job may declare (one second).
pub(crate) const MAX_COST_US: u64 = 1_000_000;

/// Declares `repr(C)` uapi structs made only of integers with explicit padding, and implements
/// the byte-transmutation traits for them.
macro_rules! uapi_structs {
    ($($(#[$meta:meta])* struct $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* } = $size:expr;)*) => {
        $(
            $(#[$meta])*
            #[repr(C)]
            #[derive(Clone, Copy, Default)]
            pub(crate) struct $name {
                $($(#[$fmeta])* pub(crate) $field: $ty,)*
            }

            // SAFETY: The struct is `repr(C)` and all its fields are integers, so every bit
            // pattern is a valid value and it has no interior mutability.
            unsafe impl FromBytes for $name {}

            // SAFETY: The struct is `repr(C)`, all its fields are integers and the header pads
            // every struct explicitly (checked by the size assertion below), so there are no
            // uninitialized padding bytes. It has no interior mutability.
            unsafe impl AsBytes for $name {}

            static_assert!(size_of::<$name>() == $size);
            static_assert!(
                size_of::<$name>() == 0 $(+ size_of::<$ty>())*
            );
        )*
    };
}

uapi_structs! {
    /// `struct realgpu_info`.
    struct Info {
        abi_version: u32,
        pad: u32,
        vram_total: u64,
        vram_used: u64,
        ctx_id: u64,
    } = 32;

    /// `struct realgpu_alloc`.
    struct Alloc {
        size: u64,
        handle: u32,
        pad: u32,
        mmap_offset: u64,
        buf_id: u64,
    } = 32;

    /// `struct realgpu_free`.
    struct Free {
        handle: u32,
        pad: u32,
    } = 8;

    /// `struct realgpu_submit`.
    struct Submit {
        op: u32,
        src: u32,
        dst: u32,
        flags: u32,
        value: u64,
        cost_us: u64,
        fence: u64,
    } = 40;

    /// `struct realgpu_wait`.
    struct Wait {
        fence: u64,
        timeout_ns: i64,
        result: u64,
    } = 24;

    /// `struct realgpu_event`.
    struct Event {
        ty: u32,
        pad: u32,
        fence: u64,
        result: u64,
    } = 24;

    /// `struct realgpu_export`.
    struct Export {
        handle: u32,
        fd: i32,
    } = 8;

    /// `struct realgpu_import`.
    struct Import {
        fd: i32,
        handle: u32,
        size: u64,
        mmap_offset: u64,
        buf_id: u64,
    } = 32;

    /// `struct realgpu_attach_peer`.
    struct AttachPeer {
        fd: i32,
        pad: u32,
        peer_ctx_id: u64,
    } = 16;
}

/// `REALGPU_IOCTL_GET_INFO`.
pub(crate) const IOCTL_GET_INFO: u32 = _IOR::<Info>(MAGIC, 0x00);
/// `REALGPU_IOCTL_ALLOC`.
pub(crate) const IOCTL_ALLOC: u32 = _IOWR::<Alloc>(MAGIC, 0x01);
/// `REALGPU_IOCTL_FREE`.
pub(crate) const IOCTL_FREE: u32 = _IOW::<Free>(MAGIC, 0x02);
/// `REALGPU_IOCTL_SUBMIT`.
pub(crate) const IOCTL_SUBMIT: u32 = _IOWR::<Submit>(MAGIC, 0x03);
/// `REALGPU_IOCTL_WAIT`.
pub(crate) const IOCTL_WAIT: u32 = _IOWR::<Wait>(MAGIC, 0x04);
/// `REALGPU_IOCTL_EXPORT`.
pub(crate) const IOCTL_EXPORT: u32 = _IOWR::<Export>(MAGIC, 0x05);
/// `REALGPU_IOCTL_IMPORT`.
pub(crate) const IOCTL_IMPORT: u32 = _IOWR::<Import>(MAGIC, 0x06);
/// `REALGPU_IOCTL_ATTACH_PEER`.
pub(crate) const IOCTL_ATTACH_PEER: u32 = _IOWR::<AttachPeer>(MAGIC, 0x07);
