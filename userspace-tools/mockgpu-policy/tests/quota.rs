//! Quota arithmetic: exact boundaries, no drift, no overshoot under threads.
use std::sync::Arc;
use std::thread;

use mockgpu_policy::quota::{Admit, Budget, Counter, QuotaError, UNLIMITED};

#[test]
fn boundary_is_exact() {
    let c = Counter::new(4096);
    assert_eq!(c.try_charge(4096), Ok(()));
    assert_eq!(c.try_charge(1), Err(QuotaError::Exceeded));
    assert_eq!(c.used(), 4096);
    c.uncharge(4096);
    assert_eq!(c.try_charge(4095), Ok(()));
    assert_eq!(c.try_charge(1), Ok(()));
    assert_eq!(c.try_charge(1), Err(QuotaError::Exceeded));
    assert_eq!(c.refused(), 2);
}

#[test]
fn overflow_is_refused_and_changes_nothing() {
    let c = Counter::new(UNLIMITED);
    c.try_charge(10).unwrap();
    assert_eq!(c.try_charge(u64::MAX), Err(QuotaError::Overflow));
    assert_eq!(c.used(), 10);
}

#[test]
fn lowering_the_limit_below_usage_refuses_new_charges_only() {
    let c = Counter::new(100);
    c.try_charge(80).unwrap();
    c.set_limit(50);
    assert_eq!(c.try_charge(1), Err(QuotaError::Exceeded));
    assert_eq!(c.used(), 80);
    c.uncharge(80);
    assert_eq!(c.used(), 0);
    assert_eq!(c.try_charge(50), Ok(()));
}

#[test]
fn uncharge_never_wraps() {
    let c = Counter::new(100);
    c.try_charge(10).unwrap();
    c.uncharge(20);
    assert_eq!(c.used(), 0);
}

#[test]
fn threads_at_the_boundary_never_pass_the_limit() {
    let c = Arc::new(Counter::new(1000));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let c = c.clone();
            thread::spawn(move || {
                let mut mine = 0;
                for _ in 0..10_000 {
                    if c.try_charge(7).is_ok() {
                        assert!(c.used() <= 1000);
                        mine += 7;
                    }
                    if mine > 0 && mine % 3 == 0 {
                        c.uncharge(7);
                        mine -= 7;
                    }
                }
                c.uncharge(mine);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(c.used(), 0);
}

#[test]
fn budget_admits_its_share_per_period() {
    // 30% of 100 ms: 30 ms of jobs per period.
    let b = Budget::new(30, 100_000);
    let mut now = 0;
    let mut admitted = 0u64;
    while now < 10_000_000 {
        match b.try_take(now, 1_000) {
            Admit::Now => admitted += 1_000,
            Admit::RetryAt(t) => {
                assert!(t > now);
                now = t;
            }
        }
        now += 10; // jobs are submitted fast
    }
    // 10 s at 30%: 3 s of device time, within one period's budget.
    assert!((2_970_000..=3_030_000).contains(&admitted), "{admitted}");
}

#[test]
fn a_job_larger_than_the_budget_is_admitted_and_repaid() {
    let b = Budget::new(10, 100_000); // 10 ms per period
    assert_eq!(b.try_take(0, 25_000), Admit::Now); // a fresh full period
                                                   // 15 ms of debt: the next period only brings it to -5 ms.
    assert!(matches!(b.try_take(100_000, 1), Admit::RetryAt(_)));
    assert!(matches!(b.try_take(200_000, 1), Admit::Now));
}

#[test]
fn unlimited_budget_always_admits() {
    let b = Budget::new(100, 100_000);
    for i in 0..1000 {
        assert_eq!(b.try_take(i, 1_000_000), Admit::Now);
    }
}

#[test]
fn a_refused_job_is_refunded() {
    // 10% of 100 ms. An absurd cost is admitted into a fresh period as a
    // debt; if the driver refuses the job, the refund cancels the debt.
    let b = Budget::new(10, 100_000);
    assert_eq!(b.try_take(0, 1 << 60), Admit::Now);
    assert!(matches!(b.try_take(1, 1), Admit::RetryAt(_)));
    b.refund(1 << 60);
    assert_eq!(b.try_take(2, 1_000), Admit::Now);
    assert_eq!(b.used_total(), 1_000);
    // A refund never leaves more than one period's budget.
    b.refund(1 << 40);
    assert_eq!(b.try_take(3, 10_000), Admit::Now);
    assert!(matches!(b.try_take(4, 1), Admit::RetryAt(_)));
}

#[test]
fn measured_time_beyond_the_share_is_a_debt() {
    // 10 ms per 100 ms period; nothing measured yet.
    let b = Budget::new(10, 100_000);
    assert_eq!(b.admit_measured(0), Admit::Now);
    // The device ran 100 ms for the tenant: 90 ms of debt.
    b.charge_used(100_000, 100_000);
    assert_eq!(b.used_total(), 100_000);
    match b.admit_measured(100_000) {
        // The debt is repaid 10 ms per period: 10 periods until positive.
        Admit::RetryAt(at) => assert_eq!(at, 100_000 + 10 * 100_000),
        Admit::Now => panic!("admitted in debt"),
    }
    assert!(matches!(b.admit_measured(1_000_000), Admit::RetryAt(_)));
    assert_eq!(b.admit_measured(1_100_000), Admit::Now);
}

#[test]
fn measured_time_within_the_share_is_admitted() {
    let b = Budget::new(30, 100_000);
    for period in 0..50u64 {
        let now = period * 100_000;
        assert_eq!(b.admit_measured(now), Admit::Now);
        b.charge_used(now, 29_000);
    }
    assert_eq!(b.used_total(), 50 * 29_000);
}

#[test]
fn measured_charges_saturate_and_unlimited_is_never_refused() {
    let b = Budget::new(100, 100_000);
    b.charge_used(0, u64::MAX);
    assert_eq!(b.admit_measured(0), Admit::Now);
    let b = Budget::new(1, 100_000);
    b.charge_used(0, u64::MAX);
    b.charge_used(0, u64::MAX);
    match b.admit_measured(0) {
        Admit::RetryAt(at) => assert!(at > 0),
        Admit::Now => panic!("admitted in debt"),
    }
}
