//! The two errors only async entries produce: [`TimedOutError`] and [`NotRunError`].

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// An async cleanup that did not finish within the stack's per-entry time limit (see
/// [`AsyncExitStack::with_time_limit`](crate::AsyncExitStack::with_time_limit)). Its future was
/// dropped, and this error took its place in the result.
///
/// # Examples
///
/// ```
/// use exitstack::TimedOutError;
/// use std::time::Duration;
///
/// let error = TimedOutError::new(Duration::from_millis(20));
/// assert_eq!(error.limit(), Duration::from_millis(20));
/// assert_eq!(error.to_string(), "async cleanup timed out after 20ms");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOutError {
    limit: Duration,
}

impl TimedOutError {
    /// The error for a cleanup cut off after `limit`.
    ///
    /// ```
    /// use exitstack::{CleanupError, TimedOutError};
    /// use std::time::Duration;
    ///
    /// let error = CleanupError::new(TimedOutError::new(Duration::from_secs(1)));
    /// assert!(error.error().downcast_ref::<TimedOutError>().is_some());
    /// assert_eq!(error.error().to_string(), "async cleanup timed out after 1s");
    /// ```
    pub fn new(limit: Duration) -> Self {
        TimedOutError { limit }
    }

    /// The limit that was exceeded.
    ///
    /// ```
    /// use exitstack::TimedOutError;
    /// use std::time::Duration;
    ///
    /// assert_eq!(TimedOutError::new(Duration::from_millis(250)).limit(), Duration::from_millis(250));
    /// ```
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

impl fmt::Display for TimedOutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "async cleanup timed out after {:?}", self.limit)
    }
}

impl Error for TimedOutError {}

/// An async cleanup that never ran: its stack was dropped without `aclose` (or during a
/// cancelled `aclose`), and no runtime could take it. It reaches the
/// [report channel](crate::report) with reason
/// [`AsyncNotRun`](crate::report::ReportReason::AsyncNotRun).
///
/// # Examples
///
/// ```
/// use exitstack::{report, AsyncExitStack, NotRunError};
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&seen);
/// report::with_reporter(
///     move |r: &report::Report<'_>| {
///         sink.lock().unwrap().push((r.reason(), r.error().error().downcast_ref::<NotRunError>().is_some()))
///     },
///     || {
///         let stack = AsyncExitStack::new();
///         stack.push_async_callback(|| async {});
///         drop(stack); // no aclose: the async cleanup is reported, not silently lost
///     },
/// );
/// assert_eq!(*seen.lock().unwrap(), [(report::ReportReason::AsyncNotRun, true)]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotRunError;

impl fmt::Display for NotRunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("async cleanup dropped without running (the stack was not closed with aclose)")
    }
}

impl Error for NotRunError {}
