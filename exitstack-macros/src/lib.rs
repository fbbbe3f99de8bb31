//! Procedural macros for the `exitstack` crate. Depend on `exitstack`, which re-exports them.
