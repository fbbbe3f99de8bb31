//! Procedural macros for the `exitstack` crate. Depend on `exitstack`, which re-exports them and
//! documents them with examples: `#[managed]`, `defer!`, `stack_callback!` and `#[with_stack]`.
//!
//! Each macro is a pipeline: parse the input, validate it, expand it. On bad input a macro
//! reports one error, spanned on the offending tokens, and still emits the item, so the user sees
//! that error and not a cascade. Generated code names only `::exitstack::__private` (or the path
//! given with `crate = path`), by absolute paths, and its locals use `Span::mixed_site()`.

#![forbid(unsafe_code)]

use proc_macro::TokenStream;

mod crate_path;
mod decorator;
mod defer;
mod diagnostics;
mod managed;
#[cfg(test)]
mod proptests;
mod stack_callback;

/// Declarative, ordered, fallible teardown of a struct's fields.
///
/// Rust drops fields in declaration order, cannot return an error from `Drop`, and aborts when
/// a destructor panics during a panic. `#[managed]` gives the struct a teardown that does what
/// `Drop` cannot:
///
/// ```
/// use exitstack::managed;
/// use std::io::{self, Write};
///
/// struct Conn(Vec<String>);
/// impl Conn {
///     fn shutdown(self) -> io::Result<()> {
///         Err(io::Error::other(format!("{} queries lost", self.0.len())))
///     }
/// }
///
/// #[managed]
/// struct Session {
///     #[managed(close = Conn::shutdown, label = "database")]
///     conn: Conn,
///     log: Vec<u8>,                 // no closer: dropped, in its turn
///     #[managed(skip)]
///     name: &'static str,           // nothing to release: plain Rust drop, after the rest
/// }
///
/// // Plain values, one per field in declaration order (no `.into()`).
/// let mut session = Session::new(Conn(vec!["select 1".into()]), Vec::new(), "main");
/// session.log.write_all(b"used through Deref\n")?;
/// let errors = session.close().unwrap_err(); // log dropped, then conn shut down
/// assert_eq!(errors.first().label(), Some("database"));
/// assert_eq!(errors.first().error().to_string(), "1 queries lost");
/// # Ok::<(), io::Error>(())
/// ```
///
/// # Order
///
/// Fields are torn down in **reverse declaration order** by default: last acquired, first
/// released, like an [`ExitStack`](../exitstack/struct.ExitStack.html) and like C++ member
/// destructors. A field declared later is usually built from (or depends on) the ones before it
/// (a statement on a connection, a server in a directory), so it must go first. Rust's own field
/// drop order (declaration order) is the exception. Refine the order with:
///
/// - `#[managed(order = declaration)]` on the struct: first declared, first torn down;
/// - `#[managed(after = other)]` (or `after = [a, b]`) on a field: torn down after `other`;
/// - `#[managed(rank = n)]` on a field: lower ranks go first (default `0`); `after` wins over
///   `rank`, and the struct's order breaks ties.
///
/// # Field options
///
/// - `close = path`: the closer, a function or method taking the field **by value** and
///   returning `()` or `Result<(), E>` with `E: Into<BoxError>` (`Type::method`, `Self::f`,
///   `exitstack::Close::close`). Without it the field is dropped in its turn, and errors its
///   `Drop` hands to `report::error_in_drop` (a nested `#[managed]` struct) join the result.
/// - `aclose = path`: an async closer (see [Async](#async-aclose--path-and-teardown-waves)); a
///   field has `close` or `aclose`, not both.
/// - `skip`: not torn down; the field keeps its type and Rust drops it after the teardown.
/// - `label = "text"`: names the field in error reports (default: the field's name).
///
/// # What it generates
///
/// - The struct, with each torn-down field's type `T` wrapped in [`ManagedField<T>`], which derefs
///   to `T`.
/// - `new(field: T, ..) -> Self`: the struct from plain values, one parameter per field in
///   declaration order, named after the field (its doc comment lists them with their types, and
///   a missing or wrong argument is reported on the field). A struct with its own `new` renames
///   this one: `#[managed(new = from_parts)]`. `ManagedField::new(value)` / `value.into()` build a
///   field by hand, for a struct literal.
/// - `close(self) -> Result<(), UnwindError>`: every field's error, in teardown order.
/// - `impl Close`, so `stack.enter_closing(value)` releases it through `close`.
/// - `impl Drop`, running the same teardown when `close` was not called; its errors go to
///   `report::error_in_drop`, so `stack.enter(value)` puts them in the stack's result too, and
///   outside a stack they reach the reporter.
/// - `acquire(f0, f1, ..)`, one fallible acquisition per field in declaration order (each gets
///   references to the fields before it; the doc comment lists each one's signature): if
///   acquisition `k` fails, the fields already acquired
///   are torn down at once, in teardown order, and [`RollbackError`] carries the acquisition's
///   error with the teardown's errors; if it panics, they are torn down and the panic goes on.
///   Not generated when a field may be configured out (see [Configuration](#configuration)).
///
/// The teardown follows the stack's unwind rules (it uses the same unwind state): a panicking
/// closer never stops the others (the first panic is resumed after all ran), a struct dropped
/// during a panic reports further panics instead of aborting, and nothing is allocated unless a
/// field fails. The file `examples/managed_expansion.rs` of the
/// `exitstack` crate shows the code generated for a small struct.
///
/// ```
/// use exitstack::{managed, RollbackError};
///
/// #[managed]
/// struct Fixture {
///     #[managed(close = tempfile::TempDir::close)]
///     dir: tempfile::TempDir,
///     file: std::fs::File,
/// }
///
/// // The second acquisition fails: the directory is removed before `acquire` returns.
/// let error: RollbackError<std::io::Error> = Fixture::acquire(
///     tempfile::tempdir,
///     |dir| std::fs::File::open(dir.path().join("missing")),
/// )
/// .err()
/// .unwrap();
/// assert_eq!(error.error().kind(), std::io::ErrorKind::NotFound);
/// assert!(error.teardown_errors().is_none());
/// ```
///
/// # Async: `aclose = path`, and teardown waves
///
/// `#[managed(aclose = Conn::shutdown)]` gives a field an async closer: an `async fn` (or any
/// function) taking the value and returning a future whose output is `()` or `Result<(), E>`.
/// The struct then gets `async fn aclose(self) -> Result<(), UnwindError>` instead of `close`,
/// `impl Close` and `acquire`: every field is torn down in the same order as `close` would
/// (`after`, `rank`, the default reverse declaration order), the async closers awaited, sync
/// `close` fields and dropped fields in their turn, and every error comes back in order, with
/// its field's label. A panicking closer stops no other field; the first panic is resumed at
/// the end (or reported during a panic).
///
/// Rust has no async `Drop`. Dropped without `aclose`, the struct tears down its sync fields and
/// drops its async ones unclosed, reporting each with reason `ReportReason::AsyncNotRun`, as an
/// `AsyncExitStack` does. If the `aclose` future is dropped part-way (a timeout, a `select!`),
/// the fields it had not started stay in the value and its `Drop` does the same; a closer in
/// flight is reported as not run; errors already collected are reported. Each field is closed or
/// reported exactly once.
///
/// In an `AsyncExitStack`, `stack.async_guard(value, Service::aclose)` awaits the teardown when
/// the stack closes (its errors are leaves of the stack's); the future is `Send` when the fields
/// and closers are, so this works on a `SendAsyncExitStack` in a spawned task too.
///
/// `#[managed(concurrent)]` tears the fields down in **waves** of the `after`/`rank` graph: a
/// field goes in the wave after the fields it is torn down `after` (and after every field of a
/// lower `rank`); the fields of a wave close at the same time, polled together by `aclose`
/// itself (no runtime needed). A failing field never skips the fields that depend on it.
/// `#[managed(concurrent, limit = n)]` closes at most `n` fields of a wave at once. Errors come
/// back wave by wave, in teardown order within a wave. `aclose`'s doc comment lists the waves.
///
/// ```
/// use exitstack::managed;
/// use std::sync::Mutex;
///
/// static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
///
/// struct Conn(&'static str);
/// impl Conn {
///     async fn shutdown(self) -> Result<(), String> {
///         LOG.lock().unwrap().push(format!("start {}", self.0));
///         tokio::task::yield_now().await; // e.g. a goodbye message on the socket
///         LOG.lock().unwrap().push(format!("end {}", self.0));
///         if self.0 == "db" { Err("db: connection reset".into()) } else { Ok(()) }
///     }
/// }
///
/// #[managed(concurrent)]
/// struct Service {
///     #[managed(aclose = Conn::shutdown)]
///     db: Conn,
///     #[managed(aclose = Conn::shutdown, after = db)]
///     cache: Conn,
///     #[managed(aclose = Conn::shutdown)]
///     metrics: Conn,
///     #[managed(aclose = Conn::shutdown, after = [cache, metrics])]
///     log: Conn,
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let service = Service::new(Conn("db"), Conn("cache"), Conn("metrics"), Conn("log"));
/// let errors = service.aclose().await.unwrap_err();
/// assert_eq!(errors.first().label(), Some("db")); // and `cache` and `log` still ran
/// assert_eq!(
///     *LOG.lock().unwrap(),
///     [
///         "start metrics", "start db", "end metrics", "end db", // wave 1, at the same time
///         "start cache", "end cache",                           // wave 2: after db
///         "start log", "end log",                               // wave 3: after cache, metrics
///     ]
/// );
/// # });
/// ```
///
/// # Configuration
///
/// A field with `#[cfg]` is torn down only where it exists, and then `acquire` is not generated
/// (its parameters would depend on the configuration). The macro sees `#[cfg_attr]` before
/// rustc expands it, so it reads what the attribute can expand to:
///
/// - attributes the expansion does not depend on (`doc`, `allow`, a derive's helper, ..) stay
///   on the field for rustc to expand; `acquire` is generated;
/// - `cfg`, as in `#[cfg_attr(feature = "x", cfg(test))]`: the field is conditional, as with
///   `#[cfg(any(not(feature = "x"), test))]`, so `acquire` is not generated;
/// - `managed(..)`: an error; field options cannot depend on the configuration.
///
/// # Struct options
///
/// `order = reverse | declaration`, `new = name` (the constructor's name), `crate = path`
/// for crates that re-export exitstack (generated code then names `path::__private`), and
/// `concurrent` / `limit = n` (teardown waves; for a struct with an `aclose` field).
///
/// # Why `ManagedField<T>`, and `new`
///
/// The teardown moves each field out (a closer takes it by value) from `Drop`, which only has
/// `&mut self`. Without `unsafe` in your crate (which may `#![forbid(unsafe_code)]`), that needs
/// a field that can be emptied: `ManagedField<T>`. Keeping the declared types would mean a struct
/// without `Drop`, whose closers and order are silently skipped whenever it is dropped instead
/// of closed; so the fields stay wrapped, and `new` takes the plain values.
///
/// # Errors in the attribute
///
/// Bad input gives one error, on the offending tokens, and the struct is still emitted with
/// stubs of `new`, `acquire`, `close` and `impl Close` (`new` and `aclose` for a struct with an
/// async field), so the code that uses them reports nothing more. (An `aclose` closer of the
/// wrong type is the exception: rustc reports it on the closer and once more on the attribute.)
///
/// # Limits
///
/// A `#[managed]` struct must not implement `Drop` itself (the generated `Drop` conflicts,
/// error E0119): put that logic in a closer, or in a field type with its own `Drop`. An
/// inherent method named `close` or `acquire` conflicts too (and `new`, unless renamed). Works on named and tuple structs,
/// with generics, lifetimes, where-clauses, field `#[cfg]` and `#[cfg_attr]`; not on enums,
/// unions or unit structs.
///
/// [`ManagedField<T>`]: ../exitstack/struct.ManagedField.html
/// [`RollbackError`]: ../exitstack/struct.RollbackError.html
#[proc_macro_attribute]
pub fn managed(args: TokenStream, input: TokenStream) -> TokenStream {
    managed::expand(args.into(), input.into()).into()
}

/// Runs a block at scope exit: a bare local guard, or a registration on a stack.
///
/// **Bare** (a guard on the stack frame, no allocation, as cheap as scopeguard's): runs when
/// the enclosing scope ends, on every path, newest first.
///
/// ```
/// use exitstack::defer;
/// use std::cell::RefCell;
///
/// let log = RefCell::new(Vec::new());
/// {
///     defer! { log.borrow_mut().push("second"); }
///     defer!(log.borrow_mut().push("first"));
/// }
/// assert_eq!(*log.borrow(), ["first", "second"]);
/// ```
///
/// A bare guard has no `close`, so it cannot tell a `?` from a normal end; it only knows
/// panics, and its conditions say so. `defer!(on_panic { .. })` runs when the guard is dropped
/// while the thread is panicking ([`Ending::Panicked`]); `defer!(on_no_panic { .. })` runs
/// otherwise, after a `?` or an early `return` too. A guard made inside a destructor that runs
/// during a panic cannot tell that panic from a new one, so it counts as dropped by a panic
/// (when unsure, the panic-only cleanup runs). For errors returned with `?`, register on a stack
/// (or use `#[with_stack]`): `on_error` and `on_success` are the stack's words, and a bare
/// `defer!(on_error { .. })` is a compile error that says what to write instead.
///
/// **On a stack**: `defer!(stack => { .. })` registers the block with `callback` and evaluates
/// to the entry's [`Handle`] (cancel it, release it now, label it). The outcome variants follow the
/// stack's [`Ending`]: `on_error` (`callback_on_error`: failed, abandoned, or panicked) and
/// `on_success` (`callback_on_success`); `on_panic` and `on_no_panic` mean what they mean on a
/// bare guard (ended [`Ending::Panicked`], or not). `defer!(stack => |err| { .. })` is Zig's
/// `errdefer |err|`: an exit handler that runs the block with the pending error
/// (`&dyn Error`) when there is one, and never suppresses it.
///
/// ```
/// use exitstack::{defer, ExitStack};
/// use std::cell::RefCell;
///
/// let log = RefCell::new(Vec::new());
/// let result = ExitStack::scope(|stack| {
///     defer!(stack => { log.borrow_mut().push("always".to_owned()); });
///     defer!(stack => on_success { log.borrow_mut().push("committed".to_owned()); });
///     defer!(stack => on_error { log.borrow_mut().push("rolled back".to_owned()); });
///     defer!(stack => |err| { log.borrow_mut().push(format!("failed: {err}")); });
///     Err::<(), _>(std::fmt::Error)
/// });
/// assert!(result.is_err());
/// assert_eq!(
///     *log.borrow(),
///     ["failed: an error occurred when formatting an argument", "rolled back", "always"]
/// );
/// ```
///
/// **Async**: on an [`AsyncExitStack`], `defer!(stack => async { .. })` registers the block as
/// an async cleanup (`push_async_callback`), awaited in order by `aclose`; the block is an
/// `async move` block, so it owns what it uses (capture references to share state).
///
/// ```
/// use exitstack::{defer, AsyncExitStack};
/// use std::sync::Mutex;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let log = Mutex::new(Vec::new());
/// let log = &log;
/// let mut stack = AsyncExitStack::new();
/// defer!(stack => { log.lock().unwrap().push("sync, runs second"); });
/// defer!(stack => async {
///     std::future::ready(()).await;
///     log.lock().unwrap().push("async, runs first");
/// });
/// stack.aclose().await.unwrap();
/// assert_eq!(*log.lock().unwrap(), ["async, runs first", "sync, runs second"]);
/// # });
/// ```
///
/// Write `move` before any block (`defer!(stack => on_error move { .. })`) to move what it
/// uses into the closure. The guard of the bare form is the macro's own local: user code
/// cannot name it.
///
/// A crate that re-exports exitstack wraps the macro in its own `macro_rules!` and passes the
/// path first: `defer!(crate = $crate::exitstack; ..)` (the same for `stack_callback!`).
///
/// [`Ending`]: ../exitstack/enum.Ending.html
/// [`Ending::Panicked`]: ../exitstack/enum.Ending.html#variant.Panicked
/// [`Handle`]: ../exitstack/struct.Handle.html
/// [`AsyncExitStack`]: ../exitstack/struct.AsyncExitStack.html
#[proc_macro]
pub fn defer(input: TokenStream) -> TokenStream {
    defer::expand(input.into()).into()
}

/// Registers a call of `f` on `stack`, with arguments evaluated **now** (Python's
/// `ExitStack.callback(f, *args)`), and evaluates to the entry's [`Handle`].
///
/// `f` may be a path, a closure, or `receiver.method` (the receiver is evaluated now and moved
/// into the entry). A function returning `Result<(), E>` with `E: Into<BoxError>` is a fallible
/// cleanup: its error joins the stack's result; `()` is a plain one.
///
/// ```
/// use exitstack::{stack_callback, ExitStack};
/// use std::cell::RefCell;
///
/// fn remove(log: &RefCell<Vec<String>>, name: String) -> Result<(), std::io::Error> {
///     log.borrow_mut().push(format!("removed {name}"));
///     Ok(())
/// }
///
/// let log = RefCell::new(Vec::new());
/// let mut stack = ExitStack::new();
/// let mut name = String::from("a.tmp");
/// stack_callback!(stack, remove, &log, name.clone()); // the argument is captured now
/// name.push_str(".changed");
/// stack_callback!(stack, |n: u32| log.borrow_mut().push(format!("closure {n}")), 7);
/// let (sender, receiver) = std::sync::mpsc::channel();
/// stack_callback!(stack, sender.send, "closed"); // a method call; `sender` is moved in now
/// stack.close().unwrap();
/// assert_eq!(*log.borrow(), ["closure 7", "removed a.tmp"]);
/// assert_eq!(receiver.recv().unwrap(), "closed");
/// ```
///
/// **Async**: `stack_callback!(stack, async f, args..)` on an [`AsyncExitStack`] registers the
/// call of an async function (Python's `push_async_callback(f, *args)`); `aclose` awaits it.
///
/// ```
/// use exitstack::{stack_callback, AsyncExitStack};
///
/// async fn release(name: String) -> Result<(), String> {
///     Err(format!("{name}: already released"))
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut stack = AsyncExitStack::new();
/// stack_callback!(stack, async release, String::from("lease-7"));
/// let errors = stack.aclose().await.unwrap_err();
/// assert_eq!(errors.first().error().to_string(), "lease-7: already released");
/// # });
/// ```
///
/// [`Handle`]: ../exitstack/struct.Handle.html
/// [`AsyncExitStack`]: ../exitstack/struct.AsyncExitStack.html
#[proc_macro]
pub fn stack_callback(input: TokenStream) -> TokenStream {
    stack_callback::expand(input.into()).into()
}

/// Gives a function body a stack and unwinds it with the function's real return value: exit
/// handlers see the returned `Err` (pattern P3, Python's `ExitStack` as a decorator).
///
/// `#[with_stack(stack)]` binds the stack as `stack` (any name); `defer!` and
/// `stack_callback!` register on it. `#[with_stack(context = expr)]` enters a [`Context`]
/// before the body, so a function is wrapped without editing its body (repeatable).
///
/// ```
/// use exitstack::{defer, with_stack};
/// use std::cell::RefCell;
///
/// thread_local!(static LOG: RefCell<Vec<String>> = RefCell::new(Vec::new()));
/// fn log(line: String) { LOG.with(|log| log.borrow_mut().push(line)); }
///
/// #[with_stack(stack)]
/// fn parse(text: &str) -> Result<i32, Box<dyn std::error::Error + Send + Sync>> {
///     defer!(stack => |err| { log(format!("parse({text:?}) failed: {err}")); });
///     defer!(stack => on_success { log(format!("parsed {text:?}")); });
///     Ok(text.parse()?)
/// }
///
/// assert_eq!(parse("42").unwrap(), 42);
/// assert!(parse("x").is_err());
/// LOG.with(|log| assert_eq!(*log.borrow(), [
///     "parsed \"42\"",
///     "parse(\"x\") failed: invalid digit found in string",
/// ]));
/// ```
///
/// **Return types.** Whether the return type is a `Result` is decided by the type, not by its
/// name: `io::Result<T>`, `anyhow::Result<T>` and your own `type Res<T> = Result<T, E>` all
/// are, and a struct you named `Result` is not. Exit handlers see the returned error through
/// `Exit::error` when it is an `Error` (`io::Error`, a `thiserror` enum) or derefs to one
/// (`anyhow::Error`, `eyre::Report`, `Box<dyn Error + Send + Sync>`, `Box<dyn Error>`); any
/// other error type is a compile error, never a failure without an error. The error type must
/// also hold cleanup errors: `E: From<UnwindError>` (the types above, your own error) or
/// `io::Error` (they become `io::Error::other`). Cleanup errors after an `Ok` become its error;
/// after an `Err` the body's error is returned and the cleanup errors go to the report channel.
/// An error that a handler suppresses is still returned (the function has no value to return
/// instead; use `ExitStack::scope` to observe suppression). The `Ok` type may be an
/// `impl Trait` (`io::Result<impl Iterator<Item = u32>>`): its hidden type is inferred from the
/// body, as without the macro. Any other return type: the stack is closed after the body, and
/// cleanup errors are reported. A panic in the body unwinds the stack as panicked and is
/// resumed.
///
/// **One LIFO order.** A bare `defer!` in the function's outermost block registers on the
/// function's stack, so it runs in the same last-in-first-out order as every other cleanup
/// there, and its `on_error` / `on_success` follow the real outcome, `?` included. Like
/// `defer!(stack => ..)`, its block may borrow the parameters and `self`, not the body's
/// locals (`move` them in, or put the `defer!` in an inner block, where it stays a guard that
/// runs at the block's end).
///
/// **Methods and `async fn`.** Methods work (`&self` can be used in deferred blocks). On an
/// `async fn` returning a `Result` the body gets an `&mut AsyncExitStack`, unwound (awaiting
/// async entries) with the real result; its error types are those of a synchronous function,
/// shown to exit handlers (sync and async) and holding cleanup errors alike. Add `send` for a
/// `Send` future, to spawn it (its body is then an `async move` block; the error type must be
/// `Send + Sync` too: `anyhow::Error`, `Box<dyn Error + Send + Sync>`, not `Box<dyn Error>`).
///
/// Options: a binding name, `context = expr`, `send`, `crate = path`. Without a binding name
/// the stack is the macro's own and the body cannot name it.
///
/// [`Context`]: ../exitstack/trait.Context.html
#[proc_macro_attribute]
pub fn with_stack(args: TokenStream, input: TokenStream) -> TokenStream {
    decorator::expand(args.into(), input.into()).into()
}
