//! Every macro form compiled under the strictest lints a user crate may set: the generated code
//! must add no warning, no pedantic clippy lint, and no `unsafe`. Checked by
//! `cargo clippy -p exitstack-ui-tests --all-targets -- -D warnings` (and run as a test).
#![deny(warnings, clippy::pedantic)]
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use exitstack as reexported; // `crate = path` serves crates that re-export exitstack
use exitstack::{defer, managed, stack_callback, with_stack, ExitStack, UnwindError};

static TICKS: AtomicUsize = AtomicUsize::new(0);

fn tick(n: usize) {
    TICKS.fetch_add(n, Ordering::Relaxed);
}

/// What a crate that re-exports exitstack writes so its users need no `exitstack` dependency.
mod facade {
    pub use exitstack;

    macro_rules! my_defer {
        ($($body:tt)*) => { $crate::facade::exitstack::defer!(crate = $crate::facade::exitstack; $($body)*) };
    }
    macro_rules! my_callback {
        ($($args:tt)*) => {
            $crate::facade::exitstack::stack_callback!(crate = $crate::facade::exitstack; $($args)*)
        };
    }
    pub(crate) use {my_callback, my_defer};
}

/// A resource with a fallible close.
pub struct Socket(u8);

impl Socket {
    /// Closes it.
    ///
    /// # Errors
    ///
    /// Never, here.
    pub fn shutdown(self) -> io::Result<()> {
        tick(usize::from(self.0));
        Ok(())
    }
}

/// Named fields, every option.
#[managed]
pub struct Named<'a, T: Clone>
where
    T: fmt::Debug,
{
    /// Closed by a method.
    #[managed(close = Socket::shutdown, label = "socket")]
    pub socket: Socket,
    /// Released after `socket`.
    #[managed(after = socket, rank = 1)]
    pub items: Vec<T>,
    /// Not torn down.
    #[managed(skip)]
    pub name: &'a str,
    /// Compiled out.
    #[cfg(any())]
    pub gone: u8,
    /// Compiled out through `cfg_attr`.
    #[cfg_attr(all(), cfg(any()))]
    pub gone_too: u8,
}

/// A tuple struct in declaration order, through a re-export.
#[managed(order = declaration, crate = reexported)]
pub struct Pair(#[managed(close = Socket::shutdown)] pub Socket, pub String);

/// A `cfg_attr` that cannot remove the field keeps `acquire`.
#[managed]
pub struct Documented(#[cfg_attr(test, doc = "The socket.")] pub Socket);

/// Built with the generated `new`, renamed.
#[managed(new = from_parts)]
pub struct Plain(
    #[managed(close = Socket::shutdown)] pub Socket,
    #[managed(skip)] pub u8,
);

impl Socket {
    /// Closes it asynchronously.
    ///
    /// # Errors
    ///
    /// Never, here.
    pub async fn ashutdown(self) -> io::Result<()> {
        std::future::ready(()).await;
        tick(usize::from(self.0));
        Ok(())
    }
}

/// Async fields in waves, every option.
#[managed(concurrent, limit = 2)]
pub struct Waves<'a, T: Clone>
where
    T: fmt::Debug,
{
    /// Closed asynchronously.
    #[managed(aclose = Socket::ashutdown, label = "socket")]
    pub socket: Socket,
    /// Closed asynchronously, after `socket`.
    #[managed(aclose = Socket::ashutdown, after = socket)]
    pub second: Socket,
    /// Closed synchronously, in a later wave.
    #[managed(close = Socket::shutdown, rank = 1)]
    pub sync: Socket,
    /// Dropped in the first wave.
    pub items: Vec<T>,
    /// Not torn down.
    #[managed(skip)]
    pub name: &'a str,
    /// Compiled out.
    #[cfg(any())]
    pub gone: u8,
}

/// A sequential async tuple struct, through a re-export.
#[managed(order = declaration, crate = reexported)]
pub struct AsyncPair(
    #[managed(aclose = Socket::ashutdown)] pub Socket,
    pub String,
);

/// An application error that takes cleanup errors.
#[derive(Debug)]
pub struct AppError;

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("app error")
    }
}

impl std::error::Error for AppError {}

impl From<UnwindError> for AppError {
    fn from(_: UnwindError) -> Self {
        AppError
    }
}

/// The decorator with a named stack.
///
/// # Errors
///
/// When `fail` is set.
#[with_stack(stack)]
pub fn decorated(fail: bool) -> Result<u8, AppError> {
    defer!(stack => { tick(1); });
    defer!(stack => on_error { tick(1); });
    defer!(stack => on_success { tick(1); });
    defer!(stack => |err| { drop(err.to_string()); });
    stack_callback!(stack, Socket::shutdown, Socket(1));
    if fail {
        return Err(AppError);
    }
    Ok(1)
}

/// An alias of `Result`, a boxed error, and a bare `defer!` that joins the stack.
pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The decorator on an alias.
///
/// # Errors
///
/// Never.
#[with_stack]
pub fn aliased() -> Res<u8> {
    defer! { tick(1); }
    defer!(on_error { tick(1); });
    Ok(3)
}

/// The decorator without a result and without a binding.
#[with_stack]
#[must_use]
pub fn plain() -> u8 {
    2
}

/// The async decorator.
///
/// # Errors
///
/// Never.
#[with_stack(stack, send)]
pub async fn asynchronous() -> Result<(), AppError> {
    stack.push_async_callback(|| async {});
    Ok(())
}

/// The async decorator without `send`.
///
/// # Errors
///
/// Never.
#[with_stack(stack)]
pub async fn asynchronous_local() -> Result<(), AppError> {
    defer!(stack => { tick(1); });
    defer!(stack => async { tick(1); });
    defer!(stack => async move { tick(1); });
    stack_callback!(stack, async tick_later, 1);
    Ok(())
}

/// The async decorator on an alias of a boxed error, `send`.
///
/// # Errors
///
/// Never.
#[with_stack(stack, send)]
pub async fn asynchronous_boxed() -> Res<u8> {
    defer!(stack => |err| { drop(err.to_string()); });
    Ok(4)
}

/// The async decorator on a local boxed error.
///
/// # Errors
///
/// Never.
#[with_stack(stack)]
pub async fn asynchronous_local_box() -> Result<u8, Box<dyn std::error::Error>> {
    defer!(stack => async { tick(1); });
    Ok(5)
}

/// The decorator on a `Result` of `impl Trait`.
///
/// # Errors
///
/// Never.
#[with_stack(stack)]
pub fn opaque(n: u32) -> io::Result<impl Iterator<Item = u32>> {
    defer!(stack => { tick(1); });
    Ok(0..n)
}

/// The async decorator on a `Result` of `impl Trait`.
///
/// # Errors
///
/// Never.
#[with_stack(stack)]
pub async fn opaque_async(n: u32) -> Result<impl fmt::Display, AppError> {
    defer!(stack => async { tick(1); });
    Ok(n)
}

/// An async cleanup for `stack_callback!(stack, async f, ..)`.
async fn tick_later(n: usize) {
    tick(n);
}

/// A method.
pub struct Service(u8);

impl Service {
    /// Decorated method.
    ///
    /// # Errors
    ///
    /// Never.
    #[with_stack(stack)]
    pub fn run(&self) -> Result<u8, AppError> {
        defer!(stack => { tick(usize::from(self.0)); });
        Ok(self.0)
    }
}

#[test]
fn every_form_runs() -> Result<(), Box<dyn std::error::Error>> {
    defer! { tick(1); }
    defer!(on_panic { tick(1); });
    defer!(on_no_panic { tick(1); });
    let named = Named {
        socket: Socket(1).into(),
        items: vec![1].into(),
        name: "n",
    };
    named.close()?;
    Plain::from_parts(Socket(1), 0).close()?;
    assert_eq!(aliased().ok(), Some(3));
    let pair = Pair::acquire(|| Ok::<_, io::Error>(Socket(2)), |_| Ok(String::new()))
        .map_err(reexported::RollbackError::into_error)?;
    let mut stack = ExitStack::new();
    stack.enter(pair);
    stack.enter(
        Documented::acquire(|| Ok::<_, io::Error>(Socket(1)))
            .map_err(reexported::RollbackError::into_error)?,
    );
    stack_callback!(stack, |n: u8| tick(usize::from(n)), 1);
    let (sender, receiver) = std::sync::mpsc::channel();
    stack_callback!(stack, sender.send, 1_usize);
    let words = vec![String::new()];
    stack_callback!(stack, words.clear); // a `&mut self` method on a moved receiver
    stack.close()?;
    assert_eq!(receiver.recv()?, 1);
    assert_eq!(decorated(false)?, 1);
    assert!(decorated(true).is_err());
    assert_eq!(plain(), 2);
    drop(asynchronous());
    drop(asynchronous_local());
    drop(asynchronous_boxed());
    drop(asynchronous_local_box());
    assert_eq!(opaque(3)?.sum::<u32>(), 3);
    drop(opaque_async(1));
    assert_eq!(Service(1).run()?, 1);
    let facade_stack = ExitStack::new();
    facade::my_defer!(facade_stack => { tick(1); });
    facade::my_callback!(facade_stack, tick, 1);
    {
        facade::my_defer! { tick(1); }
    }
    drop(facade_stack);
    let waves = Waves::new(Socket(1), Socket(1), Socket(1), vec![1], "n");
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(waves.aclose())?;
    runtime.block_on(AsyncPair::new(Socket(1), String::new()).aclose())?;
    assert!(TICKS.load(Ordering::Relaxed) > 0);
    Ok(())
}
