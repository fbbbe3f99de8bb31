//! The two traits a type implements to be managed by a stack: [`Close`] (fallible release) and
//! [`Context`] (Python's context-manager protocol).

use crate::ending::Flow;
use crate::error::BoxError;
use crate::exit::Exit;

/// A resource whose release can fail: `Drop` cannot return an error, `close` can.
///
/// [`ExitStack::enter_closing`](crate::ExitStack::enter_closing) releases a value through this
/// trait, and the error joins the stack's result. `#[managed]` structs implement it.
///
/// `ExitStack` deliberately does not: with the trait in scope, `stack.close()` on an owned
/// stack would resolve to a consuming trait method instead of the inherent `close(&mut self)`.
/// To release one stack inside another, use
/// [`push_stack`](crate::ExitStack::push_stack) (it shares the outer unwind, as Python's nested
/// stacks do) or a cleanup that closes it on its own:
///
/// ```
/// use exitstack::ExitStack;
///
/// let mut outer = ExitStack::new();
/// let mut inner = ExitStack::new();
/// inner.callback(|| Err("inner cleanup failed"));
/// outer.callback(move || inner.close()); // its errors join the outer result
/// assert_eq!(outer.close().unwrap_err().len(), 1);
/// ```
///
/// # Examples
///
/// ```
/// use exitstack::{Close, ExitStack};
/// use std::io::{self, Write};
///
/// struct Log(Vec<u8>);
/// impl Close for Log {
///     type Error = io::Error;
///     fn close(mut self) -> io::Result<()> {
///         self.0.flush()
///     }
/// }
///
/// let mut stack = ExitStack::new();
/// stack.enter_closing(Log(Vec::new())).0.extend_from_slice(b"hello");
/// stack.close().unwrap();
/// ```
pub trait Close {
    /// What a failed close returns.
    type Error: Into<BoxError>;

    /// Releases the resource.
    ///
    /// ```
    /// use exitstack::{Close, ExitStack};
    ///
    /// struct Socket { flushed: bool }
    /// impl Close for Socket {
    ///     type Error = &'static str;
    ///     fn close(self) -> Result<(), &'static str> {
    ///         if self.flushed { Ok(()) } else { Err("unsent data") }
    ///     }
    /// }
    ///
    /// assert_eq!(Socket { flushed: false }.close(), Err("unsent data")); // called directly
    /// let mut stack = ExitStack::new();
    /// stack.enter_closing(Socket { flushed: false }).flushed = true; // fixed before release
    /// assert!(stack.close().is_ok());
    /// ```
    fn close(self) -> Result<(), Self::Error>;
}

/// Rust's counterpart of Python's context-manager protocol (`__enter__` / `__exit__`).
///
/// `enter` acquires and yields the target the body works with; it may fail, and then nothing
/// is registered. `exit` receives the target back when the stack unwinds, sees how the scope
/// ended (the pending error, a panic in flight), and may suppress the pending error.
///
/// # Examples
///
/// ```
/// use exitstack::{Context, Exit, ExitStack, Flow};
/// use std::convert::Infallible;
///
/// struct Indent<'l>(&'l std::cell::RefCell<Vec<String>>);
///
/// impl<'l> Context for Indent<'l> {
///     type Target = Indent<'l>;
///     type Error = Infallible;
///     fn enter(self) -> Result<Self, Infallible> {
///         self.0.borrow_mut().push("enter".into());
///         Ok(self)
///     }
///     fn exit(target: Self, exit: &Exit<'_>) -> Result<Flow, Infallible> {
///         target.0.borrow_mut().push(format!("exit, failing: {}", !exit.ending().is_success()));
///         Ok(Flow::Propagate)
///     }
/// }
///
/// let log = std::cell::RefCell::new(Vec::new());
/// let mut stack = ExitStack::new();
/// stack.enter_context(Indent(&log)).unwrap();
/// stack.close().unwrap();
/// assert_eq!(*log.borrow(), ["enter", "exit, failing: false"]);
/// ```
pub trait Context: Sized {
    /// What `enter` yields: the resource in use, owned by the stack until it unwinds.
    type Target;
    /// The error of a failed `enter` or `exit`.
    type Error;

    /// Acquires the resource. On error nothing is registered.
    ///
    /// ```
    /// use exitstack::{Context, Exit, ExitStack, Flow};
    ///
    /// struct Port(u16);
    /// impl Context for Port {
    ///     type Target = u16;
    ///     type Error = String;
    ///     fn enter(self) -> Result<u16, String> {
    ///         if self.0 < 1024 { Err(format!("port {} is privileged", self.0)) } else { Ok(self.0) }
    ///     }
    ///     fn exit(_: u16, _: &Exit<'_>) -> Result<Flow, String> { Ok(Flow::Propagate) }
    /// }
    ///
    /// let mut stack = ExitStack::new();
    /// assert_eq!(*stack.enter_context(Port(8080)).unwrap(), 8080);
    /// assert_eq!(stack.enter_context(Port(80)).unwrap_err(), "port 80 is privileged");
    /// stack.close().unwrap();
    /// ```
    fn enter(self) -> Result<Self::Target, Self::Error>;

    /// Releases the resource; may suppress the pending error by returning [`Flow::Suppress`].
    ///
    /// ```
    /// use exitstack::{Context, Exit, ExitStack, Flow};
    ///
    /// /// Python's `contextlib.suppress`: swallows the pending error, if there is one.
    /// struct Suppress;
    /// impl Context for Suppress {
    ///     type Target = ();
    ///     type Error = std::convert::Infallible;
    ///     fn enter(self) -> Result<(), Self::Error> { Ok(()) }
    ///     fn exit((): (), exit: &Exit<'_>) -> Result<Flow, Self::Error> {
    ///         Ok(Flow::suppress_if(exit.error().is_some()))
    ///     }
    /// }
    ///
    /// let error = ExitStack::scope(|stack| {
    ///     stack.enter_context(Suppress).unwrap();
    ///     Err::<(), _>(std::fmt::Error)
    /// })
    /// .unwrap_err();
    /// assert!(error.is_suppressed());
    /// ```
    fn exit(target: Self::Target, exit: &Exit<'_>) -> Result<Flow, Self::Error>;
}
