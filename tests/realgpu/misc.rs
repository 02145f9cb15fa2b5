// SPDX-License-Identifier: GPL-2.0

//! Registration of the `/dev/realgpu` misc device with the hand-built file operations.

use kernel::{bindings, container_of, error::to_result, prelude::*, sync::Arc, types::Opaque};

use crate::{device::Device, fops};

/// The registered misc device, together with the device state its files use.
///
/// # Invariants
///
/// `misc` holds a `struct miscdevice` registered with `misc_register` (with the fops of
/// [`fops::device_fops`]), deregistered exactly once, in [`PinnedDrop`].
#[pin_data(PinnedDrop)]
pub(crate) struct RealGpuMisc {
    dev: Arc<Device>,
    #[pin]
    misc: Opaque<bindings::miscdevice>,
}

// SAFETY: `misc_deregister` may be called from any thread, and the `struct miscdevice` is only
// accessed by the misc core after registration.
unsafe impl Send for RealGpuMisc {}

// SAFETY: No `&self` method mutates the `struct miscdevice`.
unsafe impl Sync for RealGpuMisc {}

impl RealGpuMisc {
    /// Creates the device with a VRAM pool of `vram_mb` MiB and time slices of `slice_us` µs,
    /// and registers `/dev/realgpu`.
    pub(crate) fn register(vram_mb: u32, slice_us: u32) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // Set before registering: `open` may run as soon as the device is registered.
            dev: Device::new(u64::from(vram_mb) << 20, i64::from(slice_us) * 1000)?,
            misc <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                let mut raw: bindings::miscdevice = pin_init::zeroed();
                raw.minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                raw.name = c"realgpu".as_char_ptr();
                raw.fops = fops::device_fops();
                raw.mode = 0o666;
                // SAFETY: The initializer may write to `slot`.
                unsafe { slot.write(raw) };
                // SAFETY: `slot` holds a valid `struct miscdevice` whose name and fops are
                // static. It is pinned, and deregistered in `drop` before it is freed.
                // INVARIANT: On success the device is registered.
                to_result(unsafe { bindings::misc_register(slot) })
            }),
        })
    }

    /// The device of a realgpu file being opened.
    ///
    /// # Safety
    ///
    /// `misc` must point at the `struct miscdevice` of a live `RealGpuMisc`, which must stay
    /// registered during `'a` (as it does during `open`, which `misc_open` calls under its lock).
    pub(crate) unsafe fn device<'a>(misc: *mut bindings::miscdevice) -> &'a Arc<Device> {
        let misc = misc.cast::<Opaque<bindings::miscdevice>>();
        // SAFETY: By the safety requirements `misc` is the `misc` field of a `RealGpuMisc`, so
        // the container is in the same allocation.
        let this = unsafe { container_of!(misc, Self, misc) };
        // SAFETY: The `RealGpuMisc` is alive during `'a`.
        unsafe { &(*this).dev }
    }
}

#[pinned_drop]
impl PinnedDrop for RealGpuMisc {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariants the device is registered, and this is the only place
        // that deregisters it.
        unsafe { bindings::misc_deregister(self.misc.get()) };
        // The module can only be unloaded once no realgpu or export file is left, but jobs of
        // closed contexts may still be queued: let them finish while we still hold the device,
        // so that the workqueue is never destroyed from one of its own jobs.
        self.dev.engine.drain();
    }
}
