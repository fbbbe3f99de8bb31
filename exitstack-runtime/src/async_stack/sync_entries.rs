//! The sync registrations of [`AsyncExitStack`]: the same as [`ExitStack`]'s, in the one order
//! shared with the async entries. Inherent methods rather than `Deref<Target = ExitStack>`: an
//! async stack is not a smart pointer to a sync one (the API guidelines' C-DEREF), and `Deref`
//! would also reach `ExitStack` methods whose meaning differs here (`is_empty`, which counts an
//! interrupted `aclose`, and `push_stack`, which takes a sync stack).

use super::stack::AsyncExitStack;
use crate::context::{Close, Context};
use crate::error::BoxError;
use crate::exit::Exit;
use crate::handle::{Entered, Handle};
use crate::output::{CleanupOutput, ExitOutput};
use crate::stack::ExitStack;
use crate::threading::{Admits, Threading};

impl<'a, S: Threading> AsyncExitStack<'a, S> {
    /// Registers a sync cleanup: [`ExitStack::callback`].
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    /// use std::sync::{Arc, Mutex};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let mut stack = AsyncExitStack::new();
    /// let first = log.clone();
    /// stack.callback(move || first.lock().unwrap().push("sync"));
    /// let second = log.clone();
    /// stack.push_async_callback(move || async move { second.lock().unwrap().push("async") });
    /// stack.aclose().await.unwrap();
    /// assert_eq!(*log.lock().unwrap(), ["async", "sync"]);
    /// # });
    /// ```
    #[inline]
    #[track_caller]
    pub fn callback<F, R>(&self, f: F) -> Handle<'_, S>
    where
        F: FnOnce() -> R + 'a,
        R: CleanupOutput,
        S: Admits<F>,
    {
        self.sync.callback(f)
    }

    /// Registers a sync cleanup that runs only if the scope ends badly:
    /// [`ExitStack::callback_on_error`].
    #[track_caller]
    pub fn callback_on_error<F, R>(&self, f: F) -> Handle<'_, S>
    where
        F: FnOnce() -> R + 'a,
        R: CleanupOutput,
        S: Admits<F>,
    {
        self.sync.callback_on_error(f)
    }

    /// Registers a sync cleanup that runs only if the scope succeeds:
    /// [`ExitStack::callback_on_success`].
    #[track_caller]
    pub fn callback_on_success<F, R>(&self, f: F) -> Handle<'_, S>
    where
        F: FnOnce() -> R + 'a,
        R: CleanupOutput,
        S: Admits<F>,
    {
        self.sync.callback_on_success(f)
    }

    /// Registers a sync cleanup that may register more sync cleanups while the stack unwinds:
    /// [`ExitStack::callback_with_stack`].
    #[track_caller]
    pub fn callback_with_stack<F, R>(&self, f: F) -> Handle<'_, S>
    where
        F: FnOnce(&ExitStack<'a, S>) -> R + 'a,
        R: CleanupOutput,
        S: Admits<F>,
    {
        self.sync.callback_with_stack(f)
    }

    /// Registers a sync exit handler: [`ExitStack::push_exit`].
    #[track_caller]
    pub fn push_exit<F, R>(&self, handler: F) -> Handle<'_, S>
    where
        F: FnOnce(&Exit<'_>) -> R + 'a,
        R: ExitOutput,
        S: Admits<F>,
    {
        self.sync.push_exit(handler)
    }

    /// Moves `value` into the stack, which drops it when it unwinds: [`ExitStack::enter`].
    #[track_caller]
    pub fn enter<T>(&self, value: T) -> Entered<'_, T, S>
    where
        T: 'a,
        S: Admits<T>,
    {
        self.sync.enter(value)
    }

    /// Moves `value` into the stack, which releases it through [`Close::close`]:
    /// [`ExitStack::enter_closing`].
    #[track_caller]
    pub fn enter_closing<T>(&self, value: T) -> Entered<'_, T, S>
    where
        T: Close + 'a,
        S: Admits<T>,
    {
        self.sync.enter_closing(value)
    }

    /// Moves `value` into the stack with its own sync teardown: [`ExitStack::guard`].
    #[track_caller]
    pub fn guard<T, F, R>(&self, value: T, teardown: F) -> Entered<'_, T, S>
    where
        T: 'a,
        F: FnOnce(T) -> R + 'a,
        R: CleanupOutput,
        S: Admits<(T, F)>,
    {
        self.sync.guard(value, teardown)
    }

    /// Enters a sync [`Context`]: [`ExitStack::enter_context`].
    #[track_caller]
    pub fn enter_context<C>(&self, context: C) -> Result<Entered<'_, C::Target, S>, C::Error>
    where
        C: Context + 'a,
        C::Target: 'a,
        C::Error: Into<BoxError>,
        S: Admits<C::Target>,
    {
        self.sync.enter_context(context)
    }

    /// Pushes a whole sync stack as one entry: [`ExitStack::push_stack`]. (An async stack is
    /// pushed with [`push_async_stack`](Self::push_async_stack).)
    #[track_caller]
    pub fn push_stack(&self, other: ExitStack<'a, S>) -> Handle<'_, S> {
        self.sync.push_stack(other)
    }
}
