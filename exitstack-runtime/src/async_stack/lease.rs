//! Shared leases on an async stack: `share`, `share_async`, `enter_shared`. The last lease, let
//! go by `aclose`, awaits an async teardown.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;

use super::entry::{AsyncExitHandler, AsyncStorage};
use super::handle::AsyncHandle;
use super::stack::AsyncExitStack;
use crate::arena::{StackRef, Step};
use crate::entry::{step_of, Body, SyncStorage};
use crate::exit::Exit;
use crate::lease::{Shared, Teardown};
use crate::output::CleanupOutput;
use crate::stack::ExitStack;
use crate::threading::{Admits, Threading};

/// A lease held by an async stack's entry. A sync entry, so that a lease that is not the last
/// costs nothing anywhere (and a dropped stack reports nothing for it). The last lease with an
/// async teardown registers that teardown as an async entry on the stack being unwound, which
/// runs it next: `aclose` awaits it (its error joins the result), a dropped stack reports it as
/// not run (or spawns it, with `spawn_on_drop`), a handle's `release` awaits it.
pub(crate) struct AsyncLease<'a, S: Threading, T> {
    shared: Shared<T>,
    /// The stack it is pushed on: an `ExitStack<'a, S>` (an async stack's sync half).
    _stack: PhantomData<fn(&ExitStack<'a, S>)>,
}

impl<'a, S: Threading, T: 'a> Body for AsyncLease<'a, S, T> {
    fn run(mut self, exit: &Exit<'_>, stack: StackRef) -> Step {
        let Some(last) = self.shared.take_last() else {
            return Step::DONE;
        };
        let (value, location) = (last.value, last.location);
        let teardown = match last.teardown {
            Teardown::Sync(teardown) => return step_of(teardown(value, exit)),
            Teardown::Async(teardown) => teardown,
        };
        // SAFETY: an `AsyncLease<'a, S, _>` is pushed only on an `ExitStack<'a, S>` (the sync
        // half of an `AsyncExitStack<'a, S>`) and moves only between stacks of that type; the
        // loop (or a handle run now) passes that stack, alive and shared-borrowed for the whole
        // run (see `WithStack` in `stack/mod.rs`).
        let stack = unsafe { stack.get::<ExitStack<'a, S>>() };
        // The entry below is `Send` whatever `S`: the teardown is `Send`, its future is `Send`,
        // and for a `Sendable` stack `enter_shared` required `Shared<T>: Send`, so `T: Send`.
        // A sync loop that reaches it (a stack moved into a plain `ExitStack`) fails it with
        // `NotRunError`, dropping the value.
        // An exit handler, so that the teardown sees the `Exit` when it runs, as any entry does.
        let release = AsyncExitHandler(move |exit: &Exit<'_>| teardown(value, exit));
        stack.push_stored::<AsyncStorage<'a, S>, _>(release, location);
        Step::DONE
    }
}

impl<'a, S: Threading> AsyncExitStack<'a, S> {
    /// Shares `value` with a sync teardown: [`ExitStack::share`].
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut stack = AsyncExitStack::new();
    /// let shared = stack.share(3, |n, _| Err::<(), _>(format!("released {n}")));
    /// assert_eq!(*shared, 3);
    /// drop(shared);
    /// assert_eq!(stack.aclose().await.unwrap_err().first().error().to_string(), "released 3");
    /// # });
    /// ```
    #[track_caller]
    pub fn share<T, F, R>(&self, value: T, teardown: F) -> Shared<T>
    where
        T: 'a,
        F: FnOnce(T, &Exit<'_>) -> R + Send + 'static,
        R: CleanupOutput,
        S: Admits<Shared<T>>,
    {
        let shared = Shared::new(value, teardown);
        self.enter_shared(shared.clone());
        shared
    }

    /// Shares `value` with an async teardown: registers a lease on it in this stack and returns
    /// another. The teardown is awaited by the `aclose` (or handle `release`) that lets go of
    /// the last lease held by an async stack; see [`Shared`] for the other places.
    ///
    /// ```
    /// use exitstack::SendAsyncExitStack;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
    /// let closed = Arc::new(AtomicUsize::new(0));
    /// let counter = closed.clone();
    /// let mut mine = SendAsyncExitStack::new_send();
    /// let pool = mine.share_async(vec!["conn"], move |_, _| async move {
    ///     tokio::task::yield_now().await; // e.g. close every connection
    ///     counter.fetch_add(1, Ordering::SeqCst);
    /// });
    /// let task = tokio::spawn(async move {
    ///     let mut theirs = SendAsyncExitStack::new_send();
    ///     theirs.enter_shared(pool);
    ///     theirs.aclose().await
    /// });
    /// task.await.unwrap().unwrap();
    /// mine.aclose().await.unwrap();
    /// assert_eq!(closed.load(Ordering::SeqCst), 1);
    /// # });
    /// ```
    #[track_caller]
    pub fn share_async<T, F, Fut>(&self, value: T, teardown: F) -> Shared<T>
    where
        T: 'a,
        F: FnOnce(T, &Exit<'_>) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: CleanupOutput,
        S: Admits<Shared<T>>,
    {
        let shared = Shared::new_async(value, teardown);
        self.enter_shared(shared.clone());
        shared
    }

    /// Registers `shared` as a lease of this stack: [`ExitStack::enter_shared`], except that an
    /// async teardown run by the last lease is awaited, by `aclose` or by the handle's
    /// `release().await`.
    ///
    /// ```
    /// use exitstack::{AsyncExitStack, Shared};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let shared = Shared::new_async((), |(), _| async { Err::<(), _>("goodbye failed") });
    /// let mut first = AsyncExitStack::new();
    /// let mut second = AsyncExitStack::new();
    /// first.enter_shared(shared.clone());
    /// second.enter_shared(shared);
    /// assert!(first.aclose().await.is_ok());
    /// assert_eq!(second.aclose().await.unwrap_err().len(), 1);
    ///
    /// let lease = first.enter_shared(Shared::new_async((), |(), _| async { Err::<(), _>("now") }));
    /// assert_eq!(lease.release().await.unwrap_err().len(), 1); // awaited here
    /// assert!(first.aclose().await.is_ok());
    /// # });
    /// ```
    #[track_caller]
    pub fn enter_shared<T>(&self, shared: Shared<T>) -> AsyncHandle<'_, S>
    where
        T: 'a,
        S: Admits<Shared<T>>,
    {
        let lease = AsyncLease::<'a, S, T> {
            shared,
            _stack: PhantomData,
        };
        let handle = self
            .sync
            .push_stored::<SyncStorage, _>(lease, Location::caller());
        AsyncHandle::new(handle)
    }
}
