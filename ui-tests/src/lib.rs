//! trybuild cases live in `tests/ui`; the lint-clean check of every macro form is
//! `tests/lint_clean.rs`. The README's macro examples are doc-tested by the `exitstack` crate.
