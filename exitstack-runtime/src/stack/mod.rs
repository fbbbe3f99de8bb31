//! [`ExitStack`]: the type and its registrations (`release.rs`: `pop_all`, `close`, `Drop`).

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::ptr::NonNull;

mod close_with;
mod release;

pub(crate) use close_with::closed_with;
pub(crate) use release::dropped_ending;

use crate::arena::{fits_inline, Arena, StackRef, Step, Word};
use crate::caught::{self, Payload};
use crate::context::{Close, Context};
use crate::entry::{
    step_of, Body, Boxed, Callback, Closed, ContextExit, Dropped, ExitHandler, Guard, Holds,
    Nested, OnEnding, Storage, SyncStorage,
};
use crate::error::BoxError;
use crate::exit::Exit;
use crate::handle::{Entered, Handle};
use crate::output::{CleanupOutput, ExitOutput};
use crate::site::Site;
use crate::threading::sealed::Sealed;
use crate::threading::{Admits, Local, Sendable, Threading};

/// A last-in-first-out stack of cleanups, unwound on `close`, at the end of a
/// [`scope`](ExitStack::scope), or on drop, whatever happened before.
///
/// Registration takes `&self`, so values returned by [`enter`](ExitStack::enter) stay usable
/// while more is registered; [`close`](ExitStack::close) and [`pop_all`](ExitStack::pop_all)
/// take `&mut self`, so nothing registered can be touched once it has been released.
///
/// `'a` bounds what the cleanups may borrow. `S` is [`Local`] (any entry, stays on its thread)
/// or [`Sendable`] (only `Send` entries, and the stack is `Send`; see [`SendExitStack`]).
///
/// # Examples
///
/// ```
/// use exitstack::ExitStack;
/// use std::cell::RefCell;
///
/// let log = RefCell::new(Vec::new());
/// let mut stack = ExitStack::new();
/// stack.callback(|| log.borrow_mut().push("registered first, runs last"));
/// stack.callback(|| log.borrow_mut().push("registered last, runs first"));
/// stack.close().unwrap();
/// assert_eq!(*log.borrow(), ["registered last, runs first", "registered first, runs last"]);
/// ```
pub struct ExitStack<'a, S: Threading = Local> {
    /// Dropped by `ExitStack::drop` only when it holds entries or memory, so that dropping the
    /// common stack (unwound, never past its inline words) is one inline check.
    arena: ManuallyDrop<Arena>,
    /// Serializes the `&self` methods that work on the arena's bookkeeping: nothing for
    /// [`Local`] (a zero-sized `()`), a spin flag for [`Sendable`], which is `Sync`.
    flag: <S as Sealed>::Flag,
    /// Invariant in `'a`: a stack must not be coerced to accept shorter-lived cleanups.
    _entries: PhantomData<(Invariant<'a>, S)>,
}

/// Makes a type invariant in `'a` (clippy's `type_complexity` objects to spelling it inline).
type Invariant<'a> = fn(&'a ()) -> &'a ();

/// An [`ExitStack`] that takes only `Send` entries and is `Send` and `Sync` itself: move it to
/// another thread, hold it across `.await` in a multi-threaded runtime, or register on one
/// `&stack` from several threads (each thread's entries unwind in its own LIFO order).
///
/// ```
/// use exitstack::SendExitStack;
///
/// fn assert_send<T: Send>(_: &T) {}
/// let stack = SendExitStack::new_send();
/// stack.callback(|| ());
/// assert_send(&stack);
/// ```
pub type SendExitStack<'a> = ExitStack<'a, Sendable>;

// SAFETY: a `Sendable` stack admits only `Send` entries (`Admits<T>` for `Sendable` requires
// `T: Send`), so every body in its arena may be run or dropped on another thread; the arena's
// raw chunk pointers are owned exclusively by the stack.
unsafe impl Send for ExitStack<'_, Sendable> {}

// SAFETY: what a `&ExitStack` can do from several threads at once:
// - register (`push_stored`) and ask `is_empty`: the only `&self` paths into the arena's shared
//   bookkeeping (`Chunks`, behind an `UnsafeCell`). Both hold the stack's `SpinFlag` for the
//   whole arena call (`S::exclusive`), so the `&mut Chunks` each makes is the only one alive,
//   and the flag's `Acquire`/`Release` orders one holder's writes before the next one's reads.
//   The section runs no user code (a body is moved in bit for bit), so it cannot re-enter.
// - reach single entries through handles: each entry's words (body, vtable word, site word)
//   are written once by the push that reserved them, under the flag, and afterwards touched
//   only by the one handle that push returned (`Handle`'s `Send`/`Sync` impls in `handle.rs`
//   say what a handle may do on another thread). Words of different entries never overlap,
//   and the arena never moves or frees words while the stack is borrowed (chunks never move,
//   the inline words move only with the stack itself).
// - run user code: a handle's `release` runs its entry on the calling thread after taking it
//   out of its slot, with no flag held; an entry that registers more (`callback_with_stack`)
//   goes through `push_stored` like any other registration. Every body is `Send` (see `Send`).
// Popping, splicing and dropping entries need `&mut` (or an owned stack), so they never run
// while any `&ExitStack` or handle exists.
unsafe impl Sync for ExitStack<'_, Sendable> {}

impl<'a> ExitStack<'a, Local> {
    /// An empty stack. Its first entries (four of up to three words, or more smaller ones)
    /// live in the stack itself: a small stack allocates nothing.
    ///
    /// ```
    /// let mut stack = exitstack::ExitStack::new();
    /// assert!(stack.is_empty());
    /// stack.close().unwrap(); // an empty stack is the null context
    /// ```
    #[inline]
    pub fn new() -> Self {
        ExitStack::empty()
    }
}

impl<'a> ExitStack<'a, Sendable> {
    /// An empty [`SendExitStack`].
    ///
    /// ```
    /// let stack = exitstack::SendExitStack::new_send();
    /// assert!(stack.is_empty());
    /// ```
    pub fn new_send() -> Self {
        ExitStack::empty()
    }
}

impl Default for ExitStack<'_, Local> {
    fn default() -> Self {
        ExitStack::new()
    }
}

impl Default for ExitStack<'_, Sendable> {
    fn default() -> Self {
        ExitStack::new_send()
    }
}

impl<'a, S: Threading> ExitStack<'a, S> {
    #[inline]
    fn empty() -> Self {
        ExitStack::from_arena(Arena::default())
    }

    /// A stack holding the entries of `arena`.
    #[inline]
    pub(crate) fn from_arena(arena: Arena) -> Self {
        ExitStack {
            arena: ManuallyDrop::new(arena),
            flag: Default::default(),
            _entries: PhantomData,
        }
    }

    /// The arena, for the async stack's loop. Only while the stack is `&mut` (the loop runs
    /// under `aclose`'s `&mut self`): this bypasses the flag (see `Sync`).
    pub(crate) fn arena(&self) -> &Arena {
        &self.arena
    }

    /// This stack, for entries that register more while it unwinds.
    pub(crate) fn stack_ref(&self) -> StackRef {
        StackRef::new(self)
    }

    /// Stores a sync body, boxing it first when it does not fit inline.
    #[inline]
    #[track_caller]
    fn push<B: Body + 'a>(&self, body: B) -> Handle<'_, S> {
        self.push_stored::<SyncStorage, B>(body, Location::caller())
    }

    /// Stores a sync body that owns a value and returns the handle that lends it out.
    #[track_caller]
    fn push_holding<B: Body + Holds + 'a>(&self, body: B) -> Entered<'_, B::Value, S> {
        self.push_holding_stored::<SyncStorage, B>(body, Location::caller())
    }

    /// Stores a body of the family `K` (sync, or async for the async stack), inline when it
    /// fits, else boxed: the one place that writes entries into the arena.
    #[inline]
    pub(crate) fn push_stored<K: Storage<B>, B: 'a>(
        &self,
        body: B,
        location: &'static Location<'static>,
    ) -> Handle<'_, S> {
        let site = Site::new(location);
        // SAFETY: `K::INLINE` describes `B` and `K::BOXED` describes `Boxed<B>` (the contract
        // of `Storage`), matching the stored type. The arena is worked on under the flag (a
        // no-op for `Local`; see `Sync` above); boxing allocates before the flag is taken.
        let slot = unsafe {
            if fits_inline::<B>() {
                let _exclusive = S::exclusive(&self.flag);
                self.arena.push(body, K::INLINE, site)
            } else {
                let boxed = Boxed::new(body);
                let _exclusive = S::exclusive(&self.flag);
                self.arena.push(boxed, K::BOXED, site)
            }
        };
        Handle::new(&self.arena, self.stack_ref(), slot)
    }

    /// [`push_stored`](Self::push_stored) for a body that owns a value: returns the handle
    /// that lends the value out.
    pub(crate) fn push_holding_stored<K: Storage<B>, B: Holds + 'a>(
        &self,
        body: B,
        location: &'static Location<'static>,
    ) -> Entered<'_, B::Value, S> {
        let inline = fits_inline::<B>();
        let handle = self.push_stored::<K, B>(body, location);
        // SAFETY: the slot was just written with a `B` (inline) or a `Boxed<B>`; `value` and
        // `take` are chosen for that same layout.
        unsafe {
            let slot_body = handle.slot().body();
            if inline {
                let value = NonNull::new_unchecked(B::value(slot_body.cast::<B>()));
                Entered::new(handle, value, take_value::<B>)
            } else {
                let value = NonNull::new_unchecked(Boxed::<B>::value(slot_body.cast()));
                Entered::new(handle, value, take_value::<Boxed<B>>)
            }
        }
    }

    /// Registers a cleanup closure. It runs exactly once when the stack unwinds, after every
    /// entry registered later. It returns `()`, or a `Result` whose error joins the stack's
    /// result (see [`CleanupOutput`]).
    ///
    /// ```
    /// use exitstack::ExitStack;
    /// use std::cell::Cell;
    ///
    /// let closed = Cell::new(0);
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| closed.set(closed.get() + 1));
    /// stack.callback(|| std::fs::remove_file("/nonexistent/exitstack-doc")); // can fail
    /// assert_eq!(stack.close().unwrap_err().len(), 1);
    /// assert_eq!(closed.get(), 1);
    /// ```
    #[inline]
    #[track_caller]
    pub fn callback<F, R>(&self, f: F) -> Handle<'_, S>
    where
        F: FnOnce() -> R + 'a,
        R: CleanupOutput,
        S: Admits<F>,
    {
        self.push(Callback(f))
    }

    /// Registers a cleanup that runs only if the scope ends badly: failed, abandoned by drop,
    /// or panicked (Zig's `errdefer`, D's `scope(failure)`).
    ///
    /// ```
    /// use exitstack::ExitStack;
    /// use std::cell::Cell;
    ///
    /// let rolled_back = Cell::new(false);
    /// let stack = ExitStack::new();
    /// stack.callback_on_error(|| rolled_back.set(true));
    /// stack.callback_on_error(|| Err::<(), _>("a rollback can fail too"));
    /// drop(stack); // abandoned without close: counts as failure
    /// assert!(rolled_back.get());
    /// ```
    #[track_caller]
    pub fn callback_on_error<F, R>(&self, f: F) -> Handle<'_, S>
    where
        F: FnOnce() -> R + 'a,
        R: CleanupOutput,
        S: Admits<F>,
    {
        self.push(OnEnding {
            f,
            on_success: false,
        })
    }

    /// Registers a cleanup that runs only if the scope succeeds: closed, or a scope body
    /// returned `Ok` (D's `scope(success)`).
    ///
    /// ```
    /// use exitstack::ExitStack;
    /// use std::cell::Cell;
    ///
    /// let committed = Cell::new(false);
    /// let mut stack = ExitStack::new();
    /// stack.callback_on_success(|| committed.set(true));
    /// stack.close().unwrap();
    /// assert!(committed.get());
    /// ```
    #[track_caller]
    pub fn callback_on_success<F, R>(&self, f: F) -> Handle<'_, S>
    where
        F: FnOnce() -> R + 'a,
        R: CleanupOutput,
        S: Admits<F>,
    {
        self.push(OnEnding {
            f,
            on_success: true,
        })
    }

    /// Registers a cleanup that receives the stack while it unwinds, so it can register more
    /// cleanups; those run next, in the same unwind.
    ///
    /// ```
    /// use exitstack::ExitStack;
    /// use std::cell::RefCell;
    ///
    /// let log = RefCell::new(Vec::new());
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| log.borrow_mut().push("last"));
    /// stack.callback_with_stack(|stack| {
    ///     log.borrow_mut().push("first");
    ///     stack.callback(|| log.borrow_mut().push("registered during unwind"));
    /// });
    /// stack.close().unwrap();
    /// assert_eq!(*log.borrow(), ["first", "registered during unwind", "last"]);
    /// ```
    #[track_caller]
    pub fn callback_with_stack<F, R>(&self, f: F) -> Handle<'_, S>
    where
        F: FnOnce(&ExitStack<'a, S>) -> R + 'a,
        R: CleanupOutput,
        S: Admits<F>,
    {
        self.push(WithStack {
            f,
            stack: PhantomData,
        })
    }

    /// Registers an exit handler: it sees what is pending when it runs (see [`Exit`]) and may
    /// suppress it by returning [`Flow::Suppress`](crate::Flow::Suppress); it may also return `()` (propagate) or fail
    /// with a `Result` (see [`ExitOutput`]).
    ///
    /// ```
    /// use exitstack::{ExitStack, Flow};
    ///
    /// let mut stack = ExitStack::new();
    /// stack.push_exit(|exit| Flow::suppress_if(exit.error().is_some()));
    /// stack.callback(|| Err::<(), _>("suppressed by the handler above"));
    /// assert!(stack.close().is_ok());
    ///
    /// stack.push_exit(|_| Err::<Flow, _>("the handler itself failed"));
    /// assert_eq!(stack.close().unwrap_err().len(), 1);
    /// ```
    #[track_caller]
    pub fn push_exit<F, R>(&self, handler: F) -> Handle<'_, S>
    where
        F: FnOnce(&Exit<'_>) -> R + 'a,
        R: ExitOutput,
        S: Admits<F>,
    {
        self.push(ExitHandler(handler))
    }

    /// Moves `value` into the stack, which drops it when it unwinds; returns a handle that
    /// derefs to it. Errors its `Drop` hands to [`report::error_in_drop`](crate::report::error_in_drop)
    /// join the stack's result.
    ///
    /// ```
    /// use exitstack::ExitStack;
    /// use std::io::Write;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut stack = ExitStack::new();
    /// let mut file = stack.enter(std::fs::File::create(dir.path().join("a.txt")).unwrap());
    /// file.write_all(b"closed when the stack unwinds").unwrap();
    /// stack.close().unwrap();
    /// ```
    #[track_caller]
    pub fn enter<T>(&self, value: T) -> Entered<'_, T, S>
    where
        T: 'a,
        S: Admits<T>,
    {
        self.push_holding(Dropped(value))
    }

    /// Moves `value` into the stack, which releases it through [`Close::close`]; its error
    /// joins the stack's result.
    ///
    /// ```
    /// use exitstack::{Close, ExitStack};
    ///
    /// struct Conn;
    /// impl Close for Conn {
    ///     type Error = &'static str;
    ///     fn close(self) -> Result<(), &'static str> { Err("connection reset") }
    /// }
    ///
    /// let mut stack = ExitStack::new();
    /// stack.enter_closing(Conn);
    /// assert_eq!(stack.close().unwrap_err().first().error().to_string(), "connection reset");
    /// ```
    #[track_caller]
    pub fn enter_closing<T>(&self, value: T) -> Entered<'_, T, S>
    where
        T: Close + 'a,
        S: Admits<T>,
    {
        self.push_holding(Closed(value))
    }

    /// Moves `value` into the stack together with its own teardown, which receives it by value
    /// when the stack unwinds (scopeguard's `guard`, owned by the stack).
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("scratch");
    /// let mut stack = ExitStack::new();
    /// let scratch = stack.guard(path.clone(), |path| {
    ///     let _ = std::fs::remove_dir_all(path);
    /// });
    /// std::fs::create_dir(&*scratch).unwrap();
    /// stack.guard(42, |_| Err::<(), _>("could not release 42")); // a teardown can fail
    /// assert_eq!(stack.close().unwrap_err().len(), 1);
    /// assert!(!path.exists());
    /// ```
    #[track_caller]
    pub fn guard<T, F, R>(&self, value: T, teardown: F) -> Entered<'_, T, S>
    where
        T: 'a,
        F: FnOnce(T) -> R + 'a,
        R: CleanupOutput,
        S: Admits<(T, F)>,
    {
        self.push_holding(Guard { value, teardown })
    }

    /// Enters a [`Context`]: runs its `enter` and, if that succeeds, registers its `exit` and
    /// returns a handle to the target. If `enter` fails, nothing is registered.
    ///
    /// See [`Context`] for a context that succeeds; one that fails registers nothing:
    ///
    /// ```
    /// use exitstack::{Context, Exit, ExitStack, Flow};
    ///
    /// struct Refused;
    /// impl Context for Refused {
    ///     type Target = ();
    ///     type Error = std::fmt::Error;
    ///     fn enter(self) -> Result<(), std::fmt::Error> { Err(std::fmt::Error) }
    ///     fn exit(_: (), _: &Exit<'_>) -> Result<Flow, std::fmt::Error> { unreachable!() }
    /// }
    ///
    /// let stack = ExitStack::new();
    /// assert!(stack.enter_context(Refused).is_err());
    /// assert!(stack.is_empty());
    /// ```
    #[track_caller]
    pub fn enter_context<C>(&self, context: C) -> Result<Entered<'_, C::Target, S>, C::Error>
    where
        C: Context + 'a,
        C::Target: 'a,
        C::Error: Into<BoxError>,
        S: Admits<C::Target>,
    {
        let target = context.enter()?;
        Ok(self.push_holding(ContextExit::<C> { target }))
    }

    /// Pushes a whole stack as one entry: when this stack unwinds to it, its entries run in
    /// their own order, with the pending state of this unwind (they may see and suppress this
    /// stack's errors, as in Python).
    ///
    /// ```
    /// use exitstack::ExitStack;
    /// use std::cell::RefCell;
    ///
    /// let log = RefCell::new(Vec::new());
    /// let mut outer = ExitStack::new();
    /// let inner = ExitStack::new();
    /// inner.callback(|| log.borrow_mut().push("inner"));
    /// outer.callback(|| log.borrow_mut().push("outer"));
    /// outer.push_stack(inner);
    /// outer.close().unwrap();
    /// assert_eq!(*log.borrow(), ["inner", "outer"]);
    /// ```
    #[track_caller]
    pub fn push_stack(&self, mut other: ExitStack<'a, S>) -> Handle<'_, S> {
        // Moving `other`'s entries (its inline words too) is sound: it is owned here, so no
        // `Entered` or `Handle` points into it (see the `arena` module).
        self.push(Nested(Box::new(std::mem::take(&mut *other.arena))))
    }

    /// Whether nothing is registered (cancelled entries not yet unwound still count).
    ///
    /// ```
    /// let stack = exitstack::ExitStack::new();
    /// assert!(stack.is_empty());
    /// stack.callback(|| ());
    /// assert!(!stack.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        let _exclusive = S::exclusive(&self.flag);
        self.arena.is_empty()
    }
}

/// A cleanup that receives the stack, to register more entries while it unwinds.
pub(crate) struct WithStack<'a, S: Threading, F> {
    pub(crate) f: F,
    pub(crate) stack: PhantomData<fn(&ExitStack<'a, S>)>,
}

impl<'a, S, F, R> Body for WithStack<'a, S, F>
where
    S: Threading,
    F: FnOnce(&ExitStack<'a, S>) -> R,
    R: CleanupOutput,
{
    fn run(self, _: &Exit<'_>, stack: StackRef) -> Step {
        // SAFETY: a `WithStack<'a, S, _>` is only pushed on an `ExitStack<'a, S>` (and only
        // moves between stacks of that same type), and the loop passes the stack being unwound,
        // alive and only shared-borrowed for the whole unwind. (A handle run now passes a
        // temporary `ExitStack<'s, S>` with `'a: 's`: the same layout, and it is dropped
        // within `'s`, so entries registered on it outlive it.)
        let stack = unsafe { stack.get::<ExitStack<'a, S>>() };
        step_of((self.f)(stack).into_result())
    }
}

impl<S: Threading> fmt::Debug for ExitStack<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExitStack")
            .field("empty", &self.is_empty())
            .finish_non_exhaustive()
    }
}

/// Moves the value out of a body of type `B` in a slot and drops the rest of the body, returning
/// the panic of that drop (the value is kept either way).
///
/// Safety: `slot` holds a live `B` that is never read again.
unsafe fn take_value<B: Holds>(slot: *mut Word) -> (B::Value, Option<Payload>) {
    // SAFETY: forwarded from the caller.
    let (value, rest) = unsafe { slot.cast::<B>().read() }.into_parts();
    (value, caught::drop_caught(rest))
}
