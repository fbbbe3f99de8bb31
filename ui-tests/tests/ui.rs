//! Compile-fail and compile-pass cases. Regenerate the `.stderr` files on the pinned toolchain
//! with `TRYBUILD=overwrite cargo test -p exitstack-ui-tests --test ui`, then review them.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
