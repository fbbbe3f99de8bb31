//! Every kind of entry panics while the stack is dropped during another panic. An abort would
//! take the whole test binary down, so the scenario runs in a child process (this binary,
//! re-executed on one ignored test): the parent asserts that the child exited normally, not by
//! `SIGABRT`, and that the default report channel (standard error) named every caught panic.
//!
//! Under Miri, which cannot spawn processes, the scenario runs in-process.

use std::cell::Cell;
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::process::Command;
use std::rc::Rc;

use exitstack::{managed, AsyncExitStack, Close, Context, Exit, ExitStack, Flow};
use exitstack_tests::test_name;

/// The ignored test the child process runs (its function name; see `test_name`).
const CHILD: &str = "drop_during_panic_child";

/// A value whose `Drop` (or `close`) panics.
struct Bomb(&'static str);

impl Drop for Bomb {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            panic!("{}", self.0);
        }
    }
}

impl Close for Bomb {
    type Error = String;
    fn close(mut self) -> Result<(), String> {
        let message = std::mem::take(&mut self.0);
        panic!("{message}");
    }
}

/// A context whose exit panics.
struct Fuse;

impl Context for Fuse {
    type Target = ();
    type Error = String;
    fn enter(self) -> Result<(), String> {
        Ok(())
    }
    fn exit((): (), _: &Exit<'_>) -> Result<Flow, String> {
        panic!("context exit")
    }
}

/// The labels of the entries that panic, in the order the unwind meets them (newest first).
const PANICKING: [&str; 15] = [
    "non-string payload",
    "closed nested stack",
    "pushed stack",
    "with stack",
    "registered during unwind",
    "context exit",
    "guard",
    "guard",
    "enter_closing",
    "enter",
    "push_exit",
    "push_exit",
    "callback_on_error",
    "callback",
    "callback",
];

/// Registers one panicking entry of every kind (a success-only one too, which must not run).
fn arm(stack: &ExitStack<'static>, ran: &Rc<Cell<usize>>) {
    let count = |ran: &Rc<Cell<usize>>| {
        let ran = Rc::clone(ran);
        move || ran.set(ran.get() + 1)
    };
    let tick = count(ran);
    let _ = stack.callback(move || {
        tick();
        panic!("callback")
    });
    let _ = stack.callback(|| ()).label("quiet entry between panics");
    let tick = count(ran);
    let _ = stack.callback(move || -> Result<(), String> {
        tick();
        panic!("callback")
    });
    let tick = count(ran);
    let _ = stack.callback_on_error(move || {
        tick();
        panic!("callback_on_error")
    });
    let _ = stack.callback_on_success(|| panic!("a success-only entry ran during a panic"));
    let tick = count(ran);
    let _ = stack.push_exit(move |exit| {
        tick();
        assert!(exit.is_panicking(), "the handler sees the panic");
        panic!("push_exit")
    });
    let _ = stack.push_exit(|_| -> Result<Flow, String> { panic!("push_exit") });
    let _ = stack.enter(Bomb("enter"));
    let _ = stack.enter_closing(Bomb("enter_closing"));
    let _ = stack.guard((), |()| panic!("guard"));
    let _ = stack.guard((), |()| -> Result<(), String> { panic!("guard") });
    let _ = stack.enter_context(Fuse).unwrap();
    let _ = stack.callback_with_stack(|stack| {
        let _ = stack.callback(|| panic!("registered during unwind"));
        panic!("with stack")
    });
    let pushed = ExitStack::new();
    let _ = pushed.callback(|| panic!("pushed stack"));
    let _ = stack.push_stack(pushed);
    let mut closed = ExitStack::new();
    let _ = closed.callback(|| panic!("closed nested stack"));
    let _ = stack.callback(move || closed.close());
    let _ = stack.callback(|| panic_any(42_u8));
}

/// Drops a stack of panicking entries during a panic, twice (directly, and as a field of a
/// value dropped by the unwinding); returns how many counted entries ran.
fn scenario() -> usize {
    let ran = Rc::new(Cell::new(0));
    for _ in 0..2 {
        let stack = ExitStack::new();
        arm(&stack, &ran);
        struct Holder(#[allow(dead_code)] ExitStack<'static>);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _holder = Holder(stack);
            panic!("the scope's own panic");
        }));
        let payload = result.expect_err("the scope's panic comes out");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"the scope's own panic"),
            "the scope's own panic, not a cleanup's, is the one that continues"
        );
    }
    ran.get()
}

/// A struct whose closers both panic.
#[managed]
struct Pair {
    #[managed(close = Bomb::close)]
    first: Bomb,
    #[managed(close = Bomb::close)]
    second: Bomb,
}

/// An async stack (sync entry panicking, async entries never run) and a `#[managed]` struct
/// (both closers panicking), each dropped during a panic.
fn async_and_managed_scenario() {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let stack = AsyncExitStack::new();
        let _ = stack.push_async_callback(|| async { panic!("an async entry ran in a drop") });
        let _ = stack.callback(|| panic!("async stack's sync entry"));
        let _ = stack.push_async_exit(|_| async { panic!("an async exit ran in a drop") });
        let _pair = Pair {
            first: Bomb("managed first").into(),
            second: Bomb("managed second").into(),
        };
        panic!("the scope's own panic");
    }));
    assert!(result.is_err());
}

/// The panics caught by the report channel in the async and managed scenario, in order.
const ASYNC_AND_MANAGED: [&str; 3] = [
    "managed second",
    "managed first",
    "async stack's sync entry",
];

#[test]
#[ignore = "run in a child process by `every_kind_of_entry_panicking_during_a_panic_never_aborts`"]
fn drop_during_panic_child() {
    let ran = scenario();
    assert_eq!(ran, 2 * 4, "every counted entry ran, in both rounds");
    async_and_managed_scenario();
    println!("child finished: {ran} counted entries ran");
}

#[test]
fn every_kind_of_entry_panicking_during_a_panic_never_aborts() {
    if cfg!(miri) {
        std::panic::set_hook(Box::new(|_| {}));
        assert_eq!(scenario(), 8);
        async_and_managed_scenario();
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            &test_name(module_path!(), CHILD),
            "--exact",
            "--include-ignored",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("re-run this test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_ne!(
            output.status.signal(),
            Some(6),
            "aborted (SIGABRT):\n{stderr}"
        );
    }
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("child finished: 8 counted entries ran"),
        "{stdout}"
    );
    let reports: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("exitstack: cleanup panicked during a panic"))
        .collect();
    assert_eq!(reports.len(), 2 * PANICKING.len() + 3, "{stderr}");
    let expected = PANICKING.iter().chain(&PANICKING).chain(&ASYNC_AND_MANAGED);
    for (report, expected) in reports.iter().zip(expected) {
        let message = if *expected == "non-string payload" {
            "panicked: panic with a non-string payload".to_owned()
        } else {
            format!("panicked: {expected}")
        };
        assert!(
            report.ends_with(&message),
            "{report:?} should end with {message:?}"
        );
    }
    assert!(!stderr.contains("success-only"), "{stderr}");
    assert!(!stderr.contains("ran in a drop"), "{stderr}");
    let not_run = stderr
        .lines()
        .filter(|line| line.starts_with("exitstack: async cleanup not run"));
    assert_eq!(not_run.count(), 2, "{stderr}");
}
