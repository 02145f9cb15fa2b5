// SPDX-License-Identifier: GPL-2.0

//! What a tenant gets before an operator configures it (module parameters).

use crate::policy::abi::control::{Limits, UNLIMITED};

/// The limits of an unconfigured tenant, or `None` if such tenants may not
/// open at all (`unconfigured=1`).
pub(crate) fn unconfigured_limits() -> Option<Limits> {
    let p = &crate::module_parameters::unconfigured;
    match p.value() {
        1 => None,
        2 => Some(Limits {
            memory: crate::module_parameters::default_memory_mb
                .value()
                .checked_mul(1 << 20)
                .unwrap_or(UNLIMITED),
            files: crate::module_parameters::default_files.value(),
            compute_pct: crate::module_parameters::default_compute_pct
                .value()
                .clamp(1, 100),
            pad: 0,
        }),
        _ => Some(Limits::NONE),
    }
}
