//! Every documented `#[with_stack]` form.
use exitstack::{defer, with_stack, Context, Exit, Flow};
use std::convert::Infallible;

struct Traced;
impl Context for Traced {
    type Target = ();
    type Error = Infallible;
    fn enter(self) -> Result<(), Infallible> {
        Ok(())
    }
    fn exit((): (), _: &Exit<'_>) -> Result<Flow, Infallible> {
        Ok(Flow::Propagate)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[with_stack(stack)]
fn named() -> Result<u8, BoxError> {
    defer!(stack => { println!("done"); });
    Ok(1)
}

#[with_stack]
fn unnamed() -> u8 {
    2
}

#[with_stack(context = Traced, context = Traced)]
fn contexts() -> Result<(), BoxError> {
    Ok(())
}

#[with_stack(s, crate = exitstack)]
fn renamed(text: &str) -> &str {
    defer!(s => { println!("returning"); });
    text
}

struct Service;
impl Service {
    #[with_stack(stack)]
    fn method(&self) -> Result<(), BoxError> {
        defer!(stack => { println!("method"); });
        Ok(())
    }
}

#[derive(Debug)]
struct AppError;
impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("app error")
    }
}
impl std::error::Error for AppError {}
impl From<exitstack::UnwindError> for AppError {
    fn from(_: exitstack::UnwindError) -> Self {
        AppError
    }
}

#[with_stack(stack)]
async fn asynchronous() -> Result<(), AppError> {
    stack.push_async_callback(|| async {});
    Ok(())
}

/// Boxed errors on `async fn`; with `send`, the future is `Send`.
#[with_stack(stack, send)]
async fn spawnable() -> Result<(), BoxError> {
    stack.push_async_callback(|| async {});
    Ok(())
}

#[with_stack(stack)]
async fn local_box() -> Result<(), Box<dyn std::error::Error>> {
    defer!(stack => |err| { println!("{err}"); });
    Ok(())
}

fn assert_send<F: Send>(future: F) -> F {
    future
}

fn main() {
    named().unwrap();
    unnamed();
    contexts().unwrap();
    renamed("x");
    Service.method().unwrap();
    drop(asynchronous());
    drop(assert_send(spawnable()));
    drop(local_box());
}
