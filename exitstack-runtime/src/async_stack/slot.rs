//! Hot-swap slots on an async stack: [`AsyncSlot`], whose `replace` awaits the old value's
//! async release. The sync [`Slot`](crate::Slot), with async teardowns (see `slot.rs`).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use super::handle::AsyncEntered;
use super::scope::catch_panic;
use super::stack::AsyncExitStack;
use crate::entry::Guard;
use crate::error::{BoxError, CleanupError};
use crate::output::CleanupOutput;
use crate::slot::release_panicked;
use crate::threading::{Admits, Local, Sendable, Threading};

/// The future of a slot value's async release, on a stack of mode `S`.
pub(crate) struct Release<'a, S> {
    future: Pin<Box<dyn Future<Output = Result<(), BoxError>> + 'a>>,
    _mode: PhantomData<fn() -> S>,
}

// SAFETY: a `Release<'_, Sendable>` is only made by an `AsyncTeardown<'_, _, Sendable>`, whose
// `new` required `Sendable: Admits<Fut>`, so the boxed future is `Send`; or by `Release::done`,
// which holds a `Send` future.
unsafe impl Send for Release<'_, Sendable> {}

impl<S> Release<'_, S> {
    fn done() -> Self {
        Release {
            future: Box::pin(std::future::ready(Ok(()))),
            _mode: PhantomData,
        }
    }
}

impl<S> Future for Release<'_, S> {
    type Output = Result<(), BoxError>;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.get_mut().future.as_mut().poll(cx)
    }
}

/// An async teardown of a value in a slot of a stack of mode `S`.
pub(crate) struct AsyncTeardown<'a, T, S> {
    start: Box<dyn FnOnce(T) -> Release<'a, S> + 'a>,
}

// SAFETY: an `AsyncTeardown<'_, _, Sendable>` is only made by `new` with
// `Sendable: Admits<F>`, which requires the closure `F` (all the box holds) to be `Send`.
unsafe impl<T> Send for AsyncTeardown<'_, T, Sendable> {}

impl<'a, T, S: Threading> AsyncTeardown<'a, T, S> {
    fn new<F, Fut>(teardown: F) -> Self
    where
        F: FnOnce(T) -> Fut + 'a,
        Fut: Future + 'a,
        Fut::Output: CleanupOutput,
        S: Admits<F> + Admits<Fut>,
    {
        let start = move |value| {
            let future = teardown(value);
            Release {
                future: Box::pin(async move { future.await.into_result() }),
                _mode: PhantomData,
            }
        };
        AsyncTeardown {
            start: Box::new(start),
        }
    }
}

/// What an async slot's entry holds: the current value and its async teardown, if any.
pub(crate) struct AsyncSlotState<'a, T, S> {
    current: Option<(T, AsyncTeardown<'a, T, S>)>,
}

impl<'a, T, S> AsyncSlotState<'a, T, S> {
    /// The entry's async teardown: releases the value in the slot, if any.
    fn release(self) -> Release<'a, S> {
        match self.current {
            Some((value, teardown)) => (teardown.start)(value),
            None => Release::done(),
        }
    }
}

/// One position in an [`AsyncExitStack`] whose value can be swapped, released asynchronously:
/// [`replace`](AsyncSlot::replace) awaits the old value's release; the value in the slot when
/// the stack closes is released by `aclose`, in the slot's place. Made by
/// [`AsyncExitStack::async_slot`]; otherwise as [`Slot`](crate::Slot).
///
/// # Examples
///
/// ```
/// use exitstack::AsyncExitStack;
/// use std::sync::Mutex;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let released = Mutex::new(Vec::new());
/// let release = |n: u32| {
///     let released = &released;
///     async move {
///         tokio::task::yield_now().await; // e.g. close the old connection
///         released.lock().unwrap().push(n);
///     }
/// };
/// let mut stack = AsyncExitStack::new();
/// let mut connection = stack.async_slot();
/// connection.replace(1, release).await.unwrap();
/// connection.replace(2, release).await.unwrap(); // 1 is released here
/// assert_eq!(connection.get(), Some(&2));
/// drop(connection);
/// stack.aclose().await.unwrap(); // 2 is released here
/// assert_eq!(*released.lock().unwrap(), [1, 2]);
/// # });
/// ```
pub struct AsyncSlot<'s, 'a, T, S: Threading = Local> {
    entered: AsyncEntered<'s, AsyncSlotState<'a, T, S>, S>,
    label: Option<Cow<'static, str>>,
}

impl<'a, S: Threading> AsyncExitStack<'a, S> {
    /// Takes one position in the stack for a value that can be replaced and is released
    /// asynchronously (see [`AsyncSlot`]). The slot starts empty.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut stack = AsyncExitStack::new();
    /// let mut slot = stack.async_slot();
    /// slot.replace("a", |_| async { Err::<(), _>("a refused") }).await.unwrap();
    /// drop(slot);
    /// assert_eq!(stack.aclose().await.unwrap_err().first().error().to_string(), "a refused");
    /// # });
    /// ```
    #[track_caller]
    pub fn async_slot<T>(&self) -> AsyncSlot<'_, 'a, T, S>
    where
        T: 'a,
        S: Admits<T>,
    {
        let empty = AsyncSlotState::<'a, T, S> { current: None };
        // Not `async_guard`, whose `Admits` bound on the state cannot be proven for a generic
        // `S`: the state is `Send` when `T` is (`AsyncTeardown`), the future when the
        // teardowns' are (`Release`), which `S: Admits<T>` and `replace` require.
        let entered = self.push_async_holding(Guard {
            value: empty,
            teardown: AsyncSlotState::release,
        });
        AsyncSlot {
            entered,
            label: None,
        }
    }
}

impl<'a, T: 'a, S: Threading> AsyncSlot<'_, 'a, T, S> {
    /// Puts `value` in the slot with its async `teardown`, then returns a future that awaits
    /// the release of the value it replaced, resolving to that release's error. The swap is
    /// made at once, before the future is first polled; dropping the future before it finished
    /// drops the old value with its unfinished release.
    ///
    /// ```
    /// use exitstack::SendAsyncExitStack;
    ///
    /// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
    /// let mut stack = SendAsyncExitStack::new_send();
    /// let mut slot = stack.async_slot();
    /// slot.replace(1, |_| async { Err::<(), _>("stale") }).await.unwrap();
    /// let error = slot.replace(2, |_| async {}).await.unwrap_err();
    /// assert_eq!(error.error().to_string(), "stale");
    /// drop(slot);
    /// stack.aclose().await.unwrap();
    /// # });
    /// ```
    pub fn replace<F, Fut>(
        &mut self,
        value: T,
        teardown: F,
    ) -> impl Future<Output = Result<(), CleanupError>> + 'a + use<'a, T, S, F, Fut>
    where
        F: FnOnce(T) -> Fut + 'a,
        Fut: Future + 'a,
        Fut::Output: CleanupOutput,
        S: Admits<F> + Admits<Fut>,
    {
        let new = (value, AsyncTeardown::new(teardown));
        let old = self.entered.current.replace(new);
        self.release_later(old)
    }

    /// Releases the value in the slot now, awaiting its teardown; the slot is empty afterwards.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let stack = AsyncExitStack::new();
    /// let mut slot = stack.async_slot();
    /// slot.replace(1, |_| async { Err::<(), _>("one") }).await.unwrap();
    /// assert!(slot.clear().await.is_err());
    /// assert_eq!(slot.get(), None);
    /// # });
    /// ```
    pub fn clear(&mut self) -> impl Future<Output = Result<(), CleanupError>> + 'a + use<'a, T, S> {
        let old = self.entered.current.take();
        self.release_later(old)
    }

    /// The future that releases `old`, its errors named as the slot's entry.
    fn release_later(
        &self,
        old: Option<(T, AsyncTeardown<'a, T, S>)>,
    ) -> impl Future<Output = Result<(), CleanupError>> + 'a + use<'a, T, S> {
        let release = AsyncSlotState { current: old }.release();
        let (label, location) = (self.label.clone(), self.location());
        async move {
            match catch_panic(release).await {
                Ok(result) => result.map_err(|error| {
                    let mut error = CleanupError::new(error);
                    error.set_site(label, location);
                    error
                }),
                Err(payload) => {
                    release_panicked(payload, label, location);
                    Ok(())
                }
            }
        }
    }

    /// Takes the value out of the slot without releasing it.
    ///
    /// ```
    /// let stack = exitstack::AsyncExitStack::new();
    /// let mut slot = stack.async_slot();
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// slot.replace(3, |_| async { unreachable!() }).await.unwrap();
    /// # });
    /// assert_eq!(slot.take(), Some(3));
    /// ```
    pub fn take(&mut self) -> Option<T> {
        self.entered.current.take().map(|(value, _)| value)
    }

    /// The value in the slot, if any.
    ///
    /// ```
    /// let stack = exitstack::AsyncExitStack::new();
    /// let slot = stack.async_slot::<u8>();
    /// assert_eq!(slot.get(), None);
    /// ```
    pub fn get(&self) -> Option<&T> {
        self.entered.current.as_ref().map(|(value, _)| value)
    }

    /// The value in the slot, mutably, if any.
    ///
    /// ```
    /// let stack = exitstack::AsyncExitStack::new();
    /// let mut slot = stack.async_slot();
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// slot.replace(vec![1], |_| async {}).await.unwrap();
    /// # });
    /// slot.get_mut().unwrap().push(2);
    /// assert_eq!(slot.get(), Some(&vec![1, 2]));
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.entered.current.as_mut().map(|(value, _)| value)
    }

    /// Names the slot's entry in error reports (the errors `replace` returns too).
    ///
    /// ```
    /// let stack = exitstack::AsyncExitStack::new();
    /// let slot = stack.async_slot::<u8>().label("session");
    /// # let _ = slot;
    /// ```
    pub fn label(mut self, label: impl Into<Cow<'static, str>>) -> Self {
        let label = label.into();
        self.entered = self.entered.label(label.clone());
        self.label = Some(label);
        self
    }

    /// Where the slot was taken.
    ///
    /// ```
    /// let stack = exitstack::AsyncExitStack::new();
    /// let line = line!() + 1;
    /// let slot = stack.async_slot::<u8>();
    /// assert_eq!(slot.location().line(), line);
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.entered.location()
    }
}

impl<'a, T: fmt::Debug + 'a, S: Threading> fmt::Debug for AsyncSlot<'_, 'a, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSlot")
            .field("value", &self.get())
            .field("label", &self.label)
            .finish()
    }
}
