//! What several of the runtime's test binaries share (each includes it with `mod support;`).

use std::fmt;

/// An error whose `Display` panics: shown to handlers, formatted into reports and traces, it
/// must be caught wherever the crate formats it, never abort or be lost.
#[derive(Debug)]
pub struct HostileDisplay;

impl fmt::Display for HostileDisplay {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Display panics")
    }
}

impl std::error::Error for HostileDisplay {}
