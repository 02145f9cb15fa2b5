// SPDX-License-Identifier: GPL-2.0

//! Logic that needs no kernel: plain `core` Rust, compiled into the module and,
//! unchanged, into the host crate `userspace-tools/mockgpu-policy`, where
//! `cargo test` covers it.

pub(crate) mod abi;
pub(crate) mod allow;
pub(crate) mod backend;
pub(crate) mod decode;
pub(crate) mod fdinfo;
pub(crate) mod ledger;
pub(crate) mod quota;
pub(crate) mod screen;
