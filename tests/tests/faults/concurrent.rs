//! Fault injection on issue 13's async release: a stack holding a sync cleanup, a two-phase
//! (graceful-then-forceful) entry, a concurrent group of two branches (an async and a sync
//! cleanup; a two-phase entry and an async cleanup) and an async cleanup on top. Every release
//! step in turn fails or panics, and the close is cut at every await point (its future dropped
//! after `k` polls), then either resumed with `aclose`, or the stack dropped, or the close run
//! under a grace period that ends at poll `k` (`aclose_within` with a timer the test controls).
//!
//! Each resource must be released at most once, and exactly once when the close is resumed; a
//! resource never released (a dropped stack, a grace period over) is accounted for exactly once
//! (reported as not run, or cut off with a time-out); a two-phase entry's resource is always
//! released (gracefully, or by its forceful phase); every injected fault is returned or reported
//! exactly once (nothing is lost), and nothing else is.
//!
//! Runs on the test crate's busy-polling executor: no runtime, no OS resources.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use crate::support::{errors, faults, observe, quiet_injected_panics, Fault, Injector, Produced};
use exitstack::{AsyncExitStack, ConcurrentGroup};
use exitstack_tests::executor::{block_on, poll_once, yield_once};

/// Resources `r0`..`r6`; `r1` and `r4` are released by two-phase entries.
const RESOURCES: usize = 7;
const TWO_PHASE: [usize; 2] = [1, 4];
/// More release steps than a run makes (7, and one more per forceful phase).
const STEPS: usize = 9;
/// More polls than an uncut close takes.
const CUTS: usize = 8;

/// How many times each resource was released.
#[derive(Default)]
struct Released(RefCell<[usize; RESOURCES]>);

impl Released {
    fn release(&self, resource: usize) {
        self.0.borrow_mut()[resource] += 1;
    }
}

/// A two-phase entry on resource `n`: the graceful phase yields, then may fail or panic
/// (injected) before it releases; the forceful phase releases, then may fail or panic.
fn two_phase(stack: &AsyncExitStack<'static>, n: usize, inject: &Rc<Injector>, res: &Rc<Released>) {
    let (graceful_inject, graceful_res) = (Rc::clone(inject), Rc::clone(res));
    let (forceful_inject, forceful_res) = (Rc::clone(inject), Rc::clone(res));
    let _ = stack
        .push_async_graceful(
            n,
            async move |_: &mut usize| {
                yield_once().await;
                graceful_inject.release()?;
                graceful_res.release(n);
                Ok::<(), std::io::Error>(())
            },
            move |_: usize| {
                forceful_res.release(n);
                forceful_inject.release()
            },
        )
        .label(format!("r{n}"));
}

/// An async cleanup of resource `n`, pending `yields` times before it releases.
fn async_cleanup(
    stack: &AsyncExitStack<'static>,
    n: usize,
    yields: usize,
    inject: &Rc<Injector>,
    res: &Rc<Released>,
) {
    let (inject, res) = (Rc::clone(inject), Rc::clone(res));
    let _ = stack
        .push_async_callback(move || async move {
            for _ in 0..yields {
                yield_once().await;
            }
            res.release(n);
            inject.release()
        })
        .label(format!("r{n}"));
}

fn sync_cleanup(
    stack: &AsyncExitStack<'static>,
    n: usize,
    inject: &Rc<Injector>,
    res: &Rc<Released>,
) {
    let (inject, res) = (Rc::clone(inject), Rc::clone(res));
    let _ = stack
        .callback(move || {
            res.release(n);
            inject.release()
        })
        .label(format!("r{n}"));
}

fn build(inject: &Rc<Injector>, res: &Rc<Released>) -> AsyncExitStack<'static> {
    let stack = AsyncExitStack::new();
    sync_cleanup(&stack, 0, inject, res);
    two_phase(&stack, 1, inject, res);
    let (left, right) = (AsyncExitStack::new(), AsyncExitStack::new());
    async_cleanup(&left, 2, 1, inject, res);
    sync_cleanup(&left, 3, inject, res);
    two_phase(&right, 4, inject, res);
    async_cleanup(&right, 5, 2, inject, res);
    let group = ConcurrentGroup::new()
        .branch("left", left)
        .branch("right", right);
    let _ = stack.push_concurrent(group).label("group");
    async_cleanup(&stack, 6, 1, inject, res);
    stack
}

/// How a cut-off close ends.
#[derive(Clone, Copy, Debug)]
enum Then {
    /// `aclose` again: resumes where the cut one stopped.
    Resume,
    /// The stack is dropped.
    Drop,
    /// No cut: `aclose_within` whose grace ends at the `k`th poll of its timer.
    Grace,
}

/// A timer that fires at its `k`th poll.
fn timer(k: usize) -> impl Future<Output = ()> {
    let mut polls = 0;
    poll_fn(move |cx| {
        polls += 1;
        if polls >= k {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// Runs one case; returns the errors it got back, as text.
fn run(mut stack: AsyncExitStack<'static>, cut: usize, then: Then) -> Vec<String> {
    if let Then::Grace = then {
        let grace = Duration::from_secs(1);
        return errors(block_on(stack.aclose_within(grace, |_| timer(cut))));
    }
    {
        let mut close = pin!(stack.aclose());
        for _ in 0..cut {
            if let Poll::Ready(result) = poll_once(close.as_mut()) {
                return errors(result);
            }
        }
    }
    match then {
        Then::Resume => errors(block_on(stack.aclose())),
        _ => {
            drop(stack);
            Vec::new()
        }
    }
}

/// Whether `text` accounts for an entry that never ran: reported as not run, or cut off by
/// the grace period.
fn not_run(text: &str) -> bool {
    text.contains("dropped without running") || text.contains("timed out after")
}

fn check(
    case: &str,
    produced: &Produced,
    fired: &[String],
    released: [usize; RESOURCES],
    then: Then,
) {
    let everything: Vec<&String> = produced.outputs.iter().chain(&produced.panic).collect();
    for fault in fired {
        let times = everything
            .iter()
            .filter(|t| t.contains(fault.as_str()))
            .count();
        assert_eq!(times, 1, "{case}: {fault:?} in {produced:#?}");
    }
    for text in &everything {
        let known = fired.iter().any(|fault| text.contains(fault.as_str()));
        assert!(known || not_run(text), "{case}: unexpected {text:?}");
    }
    for (n, times) in released.into_iter().enumerate() {
        let label = format!("`r{n}`");
        let accounted = everything
            .iter()
            .filter(|t| not_run(t) && t.contains(&label))
            .count();
        match then {
            Then::Resume => assert_eq!((times, accounted), (1, 0), "{case}: r{n}"),
            _ if TWO_PHASE.contains(&n) => assert_eq!(times, 1, "{case}: r{n} forced"),
            _ => assert_eq!(times + accounted, 1, "{case}: r{n} in {produced:#?}"),
        }
    }
}

#[test]
fn concurrent_group_and_graceful_forceful_entries_release_once_under_every_fault_and_cut() {
    quiet_injected_panics();
    let (mut runs, mut injected) = (0, 0);
    for release in faults(STEPS) {
        for then in [Then::Resume, Then::Drop, Then::Grace] {
            for cut in 0..CUTS {
                let inject = Rc::new(Injector::new(Fault::None, release));
                let res = Rc::new(Released::default());
                let stack = build(&inject, &res);
                let produced = observe(|| run(stack, cut, then));
                let fired = inject.fired.borrow().clone();
                let released = *res.0.borrow();
                let case = format!("{release:?}, cut after {cut} polls, then {then:?}");
                check(&case, &produced, &fired, released, then);
                runs += 1;
                injected += fired.len();
            }
        }
    }
    assert_eq!(runs, (2 * STEPS + 1) * 3 * CUTS);
    eprintln!("faults::concurrent: {runs} runs, {injected} faults injected, nothing lost");
}
