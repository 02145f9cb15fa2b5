// SPDX-License-Identifier: GPL-2.0

//! Device-wide state shared by all contexts.

use kernel::{
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc,
    },
};

use crate::{engine::Engine, pool::Pool};

/// The simulated GPU: its VRAM pool, id allocators and job engine.
pub(crate) struct Device {
    /// The VRAM pool every buffer is charged against.
    pub(crate) pool: Pool,
    /// The engine that runs submitted jobs.
    pub(crate) engine: Engine,
    next_ctx_id: Atomic<u64>,
    next_buf_id: Atomic<u64>,
}

impl Device {
    /// Creates the device with a pool of `vram_bytes` and an engine that gives contexts turns of
    /// `slice_ns` (> 0).
    pub(crate) fn new(vram_bytes: u64, slice_ns: i64) -> Result<Arc<Self>> {
        let engine = Engine::new(slice_ns)?;
        Ok(Arc::new(
            Self {
                pool: Pool::new(vram_bytes),
                engine,
                next_ctx_id: Atomic::new(1),
                next_buf_id: Atomic::new(1),
            },
            GFP_KERNEL,
        )?)
    }

    /// A new device-wide unique context id (never 0).
    pub(crate) fn alloc_ctx_id(&self) -> u64 {
        self.next_ctx_id.fetch_add(1, Relaxed)
    }

    /// A new device-wide unique buffer id (never 0).
    pub(crate) fn alloc_buf_id(&self) -> u64 {
        self.next_buf_id.fetch_add(1, Relaxed)
    }
}
