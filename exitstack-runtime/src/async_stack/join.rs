//! The one small join of the crate: polls several pieces of work together with the caller's
//! waker, at most `limit` at once, starting them in order. It serves the concurrent release
//! groups (`group.rs`, each piece a branch being closed) and the teardown waves of a
//! `#[managed(concurrent)]` struct (`managed_async.rs`, each piece a field being released).
//!
//! No runtime is needed: each running piece is polled in turn on every poll, and a piece that
//! finished is never polled again.

use std::task::{Context as TaskContext, Poll};

/// Where a piece of joined work stands.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinState {
    /// Not started: waiting for a free place.
    Waiting,
    /// Started, not finished.
    Running,
    /// Finished; never polled again.
    Done,
}

/// A piece of work polled by [`poll_joined`].
#[doc(hidden)]
pub trait Joined {
    /// Where it stands.
    fn state(&self) -> JoinState;
    /// Starts it (`Waiting` to `Running`, or straight to `Done` if there is nothing to do).
    fn start(&mut self);
    /// Polls it while `Running`; once it returns `Ready`, it is `Done`.
    fn poll_joined(&mut self, cx: &mut TaskContext<'_>) -> Poll<()>;
}

impl<J: Joined + ?Sized> Joined for &mut J {
    fn state(&self) -> JoinState {
        (**self).state()
    }
    fn start(&mut self) {
        (**self).start();
    }
    fn poll_joined(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        (**self).poll_joined(cx)
    }
}

/// Nothing to do: done from the start.
impl<J: Joined> Joined for Option<J> {
    fn state(&self) -> JoinState {
        self.as_ref().map_or(JoinState::Done, Joined::state)
    }
    fn start(&mut self) {
        if let Some(item) = self {
            item.start();
        }
    }
    fn poll_joined(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        self.as_mut()
            .map_or(Poll::Ready(()), |item| item.poll_joined(cx))
    }
}

/// Polls `items` together: starts waiting ones in order while fewer than `limit` run, polls
/// every running one, and is ready once all are done. A piece that finishes frees its place at
/// once: the next one starts in the same poll, not at the next wake.
#[doc(hidden)]
pub fn poll_joined<J: Joined>(items: &mut [J], limit: usize, cx: &mut TaskContext<'_>) -> Poll<()> {
    let limit = limit.max(1);
    loop {
        let running = count(items, JoinState::Running);
        let mut free = limit.saturating_sub(running);
        for item in items.iter_mut() {
            if free == 0 {
                break;
            }
            if item.state() == JoinState::Waiting {
                item.start();
                free -= 1;
            }
        }
        let mut finished = false;
        for item in items.iter_mut() {
            if item.state() == JoinState::Running {
                finished |= item.poll_joined(cx).is_ready();
            }
        }
        if count(items, JoinState::Done) == items.len() {
            return Poll::Ready(());
        }
        if !finished || count(items, JoinState::Waiting) == 0 {
            return Poll::Pending;
        }
    }
}

fn count<J: Joined>(items: &[J], state: JoinState) -> usize {
    items.iter().filter(|item| item.state() == state).count()
}
