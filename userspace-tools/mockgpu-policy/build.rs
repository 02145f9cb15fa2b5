//! Compiles `tests/layout.c` against the C headers in `uapi/`, so that
//! `tests/layout.rs` can compare the Rust mirrors with what C sees.
fn main() {
    println!("cargo:rerun-if-changed=tests/layout.c");
    println!("cargo:rerun-if-changed=../../uapi");
    cc::Build::new()
        .file("tests/layout.c")
        .include("../../uapi")
        .compile("mockgpu_layout");
}
