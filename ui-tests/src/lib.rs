//! trybuild cases live in `tests/ui`; the lint-clean check of every macro form is
//! `tests/lint_clean.rs`.

/// The README section on the macros (`docs/macros.md`), compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/macros.md")]
pub struct MacrosReadmeSection;
