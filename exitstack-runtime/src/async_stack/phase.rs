//! The error of one phase of a two-phase release: [`PhaseError`], [`Phase`].

use std::error::Error;
use std::fmt;

use crate::error::BoxError;

/// The phase of a two-phase release (see
/// [`AsyncExitStack::push_async_graceful`](crate::AsyncExitStack::push_async_graceful)).
///
/// ```
/// use exitstack::Phase;
///
/// assert_eq!(Phase::Graceful.to_string(), "graceful");
/// assert_eq!(Phase::Forceful.to_string(), "forceful");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The async release, given the value by `&mut`.
    Graceful,
    /// The sync fallback, given the value when the graceful phase failed, panicked, ran out of
    /// time or was cut off.
    Forceful,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Graceful => "graceful",
            Phase::Forceful => "forceful",
        })
    }
}

/// An error of one phase of a two-phase release: the graceful phase's `Err`, or the forceful
/// phase's. A time limit that cut the graceful phase off is a
/// [`TimedOutError`](crate::TimedOutError) of the entry, followed by the forceful phase's error
/// if it failed too.
///
/// ```
/// use exitstack::{Phase, PhaseError};
///
/// let error = PhaseError::new(Phase::Forceful, "socket already closed".into());
/// assert_eq!(error.phase(), Phase::Forceful);
/// assert_eq!(error.to_string(), "forceful release failed: socket already closed");
/// assert_eq!(error.error().to_string(), "socket already closed");
/// ```
#[derive(Debug)]
pub struct PhaseError {
    phase: Phase,
    error: BoxError,
}

impl PhaseError {
    /// The error `error` of phase `phase`.
    ///
    /// ```
    /// use exitstack::{Phase, PhaseError};
    ///
    /// let error = PhaseError::new(Phase::Graceful, "peer did not answer".into());
    /// assert_eq!(error.phase(), Phase::Graceful);
    /// ```
    pub fn new(phase: Phase, error: BoxError) -> Self {
        PhaseError { phase, error }
    }

    /// Which phase failed.
    ///
    /// ```
    /// use exitstack::{Phase, PhaseError};
    ///
    /// assert_eq!(PhaseError::new(Phase::Graceful, "x".into()).phase(), Phase::Graceful);
    /// ```
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The phase's own error.
    ///
    /// ```
    /// use exitstack::{Phase, PhaseError};
    ///
    /// let error = PhaseError::new(Phase::Forceful, std::fmt::Error.into());
    /// assert!(error.error().downcast_ref::<std::fmt::Error>().is_some());
    /// ```
    pub fn error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.error
    }

    /// The phase's own error, by value.
    ///
    /// ```
    /// use exitstack::{Phase, PhaseError};
    ///
    /// let error = PhaseError::new(Phase::Forceful, "gone".into()).into_error();
    /// assert_eq!(error.to_string(), "gone");
    /// ```
    pub fn into_error(self) -> BoxError {
        self.error
    }
}

impl fmt::Display for PhaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} release failed: {}", self.phase, self.error)
    }
}

impl Error for PhaseError {
    /// The phase error's own source: `Display` already includes its text.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.error.source()
    }
}
