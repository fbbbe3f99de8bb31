//! Concurrent release groups: several async stacks (branches) pushed as one entry, which takes
//! one place in the stack's last-in-first-out order and, when reached, closes its branches at
//! the same time (each last in first out inside), at most `limit` at once.
//!
//! The entry's future owns the branches and unwinds each as its own `aclose` would, with the
//! group's ending; the unwind's state lives in the branch: so a cancelled `aclose` of the outer
//! stack, which keeps this future in flight, loses nothing, and resuming it finishes every entry
//! exactly once. No runtime is
//! needed: the future polls its running branches with the crate's one join (`join.rs`, which
//! the teardown waves of `#[managed(concurrent)]` share), each with the caller's waker, and a
//! branch that finished is never polled again.

use std::borrow::Cow;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use super::entry::{AsyncBody, Flowed};
use super::handle::AsyncHandle;
use super::join::{poll_joined, JoinState, Joined};
use super::stack::AsyncExitStack;
use crate::caught;
use crate::ending::{Ending, Flow};
use crate::error::CleanupError;
use crate::error_tree::{nest, Frame, GroupFailed, NodeKind};
use crate::exit::Exit;
use crate::threading::{Local, Sendable, Threading};

/// Branches to release concurrently, pushed on an [`AsyncExitStack`] with
/// [`push_concurrent`](AsyncExitStack::push_concurrent).
///
/// Each branch is an [`AsyncExitStack`] built on its own and named by a label (`"branch 1"`,
/// `"branch 2"`, .. when built from an array, a `Vec` or an iterator). When the stack's unwind
/// reaches the group, every branch is closed at once (at most [`limit`](Self::limit) at a
/// time, in the order given), each last in first out inside, and the next entry of the stack
/// runs once all are closed.
///
/// Every error of every branch is kept, and so is every panic, as a
/// [`PanicError`](crate::PanicError) leaf: concurrent branches have no "first" panic to resume,
/// and resuming one would lose the others. In the stack's [`UnwindError`](crate::UnwindError),
/// the group's failures are leaves like any other ([`iter`](crate::UnwindError::iter)), each
/// labelled with its branch unless it had a label of its own; [`tree`](crate::UnwindError::tree)
/// shows them under one concurrent node with a sequential child per branch.
///
/// Branches unwind with the ending of the unwind that reached the group: when the scope
/// failed, panicked or was cancelled, a branch's
/// [`callback_on_error`](AsyncExitStack::callback_on_error) runs and its exit handlers see that
/// [`Ending`](crate::Ending). The scope's error itself stays with the outer stack (a branch's
/// handlers see no error, and cannot suppress it), as do the errors of entries that ran before
/// the group. A stack dropped without `aclose` treats the group as any async entry: it is
/// dropped (reported as not run, or spawned with `spawn_on_drop`), and dropping it drops each
/// branch, which runs its sync entries and reports its async ones.
///
/// # Examples
///
/// ```
/// use exitstack::{AsyncExitStack, ConcurrentGroup};
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let database = AsyncExitStack::new();
/// database.push_async_callback(|| tokio::time::sleep(Duration::from_millis(20)));
/// let cache = AsyncExitStack::new();
/// cache.push_async_callback(|| async { Err("cache refused to flush") }).label("flush");
///
/// let mut stack = AsyncExitStack::new();
/// stack.push_concurrent(ConcurrentGroup::new().branch("database", database).branch("cache", cache));
/// let errors = stack.aclose().await.unwrap_err();
/// assert_eq!(errors.first().label(), Some("flush"));
/// assert_eq!(
///     errors.tree().to_string(),
///     "1 cleanup failed\n\
///      - concurrent\n  \
///        - sequential `cache`\n    \
///          - cleanup `flush` failed: cache refused to flush"
/// );
/// # });
/// ```
pub struct ConcurrentGroup<'a, S: Threading = Local> {
    branches: Vec<(Cow<'static, str>, AsyncExitStack<'a, S>)>,
    limit: usize,
}

impl<'a, S: Threading> ConcurrentGroup<'a, S> {
    /// A group with no branch and no limit.
    ///
    /// ```
    /// let group = exitstack::ConcurrentGroup::<exitstack::Local>::new();
    /// assert_eq!(group.len(), 0);
    /// ```
    pub fn new() -> Self {
        ConcurrentGroup {
            branches: Vec::new(),
            limit: usize::MAX,
        }
    }

    /// Adds a branch, named `label` in errors.
    ///
    /// ```
    /// use exitstack::{AsyncExitStack, ConcurrentGroup};
    ///
    /// let group = ConcurrentGroup::new().branch("a", AsyncExitStack::new());
    /// assert_eq!(group.len(), 1);
    /// ```
    #[must_use]
    pub fn branch(
        mut self,
        label: impl Into<Cow<'static, str>>,
        stack: AsyncExitStack<'a, S>,
    ) -> Self {
        self.branches.push((label.into(), stack));
        self
    }

    /// Closes at most `limit` branches at once (a limit of 0 is taken as 1). With 1, the
    /// branches close one after the other, in the order they were added.
    ///
    /// ```
    /// use exitstack::{AsyncExitStack, ConcurrentGroup};
    /// use std::sync::Mutex;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let log = Mutex::new(Vec::new());
    /// let (first, second) = (AsyncExitStack::new(), AsyncExitStack::new());
    /// first.push_async_callback(|| async { log.lock().unwrap().push(1) });
    /// second.push_async_callback(|| async { log.lock().unwrap().push(2) });
    /// let mut stack = AsyncExitStack::new();
    /// stack.push_concurrent(ConcurrentGroup::from([first, second]).limit(1));
    /// stack.aclose().await.unwrap();
    /// assert_eq!(*log.lock().unwrap(), [1, 2]);
    /// # });
    /// ```
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.max(1);
        self
    }

    /// How many branches the group has.
    ///
    /// ```
    /// use exitstack::{AsyncExitStack, ConcurrentGroup};
    ///
    /// let group: ConcurrentGroup<'_> = (0..3).map(|_| AsyncExitStack::new()).collect();
    /// assert_eq!(group.len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.branches.len()
    }

    /// Whether the group has no branch.
    ///
    /// ```
    /// assert!(exitstack::ConcurrentGroup::<exitstack::Local>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.branches.is_empty()
    }
}

impl<S: Threading> Default for ConcurrentGroup<'_, S> {
    fn default() -> Self {
        ConcurrentGroup::new()
    }
}

impl<'a, S: Threading> FromIterator<AsyncExitStack<'a, S>> for ConcurrentGroup<'a, S> {
    /// Branches labelled `"branch 1"`, `"branch 2"`, .. in order.
    fn from_iter<I: IntoIterator<Item = AsyncExitStack<'a, S>>>(iter: I) -> Self {
        let mut group = ConcurrentGroup::new();
        for (index, stack) in iter.into_iter().enumerate() {
            group = group.branch(format!("branch {}", index + 1), stack);
        }
        group
    }
}

impl<'a, S: Threading, const N: usize> From<[AsyncExitStack<'a, S>; N]> for ConcurrentGroup<'a, S> {
    fn from(branches: [AsyncExitStack<'a, S>; N]) -> Self {
        branches.into_iter().collect()
    }
}

impl<'a, S: Threading> From<Vec<AsyncExitStack<'a, S>>> for ConcurrentGroup<'a, S> {
    fn from(branches: Vec<AsyncExitStack<'a, S>>) -> Self {
        branches.into_iter().collect()
    }
}

impl<S: Threading> std::fmt::Debug for ConcurrentGroup<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<&str> = self.branches.iter().map(|(label, _)| &**label).collect();
        f.debug_struct("ConcurrentGroup")
            .field("branches", &labels)
            .field("limit", &self.limit)
            .finish()
    }
}

impl<'a, S: Threading> AsyncExitStack<'a, S> {
    /// Pushes a [`ConcurrentGroup`] (or anything that makes one: an array or a `Vec` of
    /// stacks) as one async entry: when the unwind reaches it, its branches are closed
    /// concurrently, and the unwind goes on once every branch is closed. See
    /// [`ConcurrentGroup`] for the rules.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    ///
    /// // tokio's paused clock: virtual time, so the check below cannot be flaky.
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let branches = [AsyncExitStack::new(), AsyncExitStack::new(), AsyncExitStack::new()];
    /// for branch in &branches {
    ///     branch.push_async_callback(|| tokio::time::sleep(Duration::from_millis(50)));
    /// }
    /// let mut stack = AsyncExitStack::new();
    /// stack.push_concurrent(branches).label("shutdown");
    /// let started = Instant::now();
    /// stack.aclose().await.unwrap();
    /// assert_eq!(started.elapsed(), Duration::from_millis(50)); // not 150: at the same time
    /// # });
    /// ```
    #[track_caller]
    pub fn push_concurrent(&self, group: impl Into<ConcurrentGroup<'a, S>>) -> AsyncHandle<'_, S> {
        AsyncHandle::new(self.push_async(group.into()))
    }
}

impl<'a, S: Threading> AsyncBody<'a> for ConcurrentGroup<'a, S> {
    fn start(self, exit: &Exit<'_>) -> Pin<Box<dyn Future<Output = Flowed> + 'a>> {
        let ending = exit.ending();
        let branches = self
            .branches
            .into_iter()
            .map(|(label, stack)| Branch {
                label,
                stack,
                ending,
                state: JoinState::Waiting,
                failures: Vec::new(),
            })
            .collect();
        Box::pin(GroupFuture {
            branches,
            limit: self.limit,
        })
    }
}

/// One branch being closed.
struct Branch<'a, S: Threading> {
    label: Cow<'static, str>,
    stack: AsyncExitStack<'a, S>,
    /// The ending of the unwind that reached the group: the branch unwinds with it.
    ending: Ending,
    state: JoinState,
    failures: Vec<CleanupError>,
}

impl<S: Threading> Joined for Branch<'_, S> {
    fn state(&self) -> JoinState {
        self.state
    }

    /// Begins the branch's unwind, with the group's ending; its state lives in the branch.
    fn start(&mut self) {
        self.stack.begin_scope_unwind(self.ending, false, None);
        self.state = JoinState::Running;
    }

    /// Polls the branch's unwind once (never again once it is done). A panic resumed by the
    /// branch's close, once every entry of the branch ran, is kept as a `PanicError` leaf.
    fn poll_joined(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        debug_assert!(self.state == JoinState::Running);
        let stack = &mut self.stack;
        let polled = panic::catch_unwind(AssertUnwindSafe(|| stack.poll_close(cx)));
        self.failures = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(()))) => Vec::new(),
            Ok(Poll::Ready(Err(errors))) => errors.into_vec(),
            Err(payload) => {
                let leaf = CleanupError::from_panic(&*payload);
                caught::drop_payload(payload, None);
                vec![leaf]
            }
        };
        self.state = JoinState::Done;
        Poll::Ready(())
    }
}

/// The future of a group entry: owns its branches, so a cancelled close keeps them.
struct GroupFuture<'a, S: Threading> {
    branches: Vec<Branch<'a, S>>,
    limit: usize,
}

// Nothing in it is pinned structurally: it is polled through `&mut` only.
impl<S: Threading> Unpin for GroupFuture<'_, S> {}

impl<S: Threading> Future for GroupFuture<'_, S> {
    type Output = Flowed;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Flowed> {
        let this = self.get_mut();
        match poll_joined(&mut this.branches, this.limit, cx) {
            Poll::Ready(()) => Poll::Ready(this.finish()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: Threading> GroupFuture<'_, S> {
    /// Every branch's failures, in branch order, each under its branch's node.
    fn finish(&mut self) -> Flowed {
        let mut leaves = Vec::new();
        for branch in &mut self.branches {
            let mut failures = std::mem::take(&mut branch.failures);
            if failures.is_empty() {
                continue;
            }
            let label = &branch.label;
            nest(
                &mut failures,
                &Frame::new(NodeKind::Sequential, Some(label.clone()), None),
            );
            leaves.extend(failures.into_iter().map(|leaf| match leaf.label() {
                Some(_) => leaf,
                None => leaf.with_label(label.clone()),
            }));
        }
        if leaves.is_empty() {
            Ok(Flow::Propagate)
        } else {
            Err(Box::new(GroupFailed(leaves)))
        }
    }
}

/// Dropped before it finished (a stack dropped after a cancelled `aclose`, a time limit or a
/// grace period that cut the group off): the failures of the branches already closed live only
/// here, so they go to [`report::error_in_drop`](crate::report::error_in_drop) (collected into
/// the close's errors when the async loop drops the future, else reported). The branches still
/// running are dropped after, as any dropped stack.
impl<S: Threading> Drop for GroupFuture<'_, S> {
    fn drop(&mut self) {
        if let Err(failed) = self.finish() {
            if let Ok(group) = failed.downcast::<GroupFailed>() {
                crate::report::errors_in_drop(group.0);
            }
        }
    }
}

/// The future of a group on a [`Sendable`] stack is `Send`, as `EntryFuture` requires.
const _: fn(GroupFuture<'static, Sendable>) -> Box<dyn Send> = |future| Box::new(future);
