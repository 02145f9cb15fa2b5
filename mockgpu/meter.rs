// SPDX-License-Identifier: GPL-2.0

//! Compute: the device time of a proxy file as its driver measures it.
//!
//! No declared cost is trusted. A driver that reports engine time per file
//! (its fdinfo in the DRM usage-stats format, `drm-engine-*`) is read in the
//! kernel, where no thread of the caller can change it, and the growth is
//! charged to the file's tenant; a submission is admitted while the
//! tenant's measured time is within its share (`policy/quota.rs`, `Budget`).
//! A driver without such a report charges nothing, and `mockgpuctl` says
//! that compute shares are unavailable for it.

use core::{
    ptr::NonNull,
    sync::atomic::{AtomicBool, Ordering},
};

use kernel::{bindings, new_mutex, prelude::*, sync::Mutex};

use crate::{ffi, policy::fdinfo, real::RealFile, tenant::Tenant};

/// A file whose device time has not grown for this long is idle: off its
/// tenant's list of files metered at every admission (two compute periods:
/// a context with queued work gets engine slices well within that, the
/// simulated GPU time-slicing between contexts), µs.
const IDLE_US: u64 = 200_000;

/// Room for a driver's fdinfo (realgpu's is about 150 bytes; amdgpu's with
/// every engine and region under 2 KiB).
const FDINFO_MAX: usize = 4096;

/// How much of a file's device time (the driver's own count) has been
/// charged.
///
/// # Invariants
///
/// `charged_ns` never exceeds the last engine time read.
#[derive(Default)]
struct Reading {
    /// The fdinfo text, read into this buffer (allocated at the first
    /// reading, kept for the file's life).
    buf: KVec<u8>,
    /// The engine time charged so far, ns.
    charged_ns: u64,
    /// When a reading last found the time grown (or the baseline), µs.
    grew_at_us: u64,
}

/// The meter of one proxy file.
///
/// # Invariants
///
/// `real` is the proxy file's real file, open whenever the meter is used:
/// the owner calls [`FileMeter::detach`] before it closes the real file,
/// and uses the meter only before. While `active` is set the meter is on
/// its tenant's list by address (it is pinned); it leaves the list, under
/// the list's lock, before it is freed.
#[pin_data]
pub(crate) struct FileMeter {
    real: NonNull<bindings::file>,
    #[pin]
    reading: Mutex<Reading>,
    /// Whether this file's device time is being metered: only while its
    /// tenant has a compute share (reading fdinfo costs a driver call per
    /// submission). The first reading after a pause is a baseline, so a
    /// tenant given a share does not pay for the time it ran before.
    metered: AtomicBool,
    /// Whether this meter is on its tenant's list of files whose device
    /// time is growing (changed only under that list's lock).
    active: AtomicBool,
}

// SAFETY: `real` is only passed to the driver's fdinfo, which the VFS calls
// from any thread; the rest is behind a mutex or atomic.
unsafe impl Send for FileMeter {}
// SAFETY: as above.
unsafe impl Sync for FileMeter {}

impl FileMeter {
    /// The meter of the proxy file whose real file is `real`.
    ///
    /// # Safety
    ///
    /// `real` stays open while the meter is used (see the type invariants).
    pub(crate) unsafe fn new(real: &RealFile) -> impl PinInit<Self> {
        // SAFETY: an open file's address is not null.
        let real = unsafe { NonNull::new_unchecked(real.as_ptr()) };
        // INVARIANT: by the safety requirements.
        pin_init!(FileMeter {
            real,
            reading <- new_mutex!(Reading::default()),
            metered: AtomicBool::new(false),
            active: AtomicBool::new(false),
        })
    }

    /// Admits a submission against `tenant`'s compute share: the tenant
    /// pays the device time the driver measured for its earlier work (a
    /// debt over its share), and waits while in debt (`EAGAIN` if
    /// `nonblock`).
    pub(crate) fn admit(&self, tenant: &Tenant, nonblock: bool) -> Result {
        if !tenant.compute_limited() {
            self.metered.store(false, Ordering::Relaxed);
            return Ok(());
        }
        self.meter_tenant(tenant);
        tenant.admit_measured(nonblock)
    }

    /// The last reading when the file closes: off the tenant's list (a
    /// scan holds the list's lock while it reads the files on it), and the
    /// time of the work that ran since the last submission charged. Called
    /// before the real file is closed (type invariants). A metered file's
    /// count goes on in the returned [`Carried`], for a context a mapping
    /// keeps after the close (its queued work still runs).
    pub(crate) fn detach(&self, tenant: &Tenant) -> Option<Carried> {
        if self.active.load(Ordering::Relaxed) {
            let mut list = tenant.active_files();
            let me = self as *const FileMeter as usize;
            list.retain(|f| *f != me);
            self.active.store(false, Ordering::Relaxed);
        }
        if !self.metered.load(Ordering::Relaxed) {
            return None;
        }
        self.charge_device_time(tenant);
        let mut reading = self.reading.lock();
        Some(Carried {
            buf: core::mem::take(&mut reading.buf),
            charged_ns: reading.charged_ns,
        })
    }

    /// Charges `tenant` the engine time the driver reports for this file
    /// (all engines) beyond what was charged already.
    ///
    /// Returns whether the file may still have work running: its time grew
    /// (or was first read) less than [`IDLE_US`] ago.
    fn charge_device_time(&self, tenant: &Tenant) -> bool {
        let mut guard = self.reading.lock();
        let Reading {
            buf,
            charged_ns,
            grew_at_us,
        } = &mut *guard;
        if self.read_fdinfo(buf).is_err() {
            return false;
        }
        let Ok(total) = fdinfo::engine_ns_total(buf) else {
            return false;
        };
        // SAFETY: reads the monotonic clock.
        let now = unsafe { ffi::mockgpu_now_us() };
        if !self.metered.swap(true, Ordering::Relaxed) {
            // A baseline: the time before metering began is not charged.
            *charged_ns = total;
            *grew_at_us = now;
            return true;
        }
        if charge_growth(charged_ns, total, tenant, now) {
            *grew_at_us = now;
        }
        now.saturating_sub(*grew_at_us) < IDLE_US
    }

    /// Charges the device time of every file of `tenant` that may still
    /// have work running (its time grew at its last reading), this one
    /// first, and puts this one on that list: a tenant that submits once
    /// on each of many files pays for all of it at its next admission,
    /// not when those files submit again or close. A file leaves the list
    /// at a reading that finds it idle for [`IDLE_US`].
    fn meter_tenant(&self, tenant: &Tenant) {
        let me = self as *const FileMeter as usize;
        let mut list = tenant.active_files();
        list.retain(|f| {
            let f = *f;
            if f == me {
                return true;
            }
            // SAFETY: a meter on the list is alive and its real file open:
            // it removes itself in `detach`, under this lock, before either
            // ends (type invariants).
            let other = unsafe { &*(f as *const FileMeter) };
            let busy = other.charge_device_time(tenant);
            if !busy {
                other.active.store(false, Ordering::Relaxed);
            }
            busy
        });
        self.charge_device_time(tenant);
        // This file is about to submit: on the list until a reading finds
        // it idle. Without memory it is metered at its own submissions only.
        if !self.active.load(Ordering::Relaxed) && list.push(me, GFP_KERNEL).is_ok() {
            self.active.store(true, Ordering::Relaxed);
        }
    }

    /// Reads the real driver's fdinfo of this file into `buf`.
    fn read_fdinfo(&self, buf: &mut KVec<u8>) -> Result {
        // SAFETY: the real file is open (type invariants).
        unsafe { read_fdinfo(self.real.as_ptr(), buf) }
    }

    /// The device memory the driver says this file's context allocated
    /// (`drm-total-vram` of its fdinfo), when `tenant` has a memory limit
    /// and the driver reports it; read around a decoded allocation, its
    /// growth is what the driver allocated, whatever user memory says.
    pub(crate) fn driver_vram(&self, tenant: &Tenant) -> Option<u64> {
        if !tenant.memory_limited() {
            return None;
        }
        let mut reading = self.reading.lock();
        self.read_fdinfo(&mut reading.buf).ok()?;
        fdinfo::total_memory_bytes(&reading.buf, b"vram")
    }
}

/// The device-time count of a closed proxy file whose context a mapping
/// keeps (`mapped.rs`): the work it queued still runs, and is charged to
/// its tenant as it does.
pub(crate) struct Carried {
    buf: KVec<u8>,
    charged_ns: u64,
}

impl Carried {
    /// Charges `tenant` the engine time of `real` (the kept context's real
    /// file) beyond what was charged already.
    pub(crate) fn charge(&mut self, real: &RealFile, tenant: &Tenant) {
        // SAFETY: `real` is open (a `RealFile`).
        if unsafe { read_fdinfo(real.as_ptr(), &mut self.buf) }.is_err() {
            return;
        }
        let Ok(total) = fdinfo::engine_ns_total(&self.buf) else {
            return;
        };
        // SAFETY: reads the monotonic clock.
        let now = unsafe { ffi::mockgpu_now_us() };
        charge_growth(&mut self.charged_ns, total, tenant, now);
    }
}

/// Charges `tenant` at `now` the engine time `total` (ns) beyond
/// `charged_ns`, in whole µs (the remainder waits for the next reading);
/// whether anything was charged.
fn charge_growth(charged_ns: &mut u64, total: u64, tenant: &Tenant, now: u64) -> bool {
    let new_us = total.saturating_sub(*charged_ns) / 1000;
    if new_us == 0 {
        return false;
    }
    // `charged_ns + new_us * 1000 <= total`.
    *charged_ns = charged_ns.saturating_add(new_us * 1000);
    tenant.charge_device_time(now, new_us);
    true
}

/// Reads the real driver's fdinfo of `real` into `buf` (allocated once,
/// [`FDINFO_MAX`] bytes). In the kernel: no thread of the caller can
/// change it.
///
/// # Safety
///
/// `real` is an open file.
unsafe fn read_fdinfo(real: *mut bindings::file, buf: &mut KVec<u8>) -> Result {
    if buf.capacity() < FDINFO_MAX {
        *buf = KVec::new();
        buf.reserve(FDINFO_MAX, GFP_KERNEL)?;
    }
    buf.clear();
    let cap = buf.capacity();
    // SAFETY: the buffer has room for `cap` bytes; `real` is open (the
    // safety requirements).
    let n = unsafe { ffi::mockgpu_real_fdinfo(real, buf.as_mut_ptr(), cap) };
    let len = usize::try_from(n).map_err(|_| EIO)?;
    // SAFETY: the driver wrote `len` bytes, at most `cap` (the `seq_file`
    // never passes its size), to an empty vector; `u8` has no invalid
    // values.
    unsafe { buf.inc_len(len.min(cap)) };
    Ok(())
}
