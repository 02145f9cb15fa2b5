//! The accounting rules of `mockgpu/policy/ledger.rs`.

use mockgpu_policy::ledger::{
    charged_size, may_undo, only_ours, payer, release, undo_held, Payer, Release,
};

const EDGES: [u64; 6] = [0, 1, 4095, 1 << 63, u64::MAX - 1, u64::MAX];

#[test]
fn charged_size_is_never_below_any_witness() {
    for &r in &EDGES {
        for a in EDGES.iter().map(|&a| Some(a)).chain([None]) {
            for &g in &EDGES {
                let c = charged_size(r, a, g);
                assert!(c >= r && c >= g && c >= a.unwrap_or(0), "{r} {a:?} {g}");
                // And never more than the largest of them: no invented cost.
                assert_eq!(c, r.max(g).max(a.unwrap_or(0)));
            }
        }
    }
}

#[test]
fn a_rewritten_answer_cannot_lower_the_charge() {
    // The request said 16 MiB, a thread rewrote the answer to 0.
    assert_eq!(charged_size(16 << 20, Some(0), 0), 16 << 20);
    // The request was flipped to 4 KiB after mockgpu read it; the driver's
    // own count grew by 16 MiB.
    assert_eq!(charged_size(4096, Some(4096), 16 << 20), 16 << 20);
    // An unreadable answer keeps the reservation.
    assert_eq!(charged_size(8192, None, 0), 8192);
}

#[test]
fn undo_only_when_the_handle_cannot_be_another_buffer() {
    assert!(may_undo(false, false, true));
    // Already charged under that handle: the answer was rewritten.
    assert!(!may_undo(true, false, true));
    // A charge without a known handle may be this one.
    assert!(!may_undo(false, true, true));
    // The backend creates handles mockgpu does not decode.
    assert!(!may_undo(false, false, false));
}

#[test]
fn first_to_bring_a_buffer_in_pays_once() {
    assert_eq!(payer(false), Payer::Caller);
    assert_eq!(payer(true), Payer::AlreadyCharged);
}

#[test]
fn the_payers_charge_ends_when_the_buffer_dies() {
    // The payer's charge lasts while the buffer does, whoever holds it.
    assert_eq!(release(true, true), Release::WhenDead);
    assert_eq!(release(false, true), Release::Now);
    // An import someone else pays for ends with its handle.
    assert_eq!(release(true, false), Release::Now);
    assert_eq!(release(false, false), Release::Now);
}

#[test]
fn an_object_is_dead_when_only_our_reference_is_left() {
    assert!(only_ours(1));
    assert!(!only_ours(2));
    assert!(!only_ours(u32::MAX));
    // 0 cannot happen while we hold one; it is not "only ours".
    assert!(!only_ours(0));
}

#[test]
fn an_undo_redirected_to_another_buffer_is_not_taken_as_done() {
    // The context held 1 MiB, the allocation added 16 MiB, the undo freed
    // a 4 KiB buffer instead (its handle rewritten in the scratch page).
    let before = 1 << 20;
    assert!(!undo_held(Some(before), Some(before + (16 << 20) - 4096)));
    assert!(undo_held(Some(before), Some(before)));
    // The undo freed the new buffer and another thread freed more.
    assert!(undo_held(Some(before), Some(before - 4096)));
    // No driver count: trusted as before.
    assert!(undo_held(None, Some(0)));
    assert!(undo_held(Some(0), None));
    assert!(undo_held(Some(u64::MAX), Some(u64::MAX)));
    assert!(!undo_held(Some(0), Some(1)));
}
