//! Hot-swap slots: one position in a stack whose value can be replaced, the old one released at
//! once, the last one released with the stack. [`Slot`], made by [`ExitStack::slot`].
//!
//! A slot is an ordinary [`guard`](ExitStack::guard) entry whose value is the slot's state (the
//! current value and its teardown, or nothing); the [`Slot`] handle is its [`Entered`]. So the
//! entry's place in the order, its labels, and its release at unwind are those of any entry,
//! and a thousand swaps use one entry. The handle borrows the stack; `replace` takes
//! `&mut self` and `get` lends `&T` for as long as `&self`, so a value cannot be replaced while
//! a reference to it is alive.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe, Location};

use crate::caught;
use crate::entry::{Guard, SyncStorage};
use crate::error::{BoxError, CleanupError};
use crate::handle::Entered;
use crate::output::CleanupOutput;
use crate::report::ReportReason;
use crate::site::Site;
use crate::stack::ExitStack;
use crate::threading::{Admits, Local, Sendable, Threading};

/// A teardown of a value in a slot of a stack of mode `S`.
pub(crate) struct SlotTeardown<'a, T, S> {
    run: Box<dyn FnOnce(T) -> Result<(), BoxError> + 'a>,
    _mode: PhantomData<fn() -> S>,
}

// SAFETY: a `SlotTeardown<'_, _, Sendable>` is only made by `new` with `Sendable: Admits<F>`,
// which requires the closure `F` (all the box holds) to be `Send`. The value it is called with
// is moved separately (the slot's state is `Send` only when `T` is).
unsafe impl<T> Send for SlotTeardown<'_, T, Sendable> {}

impl<'a, T, S: Threading> SlotTeardown<'a, T, S> {
    fn new<F, R>(teardown: F) -> Self
    where
        F: FnOnce(T) -> R + 'a,
        R: CleanupOutput,
        S: Admits<F>,
    {
        SlotTeardown {
            run: Box::new(move |value| teardown(value).into_result()),
            _mode: PhantomData,
        }
    }
}

/// What a slot's entry holds: the current value and its teardown, if any.
pub(crate) struct SlotState<'a, T, S> {
    current: Option<(T, SlotTeardown<'a, T, S>)>,
}

impl<T, S> SlotState<'_, T, S> {
    /// The entry's teardown: releases the value in the slot, if any.
    fn release(self) -> Result<(), BoxError> {
        match self.current {
            Some((value, teardown)) => (teardown.run)(value),
            None => Ok(()),
        }
    }
}

/// One position in an [`ExitStack`] whose value can be swapped: [`replace`](Slot::replace)
/// releases the old value now, returning its error; the value in the slot when the stack
/// unwinds is released then, in the slot's place, its error joining the stack's result.
///
/// Made by [`ExitStack::slot`]; it borrows the stack, like an [`Entered`]. Dropping the handle
/// leaves the entry (and its value) registered.
///
/// # Examples
///
/// ```
/// use exitstack::ExitStack;
/// use std::cell::RefCell;
///
/// let released = RefCell::new(Vec::new());
/// let mut stack = ExitStack::new();
/// let mut config = stack.slot();
/// for version in 1..=3 {
///     config.replace(version, |v| released.borrow_mut().push(v)).unwrap();
/// }
/// assert_eq!(config.get(), Some(&3));
/// assert_eq!(*released.borrow(), [1, 2]); // each old value released as it was replaced
/// drop(config);
/// stack.close().unwrap();
/// assert_eq!(*released.borrow(), [1, 2, 3]); // the last one with the stack
/// ```
pub struct Slot<'s, 'a, T, S: Threading = Local> {
    entered: Entered<'s, SlotState<'a, T, S>, S>,
    label: Option<Cow<'static, str>>,
}

impl<'a, S: Threading> ExitStack<'a, S> {
    /// Takes one position in the stack for a value that can be replaced (see [`Slot`]). The
    /// slot starts empty.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let mut stack = ExitStack::new();
    /// let mut slot = stack.slot();
    /// assert_eq!(slot.get(), None);
    /// slot.replace("first", |_| Err::<(), _>("first refused")).unwrap(); // nothing to release yet
    /// let error = slot.replace("second", |_| ()).unwrap_err(); // released now
    /// assert_eq!(error.error().to_string(), "first refused");
    /// drop(slot);
    /// stack.close().unwrap(); // releases "second"
    /// ```
    #[track_caller]
    pub fn slot<T>(&self) -> Slot<'_, 'a, T, S>
    where
        T: 'a,
        S: Admits<T>,
    {
        let empty = SlotState::<'a, T, S> { current: None };
        let body = Guard {
            value: empty,
            teardown: SlotState::release,
        };
        // Not `guard`, whose `Admits` bound on the state cannot be proven for a generic `S`:
        // the state is `Send` when `T` is (`SlotTeardown`), which `S: Admits<T>` requires.
        let entered = self.push_holding_stored::<SyncStorage, _>(body, Location::caller());
        Slot {
            entered,
            label: None,
        }
    }
}

impl<'a, T, S: Threading> Slot<'_, 'a, T, S> {
    /// Puts `value` in the slot, with the `teardown` that will release it, and releases the
    /// value it replaces now (after the new one is in place), returning that teardown's error.
    /// A panic of that teardown goes on to the caller, unless the thread is already panicking:
    /// then it is reported (the new value stays in the slot either way).
    ///
    /// ```
    /// use exitstack::ExitStack;
    /// use std::cell::Cell;
    ///
    /// let releases = Cell::new(0);
    /// let mut stack = ExitStack::new();
    /// let mut slot = stack.slot();
    /// for n in 0..1000 {
    ///     slot.replace(n, |_| releases.set(releases.get() + 1)).unwrap();
    /// }
    /// assert_eq!(releases.get(), 999);
    /// drop(slot);
    /// stack.close().unwrap();
    /// assert_eq!(releases.get(), 1000);
    /// ```
    pub fn replace<F, R>(&mut self, value: T, teardown: F) -> Result<(), CleanupError>
    where
        F: FnOnce(T) -> R + 'a,
        R: CleanupOutput,
        S: Admits<F>,
    {
        let new = (value, SlotTeardown::new(teardown));
        let old = self.entered.current.replace(new);
        self.release_now(old)
    }

    /// Releases the value in the slot now, returning its teardown's error; the slot is empty
    /// afterwards (and releases nothing at unwind, unless filled again).
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let mut stack = ExitStack::new();
    /// let mut slot = stack.slot();
    /// slot.replace(1, |_| Err::<(), _>("one")).unwrap();
    /// assert!(slot.clear().is_err());
    /// assert!(slot.clear().is_ok()); // empty: nothing to release
    /// assert_eq!(slot.get(), None);
    /// ```
    pub fn clear(&mut self) -> Result<(), CleanupError> {
        let old = self.entered.current.take();
        self.release_now(old)
    }

    /// Takes the value out of the slot without releasing it; the slot is empty afterwards.
    ///
    /// ```
    /// let stack = exitstack::ExitStack::new();
    /// let mut slot = stack.slot();
    /// slot.replace(String::from("kept"), |_| unreachable!()).unwrap();
    /// assert_eq!(slot.take().as_deref(), Some("kept"));
    /// ```
    pub fn take(&mut self) -> Option<T> {
        self.entered.current.take().map(|(value, _)| value)
    }

    /// The value in the slot, if any.
    ///
    /// ```
    /// let stack = exitstack::ExitStack::new();
    /// let mut slot = stack.slot();
    /// slot.replace(5, |_| ()).unwrap();
    /// assert_eq!(slot.get(), Some(&5));
    /// ```
    pub fn get(&self) -> Option<&T> {
        self.entered.current.as_ref().map(|(value, _)| value)
    }

    /// The value in the slot, mutably, if any.
    ///
    /// ```
    /// let stack = exitstack::ExitStack::new();
    /// let mut slot = stack.slot();
    /// slot.replace(vec![1], |_| ()).unwrap();
    /// slot.get_mut().unwrap().push(2);
    /// assert_eq!(slot.get(), Some(&vec![1, 2]));
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.entered.current.as_mut().map(|(value, _)| value)
    }

    /// Names the slot's entry in error reports (the errors `replace` returns too).
    ///
    /// ```
    /// let stack = exitstack::ExitStack::new();
    /// let mut slot = stack.slot().label("current config");
    /// slot.replace(1, |_| Err::<(), _>("stale")).unwrap();
    /// let error = slot.replace(2, |_| ()).unwrap_err();
    /// assert_eq!(error.label(), Some("current config"));
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
    /// let stack = exitstack::ExitStack::new();
    /// let line = line!() + 1;
    /// let slot = stack.slot::<u8>();
    /// assert_eq!(slot.location().line(), line);
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.entered.location()
    }

    fn release_now(&self, old: Option<(T, SlotTeardown<'a, T, S>)>) -> Result<(), CleanupError> {
        let Some((value, teardown)) = old else {
            return Ok(());
        };
        let released = panic::catch_unwind(AssertUnwindSafe(|| (teardown.run)(value)));
        match released {
            Ok(result) => result.map_err(|error| self.error(error)),
            Err(payload) => {
                self.panicked(payload);
                Ok(())
            }
        }
    }

    /// The error of a release made through the handle, named as the slot's entry.
    fn error(&self, error: BoxError) -> CleanupError {
        let mut error = CleanupError::new(error);
        error.set_site(self.label.clone(), self.location());
        error
    }

    /// A release's panic: goes on, or is reported when the thread is already panicking.
    fn panicked(&self, payload: caught::Payload) {
        release_panicked(payload, self.label.clone(), self.location());
    }
}

/// The panic of a slot's release (sync or async): goes on, or is reported when the thread is
/// already panicking (a slot replaced from a `Drop` during a panic must not abort).
pub(crate) fn release_panicked(
    payload: caught::Payload,
    label: Option<Cow<'static, str>>,
    location: &'static Location<'static>,
) {
    if !std::thread::panicking() {
        panic::resume_unwind(payload);
    }
    let mut site = Site::new(location);
    if let Some(label) = label {
        site.set_label(label);
    }
    caught::report_panic(ReportReason::PanicDuringPanic, &*payload, Some(&site));
    caught::drop_payload(payload, Some(&site));
}

impl<T: fmt::Debug, S: Threading> fmt::Debug for Slot<'_, '_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("value", &self.get())
            .field("label", &self.label)
            .finish()
    }
}
