// SPDX-License-Identifier: GPL-2.0

//! realgpu: the simulated GPU that mockgpu is tested against.
//!
//! One misc device, `/dev/realgpu` (ABI: `uapi/realgpu.h`). Every open file is a GPU context
//! with its own buffer handles. Buffers are charged against a finite VRAM pool (module parameter
//! `vram_mb`) and their pages are allocated lazily, on first fault or first job. Jobs run on an
//! ordered kernel workqueue and complete fences; completions are also delivered as events
//! through `poll(2)` and `read(2)`. Buffers can be exported as fds and imported by other
//! contexts.
//!
//! Layout: [`fops`] holds the C operation tables and the raw `private_data` handling, [`misc`]
//! the misc device registration, [`ioctl`] the ioctls, [`context`], [`buffer`], [`job`],
//! [`engine`], [`pool`] and [`events`] the driver state, [`mmap`] the mappings, [`uapi`] the ABI
//! structs and [`helpers`] the C wrappers of `realgpu_helpers.c`.

use kernel::prelude::*;

mod buffer;
mod context;
mod device;
mod engine;
mod events;
mod fops;
mod helpers;
mod ioctl;
mod job;
mod misc;
mod mmap;
mod pool;
mod uapi;

use misc::RealGpuMisc;

module! {
    type: RealGpuModule,
    name: "realgpu",
    authors: ["mockgpu project"],
    description: "Simulated GPU that mockgpu is tested against",
    license: "GPL",
    params: {
        vram_mb: u32 {
            default: 256,
            description: "VRAM pool size in MiB (1 to 4096)",
        },
    },
}

/// The largest `vram_mb`: a buffer's byte offsets must fit the low 32 bits of an mmap offset.
const MAX_VRAM_MB: u32 = 4096;

/// The module: the registered device.
#[pin_data]
struct RealGpuModule {
    #[pin]
    _misc: RealGpuMisc,
}

impl kernel::InPlaceModule for RealGpuModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let vram_mb = module_parameters::vram_mb.value();
        try_pin_init!(Self {
            _misc <- RealGpuMisc::register(checked_vram_mb(vram_mb)?),
        })
    }
}

/// Validates the `vram_mb` parameter.
fn checked_vram_mb(vram_mb: u32) -> Result<u32> {
    if (1..=MAX_VRAM_MB).contains(&vram_mb) {
        Ok(vram_mb)
    } else {
        pr_err!("vram_mb must be between 1 and {}\n", MAX_VRAM_MB);
        Err(EINVAL)
    }
}
