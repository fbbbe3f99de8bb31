//! A log of lines on the current thread, for tests whose cleanups must be `'static` functions
//! (a `#[with_stack]` function cannot borrow a log from its caller's frame).
//!
//! ```
//! use exitstack_tests::thread_log::{log, taken};
//!
//! log("first");
//! log(String::from("second"));
//! assert_eq!(taken(), ["first", "second"]);
//! assert!(taken().is_empty());
//! ```

use std::cell::RefCell;

thread_local! {
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Appends a line.
pub fn log(line: impl Into<String>) {
    LOG.with(|log| log.borrow_mut().push(line.into()));
}

/// Takes every line logged so far, leaving the log empty.
pub fn taken() -> Vec<String> {
    LOG.with(|log| std::mem::take(&mut *log.borrow_mut()))
}
