// SPDX-License-Identifier: GPL-2.0

//! realgpu: the simulated GPU that mockgpu is tested against.
//!
//! One misc device, `/dev/realgpu` (ABI: `uapi/realgpu.h`). Every open file is a GPU context
//! with its own buffer handles. Buffers are charged against a finite VRAM pool (module parameter
//! `vram_mb`) and their pages are allocated lazily, on first fault or first job. Jobs run on one
//! engine that time-slices between contexts (module parameter `slice_us`) and complete fences;
//! completions are also delivered as events through `poll(2)` and `read(2)`. Each file's fdinfo
//! reports its engine time and VRAM in the DRM usage-stats format. Buffers can be exported as
//! fds and imported by other contexts.
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
        slice_us: u32 {
            default: 10000,
            description: "Time slice of the engine between contexts in µs (100 to 1000000)",
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
        let slice_us = module_parameters::slice_us.value();
        try_pin_init!(Self {
            _misc <- RealGpuMisc::register(checked_vram_mb(vram_mb)?, checked_slice_us(slice_us)?),
        })
    }
}

/// The range of `slice_us`.
const SLICE_US: core::ops::RangeInclusive<u32> = 100..=1_000_000;

/// Validates the `slice_us` parameter.
fn checked_slice_us(slice_us: u32) -> Result<u32> {
    if SLICE_US.contains(&slice_us) {
        Ok(slice_us)
    } else {
        pr_err!(
            "slice_us must be between {} and {}\n",
            SLICE_US.start(),
            SLICE_US.end()
        );
        Err(EINVAL)
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
