//! The runtime side of `#[with_stack]`: run a function body with a fresh stack and unwind it
//! with the body's real return value, so exit handlers see the returned `Err`.

use std::error::Error;
use std::future::{Future, Pending};
use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;

use crate::async_stack::{AsyncExitStack, SendScopeFuture};
use crate::error::{BoxError, CleanupError, UnwindError};
use crate::report::{self, ReportReason};
use crate::scope::{unwind_scope, ScopeError, ScopeResult};
use crate::stack::ExitStack;
use crate::threading::{Local, Sendable};

/// A return type that is a `Result`. No type but `Result` implements it: an `async fn` under
/// `#[with_stack]` whose return type is not a `Result` is one error, this trait's, on the return
/// type (through [`RunAsyncPlain`]).
#[diagnostic::on_unimplemented(
    message = "`#[with_stack]` on an `async fn` needs a `Result` return type, not `{Self}`",
    label = "not a `Result`"
)]
pub trait DecoratedResult {}

impl<T, E> DecoratedResult for Result<T, E> {}

/// The declared return type `R` of a decorated function. The generated code calls
/// `(&Decorated::<R>::new()).run(..)`: autoref picks [`RunResult`] when `R` is a `Result` (under
/// any name: an alias, `io::Result`, `anyhow::Result`), and [`RunPlain`] otherwise. No type name
/// is guessed. An `async fn` calls `Decorated::<R>::new().run_async(..)` (or `run_async_send`):
/// the inherent method of `Decorated<Result<T, E>>` when `R` is a `Result`, else
/// [`RunAsyncPlain`]'s, a compile error.
pub struct Decorated<R>(PhantomData<fn() -> R>);

impl<R> Decorated<R> {
    /// The marker for `R`.
    pub fn new() -> Self {
        Decorated(PhantomData)
    }
}

impl<R> Clone for Decorated<R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R> Copy for Decorated<R> {}

impl<R> Default for Decorated<R> {
    fn default() -> Self {
        Decorated::new()
    }
}

/// Given to a `Result` body: makes the function's error from a context that failed to enter.
pub struct ResultFail<C>(C);

impl<C> ResultFail<C> {
    /// The function's result for a context whose `enter` failed.
    pub fn fail<T, E>(self, error: impl Into<BoxError>) -> Result<T, E>
    where
        C: FnOnce(UnwindError, Convert<E>) -> E,
    {
        Err((self.0)(enter_failed(error), Convert::new()))
    }
}

/// Given to a body of any other type: a context that failed to enter panics.
pub struct PanicFail(());

impl PanicFail {
    /// Panics with the context's error: the function has no error to return.
    #[track_caller]
    pub fn fail<R>(self, error: impl Into<BoxError>) -> R {
        context_failed(error)
    }
}

/// Runs a body that returns a `Result` with a new stack, then unwinds the stack with the
/// outcome: `Ok` closes it ([`Ending::Succeeded`](crate::Ending::Succeeded)); `Err` unwinds it as
/// failed, with the error shown to exit handlers through `view`; a panic runs every entry and is
/// resumed.
///
/// Cleanup errors after an `Ok` become the function's error (through `convert`); after an
/// `Err`, the body's error is returned and the cleanup errors go to the report channel. A
/// suppressed error is still returned: the function has no other value to return.
pub trait RunResult<T, E> {
    /// Runs the body.
    fn run<'a, B, V, C>(self, body: B, view: V, convert: C) -> Result<T, E>
    where
        B: FnOnce(&ExitStack<'a>, ResultFail<C>) -> Result<T, E>,
        V: for<'e> Fn(&'e E) -> Option<&'e (dyn Error + 'static)>,
        C: Fn(UnwindError, Convert<E>) -> E + Copy;
}

impl<T, E> RunResult<T, E> for &Decorated<Result<T, E>> {
    #[inline]
    fn run<'a, B, V, C>(self, body: B, view: V, convert: C) -> Result<T, E>
    where
        B: FnOnce(&ExitStack<'a>, ResultFail<C>) -> Result<T, E>,
        V: for<'e> Fn(&'e E) -> Option<&'e (dyn Error + 'static)>,
        C: Fn(UnwindError, Convert<E>) -> E + Copy,
    {
        let mut stack = ManuallyDrop::new(ExitStack::new());
        let result = panic::catch_unwind(AssertUnwindSafe(|| body(&stack, ResultFail(convert))));
        // SAFETY: `stack` is not used again.
        let result = unsafe { unwind_scope(&mut stack, result, view) };
        from_scope(result, |errors| convert(errors, Convert::new()))
    }
}

impl<T, E> Decorated<Result<T, E>> {
    /// Runs an async body that returns a `Result` with a new [`AsyncExitStack`], then unwinds
    /// the stack (awaiting async entries) with the outcome, as [`RunResult::run`] does for a
    /// sync body: `view` shows the error to exit handlers, `convert` turns cleanup errors after
    /// an `Ok` into the function's error.
    pub async fn run_async<'a, B, V, C>(self, body: B, view: V, convert: C) -> Result<T, E>
    where
        B: AsyncFnOnce(&mut AsyncExitStack<'a, Local>, ResultFail<C>) -> Result<T, E>,
        V: for<'e> Fn(&'e E) -> Option<&'e (dyn Error + 'static)>,
        C: Fn(UnwindError, Convert<E>) -> E + Copy,
    {
        let body = async move |stack: &mut AsyncExitStack<'a, Local>| {
            body(stack, ResultFail(convert)).await
        };
        let result = async_scope(body, view).await;
        from_scope(result, |errors| convert(errors, Convert::new()))
    }

    /// [`run_async`](Decorated::run_async) with a `Send` stack, for `#[with_stack(send)]`: the
    /// body returns its future boxed by [`boxed`]. The future is `Send` when the error type is
    /// `Send + Sync`.
    pub async fn run_async_send<'a, B, V, C>(self, body: B, view: V, convert: C) -> Result<T, E>
    where
        B: for<'s> FnOnce(
            &'s mut AsyncExitStack<'a, Sendable>,
            ResultFail<C>,
        ) -> BoxedBody<'s, Result<T, E>>,
        V: for<'e> Fn(&'e E) -> Option<&'e (dyn Error + 'static)>,
        C: Fn(UnwindError, Convert<E>) -> E + Copy,
    {
        let result = async_scope_send(move |stack| body(stack, ResultFail(convert)), view).await;
        from_scope(result, |errors| convert(errors, Convert::new()))
    }
}

/// An `async fn` body's future, boxed and `Send`: [`SendScopeFuture`] of any output.
pub type BoxedBody<'s, R> = Pin<Box<dyn Future<Output = R> + Send + 's>>;

/// Boxes a `#[with_stack(send)]` body's future; its output is inferred from the call's expected
/// type (the declared return type), so `?` in the body converts into the declared error.
pub fn boxed<'s, R, F>(body: F) -> BoxedBody<'s, R>
where
    F: Future<Output = R> + Send + 's,
{
    Box::pin(body)
}

/// The `async fn` runs of a return type that is not a `Result`: a compile error, one, on the
/// return type (`R: DecoratedResult`). `view` and `convert` are typed for `io::Error`, as for
/// [`RunPlain`], so that nothing else is reported.
pub trait RunAsyncPlain<R> {
    /// A compile error: `R` is not a `Result`.
    fn run_async<'a, B, V, C>(self, body: B, view: V, convert: C) -> Pending<R>
    where
        R: DecoratedResult,
        B: AsyncFnOnce(&mut AsyncExitStack<'a, Local>, PanicFail) -> R,
        V: for<'e> Fn(&'e io::Error) -> Option<&'e (dyn Error + 'static)>,
        C: Fn(UnwindError, Convert<io::Error>) -> io::Error + Copy;

    /// A compile error: `R` is not a `Result`.
    fn run_async_send<'a, B, V, C>(self, body: B, view: V, convert: C) -> Pending<R>
    where
        R: DecoratedResult,
        B: for<'s> FnOnce(&'s mut AsyncExitStack<'a, Sendable>, PanicFail) -> BoxedBody<'s, R>,
        V: for<'e> Fn(&'e io::Error) -> Option<&'e (dyn Error + 'static)>,
        C: Fn(UnwindError, Convert<io::Error>) -> io::Error + Copy;
}

impl<R> RunAsyncPlain<R> for Decorated<R> {
    fn run_async<'a, B, V, C>(self, _: B, _: V, _: C) -> Pending<R>
    where
        R: DecoratedResult,
        B: AsyncFnOnce(&mut AsyncExitStack<'a, Local>, PanicFail) -> R,
        V: for<'e> Fn(&'e io::Error) -> Option<&'e (dyn Error + 'static)>,
        C: Fn(UnwindError, Convert<io::Error>) -> io::Error + Copy,
    {
        unreachable!("only `Result` is a `DecoratedResult`, and it has its own `run_async`")
    }

    fn run_async_send<'a, B, V, C>(self, _: B, _: V, _: C) -> Pending<R>
    where
        R: DecoratedResult,
        B: for<'s> FnOnce(&'s mut AsyncExitStack<'a, Sendable>, PanicFail) -> BoxedBody<'s, R>,
        V: for<'e> Fn(&'e io::Error) -> Option<&'e (dyn Error + 'static)>,
        C: Fn(UnwindError, Convert<io::Error>) -> io::Error + Copy,
    {
        unreachable!("only `Result` is a `DecoratedResult`, and it has its own `run_async_send`")
    }
}

/// Runs a body that returns any other type with a new stack, then closes the stack; cleanup
/// errors go to the report channel (the return type has no room for them). A panic in the body
/// unwinds the stack as [`Ending::Panicked`](crate::Ending::Panicked) and is resumed. `view`
/// and `convert` are the same closures as for a `Result`, typed for `io::Error` and unused.
pub trait RunPlain<R> {
    /// Runs the body.
    fn run<'a, B, V, C>(self, body: B, view: V, convert: C) -> R
    where
        B: FnOnce(&ExitStack<'a>, PanicFail) -> R,
        V: for<'e> Fn(&'e io::Error) -> Option<&'e (dyn Error + 'static)>,
        C: Fn(UnwindError, Convert<io::Error>) -> io::Error + Copy;
}

impl<R> RunPlain<R> for Decorated<R> {
    fn run<'a, B, V, C>(self, body: B, _: V, _: C) -> R
    where
        B: FnOnce(&ExitStack<'a>, PanicFail) -> R,
        V: for<'e> Fn(&'e io::Error) -> Option<&'e (dyn Error + 'static)>,
        C: Fn(UnwindError, Convert<io::Error>) -> io::Error + Copy,
    {
        let mut stack = ExitStack::new();
        // A panic drops the stack, which unwinds it as panicked and then lets the panic go on.
        let value = body(&stack, PanicFail(()));
        if let Err(errors) = stack.close() {
            for error in &errors {
                report::deliver(ReportReason::Dropped, error);
            }
        }
        value
    }
}

/// The scope of an `async fn` under `#[with_stack]` (run by [`Decorated::run_async`]):
/// [`AsyncExitStack::scope`] for any error type, with the error shown to exit handlers through
/// `view` (the closure the expansion builds by the view probes, as for [`RunResult::run`]).
pub async fn async_scope<'a, T, E, F, V>(body: F, view: V) -> ScopeResult<T, E>
where
    F: AsyncFnOnce(&mut AsyncExitStack<'a, Local>) -> Result<T, E>,
    V: for<'e> Fn(&'e E) -> Option<&'e (dyn Error + 'static)>,
{
    AsyncExitStack::scope_viewed(body, view).await
}

/// [`async_scope`] for `#[with_stack(send)]` (run by [`Decorated::run_async_send`]):
/// [`AsyncExitStack::scope_send`] for any error type, with `view`. The future is `Send` when
/// the error type is `Send + Sync`.
pub async fn async_scope_send<'a, T, E, F, V>(body: F, view: V) -> ScopeResult<T, E>
where
    F: for<'s> FnOnce(&'s mut AsyncExitStack<'a, Sendable>) -> SendScopeFuture<'s, T, E>,
    V: for<'e> Fn(&'e E) -> Option<&'e (dyn Error + 'static)>,
{
    AsyncExitStack::scope_send_viewed(body, view).await
}

/// The failure of a context given to `#[with_stack(context = ..)]` whose `enter` failed, as a
/// one-element [`UnwindError`], for the function to convert like a cleanup error.
pub fn enter_failed(error: impl Into<BoxError>) -> UnwindError {
    UnwindError::from_errors(vec![CleanupError::new(error)]).expect("one error")
}

/// The error of a body, probed by autoref in the generated code: the first of [`ViewError`]
/// (`E: Error`), [`ViewSendSync`] (`E: AsRef<dyn Error + Send + Sync>`: `anyhow::Error`,
/// `eyre::Report`, `Box<dyn Error + Send + Sync>`), [`ViewLocal`] (`E: AsRef<dyn Error>`:
/// `Box<dyn Error>`) and [`ViewUnsupported`] that applies gives a tag whose `view` shows the
/// error to exit handlers. The last one is a compile error (`ShownToHandlers`): an error that
/// handlers cannot see is never silently passed as "no error".
pub struct ErrorView<'e, E>(pub &'e E);

/// Tag: the error implements `Error`.
pub struct AsError;
/// Tag: the error derefs to `dyn Error + Send + Sync`.
pub struct AsSendSync;
/// Tag: the error derefs to `dyn Error`.
pub struct AsLocal;
/// Tag: the error cannot be shown to exit handlers.
pub struct Unsupported;

impl AsError {
    /// The error as `dyn Error`.
    pub fn view<E: Error + 'static>(self, error: &E) -> Option<&(dyn Error + 'static)> {
        Some(error)
    }
}

impl AsSendSync {
    /// The error as `dyn Error`.
    pub fn view<E>(self, error: &E) -> Option<&(dyn Error + 'static)>
    where
        E: AsRef<dyn Error + Send + Sync + 'static>,
    {
        Some(error.as_ref())
    }
}

impl AsLocal {
    /// The error as `dyn Error`.
    pub fn view<E: AsRef<dyn Error + 'static>>(self, error: &E) -> Option<&(dyn Error + 'static)> {
        Some(error.as_ref())
    }
}

impl Unsupported {
    /// A compile error: `E` is not [`ShownToHandlers`].
    pub fn view<E: ShownToHandlers>(self, error: &E) -> Option<&(dyn Error + 'static)> {
        Some(error.shown())
    }
}

/// An error type that exit handlers can see but that is neither `Error` nor `AsRef<dyn Error>`.
/// No type implements it: it names the mistake in the compile error.
#[diagnostic::on_unimplemented(
    message = "`#[with_stack]` shows the returned error to exit handlers, but `{Self}` is not an error",
    label = "`{Self}` is neither `std::error::Error` nor `AsRef<dyn Error>`",
    note = "return an error type that implements `std::error::Error`, or `anyhow::Error`, `Box<dyn Error + Send + Sync>`"
)]
pub trait ShownToHandlers {
    /// The error as `dyn Error`.
    fn shown(&self) -> &(dyn Error + 'static);
}

/// The first probe: errors that implement `Error`.
pub trait ViewError {
    /// The tag.
    fn tag(self) -> AsError;
}
impl<E: Error + 'static> ViewError for &&&ErrorView<'_, E> {
    fn tag(self) -> AsError {
        AsError
    }
}

/// The second probe: `anyhow::Error`, `eyre::Report`, `Box<dyn Error + Send + Sync>`.
pub trait ViewSendSync {
    /// The tag.
    fn tag(self) -> AsSendSync;
}
impl<E: AsRef<dyn Error + Send + Sync + 'static>> ViewSendSync for &&ErrorView<'_, E> {
    fn tag(self) -> AsSendSync {
        AsSendSync
    }
}

/// The third probe: `Box<dyn Error>`.
pub trait ViewLocal {
    /// The tag.
    fn tag(self) -> AsLocal;
}
impl<E: AsRef<dyn Error + 'static>> ViewLocal for &ErrorView<'_, E> {
    fn tag(self) -> AsLocal {
        AsLocal
    }
}

/// The last probe: anything else, a compile error when viewed.
pub trait ViewUnsupported {
    /// The tag.
    fn tag(self) -> Unsupported;
}
impl<E> ViewUnsupported for ErrorView<'_, E> {
    fn tag(self) -> Unsupported {
        Unsupported
    }
}

/// Converts cleanup errors into a decorated function's error type `E`; the generated code probes
/// by autoref, first applicable first: [`ConvertFrom`] (`E: From<UnwindError>`), [`ConvertIo`]
/// (`E = io::Error`), then, for an error that exit handlers can see but that cannot hold
/// cleanup errors, [`ConvertViewError`], [`ConvertViewSendSync`] and [`ConvertViewLocal`] (the
/// bounds of the view probes: a compile error naming `HoldsCleanupErrors`), and last
/// [`ConvertUnsupported`], for an error type that handlers cannot see either: the view probe
/// reports that one, so a type that fails both is one error, not two.
pub struct Convert<E>(PhantomData<fn() -> E>);

impl<E> Convert<E> {
    /// The converter for `E`.
    pub fn new() -> Self {
        Convert(PhantomData)
    }
}

impl<E> Default for Convert<E> {
    fn default() -> Self {
        Convert::new()
    }
}

/// Tag: `E: From<UnwindError>`.
pub struct ByFrom;
/// Tag: `io::Error`.
pub struct ByIo;
/// Tag: no conversion, for an error that handlers can see.
pub struct ByNothing;
/// Tag: no conversion, for an error that handlers cannot see: the view reports it.
pub struct ByView;

impl ByFrom {
    /// `E::from(errors)`.
    pub fn convert<E: From<UnwindError>>(self, errors: UnwindError) -> E {
        E::from(errors)
    }
}

impl ByIo {
    /// `io::Error::other(errors)`.
    pub fn convert(self, errors: UnwindError) -> io::Error {
        io::Error::other(errors)
    }
}

impl ByNothing {
    /// A compile error: `E` is not [`HoldsCleanupErrors`].
    pub fn convert<E: HoldsCleanupErrors>(self, errors: UnwindError) -> E {
        E::hold(errors)
    }
}

impl ByView {
    /// Never compiled into a program: it is picked only for an error type that no view probe
    /// takes, so the view's `ShownToHandlers` bound has already failed the build. No second
    /// error is added for the same type.
    pub fn convert<E>(self, _: UnwindError) -> E {
        unreachable!("`#[with_stack]`: an error type that handlers cannot see does not compile")
    }
}

/// An error type that can hold cleanup errors without `From<UnwindError>`. No type implements
/// it: it names the mistake in the compile error.
#[diagnostic::on_unimplemented(
    message = "`#[with_stack]` returns cleanup errors as the function's error, but `{Self}` cannot hold them",
    label = "`{Self}` does not implement `From<UnwindError>`",
    note = "implement `From<exitstack::UnwindError>` for the error type, or return `io::Error`, `anyhow::Error` or `Box<dyn Error + Send + Sync>`"
)]
pub trait HoldsCleanupErrors {
    /// The errors as `Self`.
    fn hold(errors: UnwindError) -> Self;
}

/// The first probe: error types that take an [`UnwindError`] (`Box<dyn Error + Send + Sync>`,
/// `anyhow::Error`, application errors with a `From` impl).
pub trait ConvertFrom {
    /// The tag.
    fn tag(self) -> ByFrom;
}
impl<E: From<UnwindError>> ConvertFrom for &&&&&Convert<E> {
    fn tag(self) -> ByFrom {
        ByFrom
    }
}

/// The second probe: `io::Error`, which has no `From<UnwindError>`.
pub trait ConvertIo {
    /// The tag.
    fn tag(self) -> ByIo;
}
impl ConvertIo for &&&&Convert<io::Error> {
    fn tag(self) -> ByIo {
        ByIo
    }
}

/// The third probe: an `Error` (the bound of [`ViewError`]) that cannot hold cleanup errors, a
/// compile error when converted.
pub trait ConvertViewError {
    /// The tag.
    fn tag(self) -> ByNothing;
}
impl<E: Error + 'static> ConvertViewError for &&&Convert<E> {
    fn tag(self) -> ByNothing {
        ByNothing
    }
}

/// The fourth probe: the bound of [`ViewSendSync`], a compile error when converted.
pub trait ConvertViewSendSync {
    /// The tag.
    fn tag(self) -> ByNothing;
}
impl<E: AsRef<dyn Error + Send + Sync + 'static>> ConvertViewSendSync for &&Convert<E> {
    fn tag(self) -> ByNothing {
        ByNothing
    }
}

/// The fifth probe: the bound of [`ViewLocal`], a compile error when converted.
pub trait ConvertViewLocal {
    /// The tag.
    fn tag(self) -> ByNothing;
}
impl<E: AsRef<dyn Error + 'static>> ConvertViewLocal for &Convert<E> {
    fn tag(self) -> ByNothing {
        ByNothing
    }
}

/// The last probe: an error type that handlers cannot see either (the view probe's
/// [`ViewUnsupported`]), whose one compile error is the view's.
pub trait ConvertUnsupported {
    /// The tag.
    fn tag(self) -> ByView;
}
impl<E> ConvertUnsupported for Convert<E> {
    fn tag(self) -> ByView {
        ByView
    }
}

/// Panics for a context whose `enter` failed in a function that cannot return the error.
#[track_caller]
pub fn context_failed(error: impl Into<BoxError>) -> ! {
    panic!("`with_stack` context failed to enter: {}", error.into())
}

/// The result of a decorated function (sync or async) from its scope's result: the body's
/// value, the body's error (even if suppressed; cleanup errors after it are reported), or the
/// cleanup errors as the function's error.
#[inline]
pub fn from_scope<T, E>(
    result: ScopeResult<T, E>,
    convert: impl FnOnce(UnwindError) -> E,
) -> Result<T, E> {
    result.map_err(|error| function_error(error, convert))
}

/// The error of a decorated function whose scope failed: the body's error, suppressed or not
/// (cleanup errors after it have no room in the return value and are reported), or else the
/// cleanup errors converted.
#[cold]
#[inline(never)]
fn function_error<E>(error: ScopeError<E>, convert: impl FnOnce(UnwindError) -> E) -> E {
    let (body, suppressed, cleanup) = error.into_parts();
    match body.or(suppressed) {
        Some(error) => {
            for lost in cleanup.into_iter().flatten() {
                report::deliver(ReportReason::Dropped, &lost);
            }
            error
        }
        None => convert(cleanup.expect("a failed scope has an error")),
    }
}
