//! `#[managed]`: teardown order in every mode, closers, labels, panics, generics, the stack.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use exitstack::{managed, report, CleanupError, ExitStack, ManagedField};

type Log = Rc<RefCell<Vec<String>>>;

/// A resource that logs its release; `close` may fail or panic on demand.
struct Res {
    name: &'static str,
    log: Log,
    fail: bool,
    panic: bool,
}

impl Res {
    fn new(name: &'static str, log: &Log) -> Self {
        Res {
            name,
            log: Rc::clone(log),
            fail: false,
            panic: false,
        }
    }
    fn failing(mut self) -> Self {
        self.fail = true;
        self
    }
    fn panicking(mut self) -> Self {
        self.panic = true;
        self
    }
    fn close(self) -> Result<(), String> {
        self.log.borrow_mut().push(format!("close {}", self.name));
        assert!(!self.panic, "{} panicked", self.name);
        if self.fail {
            Err(format!("{} failed", self.name))
        } else {
            Ok(())
        }
    }
}

/// Dropped (not closed) resources log too.
struct Dropper(&'static str, Log);
impl Drop for Dropper {
    fn drop(&mut self) {
        self.1.borrow_mut().push(format!("drop {}", self.0));
    }
}

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

fn taken(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.borrow_mut())
}

#[managed]
struct Reverse {
    #[managed(close = Res::close)]
    a: Res,
    #[managed(close = Res::close)]
    b: Res,
    c: Dropper,
}

#[test]
fn default_order_is_reverse_declaration_on_close_and_on_drop() {
    let log = log();
    let value = Reverse {
        a: Res::new("a", &log).into(),
        b: Res::new("b", &log).into(),
        c: Dropper("c", Rc::clone(&log)).into(),
    };
    value.close().unwrap();
    assert_eq!(taken(&log), ["drop c", "close b", "close a"]);
    drop(Reverse {
        a: Res::new("a", &log).into(),
        b: Res::new("b", &log).into(),
        c: Dropper("c", Rc::clone(&log)).into(),
    });
    assert_eq!(taken(&log), ["drop c", "close b", "close a"]);
}

#[managed(order = declaration)]
struct Declaration(
    #[managed(close = Res::close)] Res,
    #[managed(close = Res::close)] Res,
    #[managed(skip)] Dropper,
    #[managed(close = Res::close)] Res,
);

#[test]
fn declaration_order_and_skipped_fields_dropped_last() {
    let log = log();
    let value = Declaration(
        Res::new("0", &log).into(),
        Res::new("1", &log).into(),
        Dropper("skipped", Rc::clone(&log)),
        Res::new("3", &log).into(),
    );
    assert_eq!(value.1.name, "1"); // fields are used through Deref
    assert_eq!(value.2 .0, "skipped"); // a skipped field keeps its own type
    drop(value);
    assert_eq!(
        taken(&log),
        ["close 0", "close 1", "close 3", "drop skipped"]
    );
}

#[managed]
struct Dependencies {
    #[managed(close = Res::close, after = conn)]
    pool: Res,
    #[managed(close = Res::close, after = [pool, cache])]
    runtime: Res,
    #[managed(close = Res::close)]
    conn: Res,
    #[managed(close = Res::close, rank = -1)]
    cache: Res,
}

#[test]
fn after_constraints_and_rank_refine_the_order() {
    let log = log();
    let value = Dependencies {
        pool: Res::new("pool", &log).into(),
        runtime: Res::new("runtime", &log).into(),
        conn: Res::new("conn", &log).into(),
        cache: Res::new("cache", &log).into(),
    };
    value.close().unwrap();
    // cache has the lowest rank; conn before pool (after = conn); runtime last.
    assert_eq!(
        taken(&log),
        ["close cache", "close conn", "close pool", "close runtime"]
    );
}

#[managed]
struct Fallible {
    #[managed(close = Res::close, label = "first resource")]
    first: Res,
    #[managed(close = Res::close)]
    second: Res,
    #[managed(close = Res::close)]
    third: Res,
}

#[test]
fn close_returns_every_error_in_teardown_order_with_labels() {
    let log = log();
    let value = Fallible {
        first: Res::new("first", &log).failing().into(),
        second: Res::new("second", &log).into(),
        third: Res::new("third", &log).failing().into(),
    };
    let errors = value.close().unwrap_err();
    let seen: Vec<(Option<&str>, String)> = errors
        .iter()
        .map(|e| (e.label(), e.error().to_string()))
        .collect();
    assert_eq!(
        seen,
        [
            (Some("third"), "third failed".to_owned()),
            (Some("first resource"), "first failed".to_owned()),
        ]
    );
    assert_eq!(taken(&log), ["close third", "close second", "close first"]);
}

#[test]
fn drop_reports_errors_outside_a_stack() {
    let log = log();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    report::with_reporter(
        move |report: &report::Report<'_>| {
            sink.lock()
                .unwrap()
                .push((report.reason(), report.error().to_string()));
        },
        || {
            drop(Fallible {
                first: Res::new("first", &log).into(),
                second: Res::new("second", &log).failing().into(),
                third: Res::new("third", &log).into(),
            });
        },
    );
    assert_eq!(
        *reports.lock().unwrap(),
        [(
            report::ReportReason::DropOutsideStack,
            "cleanup `second` failed: second failed".to_owned()
        )]
    );
}

#[test]
fn entered_in_a_stack_its_errors_join_the_stack_result() {
    let log = log();
    let make = |log: &Log| Fallible {
        first: Res::new("first", log).failing().into(),
        second: Res::new("second", log).into(),
        third: Res::new("third", log).failing().into(),
    };
    // `enter` drops it: the Drop teardown's errors join the stack's result.
    let mut stack = ExitStack::new();
    stack.callback(|| Err("registered first"));
    stack.enter(make(&log));
    let errors: Vec<String> = stack
        .close()
        .unwrap_err()
        .iter()
        .map(|e| e.error().to_string())
        .collect();
    assert_eq!(errors, ["third failed", "first failed", "registered first"]);
    // `enter_closing` calls `Close::close`: same errors, same order.
    let mut stack = ExitStack::new();
    stack.enter_closing(make(&log));
    let labels: Vec<Option<String>> = stack
        .close()
        .unwrap_err()
        .iter()
        .map(|e| e.label().map(str::to_owned))
        .collect();
    assert_eq!(
        labels,
        [Some("third".to_owned()), Some("first resource".to_owned())]
    );
}

#[test]
fn a_panicking_closer_does_not_stop_the_others_and_is_resumed() {
    let log = log();
    let value = Fallible {
        first: Res::new("first", &log).into(),
        second: Res::new("second", &log).panicking().into(),
        third: Res::new("third", &log).into(),
    };
    let panic = catch_unwind(AssertUnwindSafe(|| value.close())).unwrap_err();
    assert_eq!(panic.downcast_ref::<String>().unwrap(), "second panicked");
    assert_eq!(taken(&log), ["close third", "close second", "close first"]);
}

#[test]
fn dropped_during_a_panic_runs_everything_and_does_not_abort() {
    let log = log();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let result = report::with_reporter(
        move |report: &report::Report<'_>| sink.lock().unwrap().push(report.reason()),
        || {
            catch_unwind(AssertUnwindSafe(|| {
                let _value = Fallible {
                    first: Res::new("first", &log).panicking().into(),
                    second: Res::new("second", &log).panicking().into(),
                    third: Res::new("third", &log).into(),
                };
                panic!("body panicked");
            }))
        },
    );
    let panic = result.unwrap_err();
    assert_eq!(*panic.downcast_ref::<&str>().unwrap(), "body panicked");
    assert_eq!(taken(&log), ["close third", "close second", "close first"]);
    assert_eq!(
        *reports.lock().unwrap(),
        [report::ReportReason::PanicDuringPanic; 2]
    );
}

/// Generics, lifetimes and where-clauses.
#[managed]
struct Generic<'l, T, const N: usize>
where
    T: Clone,
{
    #[managed(close = Self::release)]
    items: [T; N],
    log: &'l RefCell<Vec<String>>,
}

impl<T: Clone, const N: usize> Generic<'_, T, N> {
    fn release(items: [T; N]) -> Result<(), &'static str> {
        drop(items);
        Err("released")
    }
}

#[test]
fn generics_lifetimes_and_self_closers() {
    let log = RefCell::new(Vec::new());
    let value = Generic::<'_, u8, 3> {
        items: [1, 2, 3].into(),
        log: (&log).into(),
    };
    value.log.borrow_mut().push("used".to_owned());
    assert_eq!(value.items.len(), 3);
    let errors = value.close().unwrap_err();
    assert_eq!(errors.first().label(), Some("items"));
    assert_eq!(*log.borrow(), ["used"]);
}

/// A nested managed struct torn down by drop reports into its parent's result.
#[managed]
struct Outer {
    inner: Fallible,
    #[managed(close = Res::close)]
    last: Res,
}

#[test]
fn nested_managed_structs_return_their_errors_through_the_parent() {
    let log = log();
    let value = Outer {
        inner: Fallible {
            first: Res::new("first", &log).failing().into(),
            second: Res::new("second", &log).into(),
            third: Res::new("third", &log).into(),
        }
        .into(),
        last: Res::new("last", &log).failing().into(),
    };
    let errors: Vec<String> = value
        .close()
        .unwrap_err()
        .iter()
        .map(|e| e.error().to_string())
        .collect();
    assert_eq!(errors, ["last failed", "first failed"]);
    assert_eq!(
        taken(&log),
        ["close last", "close third", "close second", "close first"]
    );
}

/// Field `#[cfg]`: a field compiled out is not torn down, the others are.
#[managed]
struct WithCfg {
    #[managed(close = Res::close)]
    kept: Res,
    #[cfg(any())]
    #[managed(close = Res::close)]
    gone: Res,
}

#[test]
fn cfg_fields_are_respected() {
    let log = log();
    WithCfg {
        kept: Res::new("kept", &log).into(),
    }
    .close()
    .unwrap();
    assert_eq!(taken(&log), ["close kept"]);
}

/// Field `#[cfg_attr]` that cannot remove the field: `acquire` is still generated.
#[managed]
struct WithCfgAttr {
    #[cfg_attr(test, doc = "documented under test")]
    #[managed(close = Res::close)]
    first: Res,
    #[cfg_attr(any(), allow(dead_code), doc = "never")]
    #[cfg_attr(all(), cfg_attr(test, allow(clippy::struct_field_names)))]
    second: Dropper,
}

#[test]
fn cfg_attr_fields_keep_acquire() {
    let log = log();
    let value = WithCfgAttr::acquire(
        || Ok::<_, String>(Res::new("first", &log)),
        |first| Ok(Dropper(first.name, Rc::clone(&log))),
    )
    .unwrap();
    assert_eq!(value.second.0, "first");
    value.close().unwrap();
    assert_eq!(taken(&log), ["drop first", "close first"]);
}

/// Field `#[cfg_attr]` that expands to `#[cfg]`: the field is conditional, like with `#[cfg]`.
#[managed]
struct WithCfgInCfgAttr {
    #[managed(close = Res::close)]
    kept: Res,
    #[cfg_attr(test, cfg(any()))]
    #[managed(close = Res::close)]
    gone: Res,
    #[cfg_attr(all(), doc = "nested", cfg_attr(test, cfg(any())))]
    #[managed(close = Res::close)]
    gone_too: Res,
    #[cfg_attr(any(), cfg(any()))]
    #[managed(close = Res::close)]
    there: Res,
}

#[test]
fn cfg_attr_expanding_to_cfg_is_respected() {
    let log = log();
    WithCfgInCfgAttr {
        kept: Res::new("kept", &log).into(),
        there: Res::new("there", &log).into(),
    }
    .close()
    .unwrap();
    assert_eq!(taken(&log), ["close there", "close kept"]);
}

#[test]
fn field_wrapper_reads_like_the_value() {
    let mut field = ManagedField::new(vec![1]);
    field.push(2);
    assert_eq!(*field, [1, 2]);
    assert_eq!(format!("{field:?}"), "[1, 2]");
    let error = CleanupError::new("unused");
    assert!(error.label().is_none());
}

#[test]
fn acquire_rolls_back_in_teardown_order_then_drops_skipped_fields() {
    let log = log();
    let error = Declaration::acquire(
        || Ok(Res::new("0", &log)),
        |_| Ok(Res::new("1", &log).failing()),
        |_, _| Ok(Dropper("skipped", Rc::clone(&log))),
        |_, _, _| Err("acquisition 3 failed"),
    )
    .err()
    .unwrap();
    assert_eq!(*error.error(), "acquisition 3 failed");
    let teardown: Vec<String> = error
        .teardown_errors()
        .unwrap()
        .iter()
        .map(|e| e.error().to_string())
        .collect();
    assert_eq!(teardown, ["1 failed"]);
    assert_eq!(taken(&log), ["close 0", "close 1", "drop skipped"]);
}

#[test]
fn acquire_in_reverse_order_with_dependencies() {
    let log = log();
    let error = Dependencies::acquire(
        || Ok(Res::new("pool", &log)),
        |_| Ok(Res::new("runtime", &log)),
        |_, _| Ok(Res::new("conn", &log)),
        |_, _, _| Err(()),
    )
    .err()
    .unwrap();
    assert!(error.teardown_errors().is_none());
    // Teardown order restricted to what was acquired: conn, pool, runtime.
    assert_eq!(taken(&log), ["close conn", "close pool", "close runtime"]);
    let built = Dependencies::acquire(
        || Ok::<_, ()>(Res::new("pool", &log)),
        |pool| {
            Ok(Res::new(
                if pool.name == "pool" { "runtime" } else { "?" },
                &log,
            ))
        },
        |_, _| Ok(Res::new("conn", &log)),
        |_, _, _| Ok(Res::new("cache", &log)),
    )
    .unwrap();
    assert_eq!(built.runtime.name, "runtime");
    assert!(taken(&log).is_empty(), "nothing torn down on success");
}

#[test]
fn a_panicking_closer_during_rollback_is_resumed_after_the_others() {
    let log = log();
    let panic = catch_unwind(AssertUnwindSafe(|| {
        let _ = Fallible::acquire(
            || Ok(Res::new("first", &log)),
            |_| Ok(Res::new("second", &log).panicking()),
            |_, _| Err("third failed"),
        );
    }))
    .unwrap_err();
    assert_eq!(panic.downcast_ref::<String>().unwrap(), "second panicked");
    assert_eq!(taken(&log), ["close second", "close first"]);
}

#[test]
fn acquire_fails_first_with_nothing_to_roll_back() {
    let log = log();
    let error = Reverse::acquire(
        || Err::<Res, _>("first failed"),
        |_| Ok(Res::new("b", &log)),
        |_, _| Ok(Dropper("c", Rc::clone(&log))),
    )
    .err()
    .unwrap();
    assert_eq!(error.into_error(), "first failed");
    assert!(taken(&log).is_empty());
}

/// Built from plain values with the generated `new`: no `.into()` per field.
#[managed]
struct FromPlain<'a> {
    #[managed(close = Res::close)]
    res: Res,
    dropper: Dropper,
    #[managed(skip)]
    name: &'a str,
}

#[test]
fn new_builds_from_plain_values_and_tears_down_as_usual() {
    let log = log();
    let value = FromPlain::new(Res::new("r", &log), Dropper("d", Rc::clone(&log)), "plain");
    assert_eq!(value.name, "plain");
    assert_eq!(value.res.name, "r"); // the field derefs to its value
    drop(value);
    assert_eq!(taken(&log), ["drop d", "close r"]);
}

/// A struct with its own `new` renames the generated one.
#[managed(new = from_parts)]
struct Renamed(#[managed(close = Res::close)] Res, u8);

impl Renamed {
    fn new(res: Res) -> Self {
        Renamed::from_parts(res, 0)
    }
}

#[test]
fn new_can_be_renamed_for_a_struct_with_its_own() {
    let log = log();
    let value = Renamed::new(Res::new("own", &log));
    assert_eq!(*value.1, 0);
    value.close().unwrap();
    assert_eq!(taken(&log), ["close own"]);
}

/// With a field configured out, `new` still exists (its parameters carry the same `#[cfg]`).
#[managed]
struct Configured {
    #[managed(close = Res::close)]
    res: Res,
    #[cfg(any())]
    gone: u8,
}

#[test]
fn new_follows_the_configuration() {
    let log = log();
    Configured::new(Res::new("c", &log)).close().unwrap();
    assert_eq!(taken(&log), ["close c"]);
}
