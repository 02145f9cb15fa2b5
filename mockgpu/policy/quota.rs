// SPDX-License-Identifier: GPL-2.0

//! Quota arithmetic: lock-free counters held to a limit, and the compute
//! budget that refills every period.
//!
//! A [`Counter`] is charged before the real driver is called and uncharged if
//! the driver fails, on free and on close. A charge that would pass the limit
//! is refused and changes nothing; the limit may change at any time (lowering
//! it below the usage refuses new charges, and usage never goes below zero or
//! above the limit through a charge).

use core::sync::atomic::{AtomicU64, Ordering};

/// "No limit".
pub const UNLIMITED: u64 = u64::MAX;

/// Why a charge is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaError {
    /// The amount overflows (`EINVAL`).
    Overflow,
    /// The charge would pass the limit (`EDQUOT`).
    Exceeded,
}

/// A usage counter held to a limit.
///
/// # Invariants
///
/// `used` only grows through [`Counter::try_charge`], which never makes it
/// exceed the limit in force at that moment, and only shrinks through
/// [`Counter::uncharge`] of amounts previously charged.
#[derive(Debug)]
pub struct Counter {
    used: AtomicU64,
    limit: AtomicU64,
    refused: AtomicU64,
}

impl Counter {
    /// A counter at zero with `limit`.
    pub const fn new(limit: u64) -> Self {
        Counter {
            used: AtomicU64::new(0),
            limit: AtomicU64::new(limit),
            refused: AtomicU64::new(0),
        }
    }

    /// Current usage.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Current limit.
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// How many charges were refused.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Sets the limit; applies to the next charge at once.
    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Charges `amount`, or refuses and changes nothing.
    pub fn try_charge(&self, amount: u64) -> Result<(), QuotaError> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let new = match used.checked_add(amount) {
                Some(new) => new,
                None => return Err(self.refuse(QuotaError::Overflow)),
            };
            if new > self.limit.load(Ordering::Relaxed) {
                return Err(self.refuse(QuotaError::Exceeded));
            }
            // INVARIANT: `new` is within the limit read just now.
            match self
                .used
                .compare_exchange_weak(used, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(current) => used = current,
            }
        }
    }

    /// Charges `amount` even past the limit. Only for the fail-safe where the
    /// driver holds memory mockgpu could not give back: usage must never be
    /// less than what the tenant holds.
    pub fn force_charge(&self, amount: u64) {
        self.used.fetch_add(amount, Ordering::AcqRel);
    }

    /// Returns `amount` previously charged. Saturates at zero rather than
    /// wrapping, so a bookkeeping bug cannot turn into a huge usage.
    pub fn uncharge(&self, amount: u64) {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let new = used.saturating_sub(amount);
            match self
                .used
                .compare_exchange_weak(used, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(current) => used = current,
            }
        }
    }

    fn refuse(&self, e: QuotaError) -> QuotaError {
        self.refused.fetch_add(1, Ordering::Relaxed);
        e
    }
}

/// Compute budget: a share of every period, in microseconds of declared
/// device time. A job whose cost does not fit the rest of the current
/// period's budget waits for the next period (or is refused with `EAGAIN` for
/// a non-blocking caller). A job costing more than a whole period's budget is
/// admitted at the start of a period and drives the budget negative, which the
/// following periods repay, so the long-run share holds for any job size.
#[derive(Debug)]
pub struct Budget {
    /// Percent of each period, 1..=100; 100 means unlimited.
    share: AtomicU64,
    /// The period in microseconds.
    period_us: u64,
    /// Start of the current period (µs, caller's monotonic clock).
    period_start: AtomicU64,
    /// Budget left in the current period; may be negative (debt).
    left: core::sync::atomic::AtomicI64,
    used_total: AtomicU64,
}

/// What [`Budget::try_take`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Run the job now.
    Now,
    /// Not in this period: retry at this time (µs).
    RetryAt(u64),
}

impl Budget {
    /// A budget of `share` percent of every `period_us`.
    pub const fn new(share: u64, period_us: u64) -> Self {
        Budget {
            share: AtomicU64::new(share),
            period_us,
            period_start: AtomicU64::new(0),
            // The first period starts full.
            left: core::sync::atomic::AtomicI64::new((period_us * share / 100) as i64),
            used_total: AtomicU64::new(0),
        }
    }

    /// The share in percent (100 = unlimited).
    pub fn share(&self) -> u64 {
        self.share.load(Ordering::Relaxed)
    }

    /// Sets the share; takes effect at the next refill.
    pub fn set_share(&self, share: u64) {
        self.share.store(share.clamp(1, 100), Ordering::Relaxed);
    }

    /// Total cost admitted so far (µs).
    pub fn used_total(&self) -> u64 {
        self.used_total.load(Ordering::Relaxed)
    }

    fn per_period(&self) -> i64 {
        (self.period_us * self.share().min(100) / 100) as i64
    }

    /// Tries to admit a job of `cost` µs at time `now` µs.
    pub fn try_take(&self, now: u64, cost: u64) -> Admit {
        if self.share() >= 100 {
            self.used_total.fetch_add(cost, Ordering::Relaxed);
            return Admit::Now;
        }
        self.refill(now);
        let cost = cost.min(i64::MAX as u64) as i64;
        let mut left = self.left.load(Ordering::Relaxed);
        loop {
            // A job larger than the whole budget is admitted only into a
            // fresh, full period, and leaves a debt.
            let fits = left >= cost || (left == self.per_period() && left > 0);
            if !fits {
                let next = self.period_start.load(Ordering::Relaxed) + self.period_us;
                return Admit::RetryAt(next);
            }
            match self.left.compare_exchange_weak(
                left,
                left.saturating_sub(cost),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.used_total.fetch_add(cost as u64, Ordering::Relaxed);
                    return Admit::Now;
                }
                Err(current) => left = current,
            }
        }
    }

    /// Charges `used` µs of device time that the driver measured for the
    /// tenant's work, at time `now` µs: beyond the budget left, a debt that
    /// later periods repay before the tenant may submit again.
    pub fn charge_used(&self, now: u64, used: u64) {
        self.used_total.fetch_add(used, Ordering::Relaxed);
        if self.share() >= 100 || used == 0 {
            return;
        }
        self.refill(now);
        let used = used.min(i64::MAX as u64) as i64;
        let mut left = self.left.load(Ordering::Relaxed);
        loop {
            match self.left.compare_exchange_weak(
                left,
                left.saturating_sub(used),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(current) => left = current,
            }
        }
    }

    /// Whether the tenant may submit more work at `now` µs: while its
    /// budget is spent (or in debt), the time at which enough periods will
    /// have repaid it.
    pub fn admit_measured(&self, now: u64) -> Admit {
        if self.share() >= 100 {
            return Admit::Now;
        }
        self.refill(now);
        let left = self.left.load(Ordering::Relaxed);
        if left > 0 {
            return Admit::Now;
        }
        let per = self.per_period().max(1) as u64;
        // Periods until `left` is positive again: debt / per + 1.
        let periods = left.unsigned_abs() / per + 1;
        let start = self.period_start.load(Ordering::Relaxed);
        Admit::RetryAt(start.saturating_add(periods.saturating_mul(self.period_us)))
    }

    /// Gives back the cost of a job the driver refused after it was admitted
    /// (never more than a full period's budget is left).
    pub fn refund(&self, cost: u64) {
        if self.share() < 100 {
            let back = cost.min(i64::MAX as u64) as i64;
            let per = self.per_period();
            let mut left = self.left.load(Ordering::Relaxed);
            loop {
                let new = left.saturating_add(back).min(per);
                match self.left.compare_exchange_weak(
                    left,
                    new,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(current) => left = current,
                }
            }
        }
        let mut used = self.used_total.load(Ordering::Relaxed);
        while let Err(current) = self.used_total.compare_exchange_weak(
            used,
            used.saturating_sub(cost),
            Ordering::AcqRel,
            Ordering::Relaxed,
        ) {
            used = current;
        }
    }

    /// Starts new periods up to `now`, adding one period's budget for each
    /// (a debt is repaid first; unused budget does not accumulate).
    fn refill(&self, now: u64) {
        let start = self.period_start.load(Ordering::Relaxed);
        if now < start + self.period_us {
            return;
        }
        let periods = (now - start) / self.period_us;
        let new_start = start + periods * self.period_us;
        if self
            .period_start
            .compare_exchange(start, new_start, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return; // Another caller refilled.
        }
        let per = self.per_period();
        let add = per.saturating_mul(periods.min(i64::MAX as u64) as i64);
        let mut left = self.left.load(Ordering::Relaxed);
        loop {
            let new = left.saturating_add(add).min(per);
            match self
                .left
                .compare_exchange_weak(left, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(current) => left = current,
            }
        }
    }
}
