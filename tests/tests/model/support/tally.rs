//! What the tests check and count beyond the model: the log checks that need no model
//! ([`exactly_once`]), the summary of a run of many programs ([`Tally`]), and how many programs
//! a test runs.

use exitstack::report::ReportReason;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::{Event, Op, Out, Program, ScopeOut, Spec, DISPLAY_PANICKED};

/// Checks of the log that need no model (`SEMANTICS.md`, "Shared leases and slots"): every
/// entry and every slot value runs at most once, and every shared value with a sync teardown
/// is torn down exactly once (all its leases are let go by the end of every program; an async
/// teardown may be reported as not run instead).
fn exactly_once(program: &Program, log: &[Event]) -> Result<(), TestCaseError> {
    let mut seen = std::collections::HashSet::new();
    let mut released = std::collections::HashSet::new();
    for event in log {
        match event {
            Event::Ran(id) | Event::Seen { id, .. } if !seen.insert(*id) => {
                return Err(TestCaseError::fail(format!("entry {id} ran twice")));
            }
            Event::Released(id, n) if !released.insert((*id, *n)) => {
                return Err(TestCaseError::fail(format!(
                    "value {n} of slot {id} released twice"
                )));
            }
            _ => {}
        }
    }
    let ops = match program {
        Program::Stack { ops, .. } | Program::Scope { ops, .. } => ops,
    };
    for op in ops {
        if let Op::Push {
            spec:
                Spec::Share {
                    id,
                    async_teardown: false,
                    ..
                },
            ..
        } = op
        {
            if !seen.contains(id) {
                return Err(TestCaseError::fail(format!("shared {id} never torn down")));
            }
        }
    }
    Ok(())
}

/// What a run of many programs did, summed over their logs.
#[derive(Clone, Copy, Default, Debug)]
struct Tally {
    pub programs: usize,
    pub entries_run: usize,
    /// Panics that came out of a close, run-now, drop or scope.
    pub panics_resumed: usize,
    /// Of those, `BadPayload`s (caught by the harness, dropped inside `catch_unwind`).
    pub bad_payloads_resumed: usize,
    pub errors_returned: usize,
    pub reports: usize,
    /// Reports of a payload's `Drop` that panicked.
    pub payload_drop_reports: usize,
    /// Errors shown by the placeholder because their `Display` panicked.
    pub display_placeholders: usize,
    /// Panics of an error's `Drop` (resumed or reported).
    pub error_drop_panics: usize,
    /// Timer panics (resumed or reported).
    pub timer_panics: usize,
    /// Programs whose reporter panicked on one report.
    pub reporter_panics: usize,
    /// Kept `Shared`s (or cancelled leases) dropped and released.
    pub shared_let_go: usize,
    /// Extra stacks closed or dropped.
    pub extras_ended: usize,
    /// Slot values released (by `replace`, `clear` or at unwind), and replaces that returned
    /// an error or a panic.
    pub slot_releases: usize,
    pub slot_swaps_failed: usize,
}

impl Tally {
    fn add(&mut self, program: &Program, log: &[Event]) {
        self.programs += 1;
        let reports = log
            .iter()
            .filter(|e| matches!(e, Event::Report(..)))
            .count();
        if program
            .hostile()
            .reporter_panics_at
            .is_some_and(|nth| nth <= reports + 1)
        {
            self.reporter_panics += 1;
        }
        for event in log {
            match event {
                Event::Ran(_) | Event::Forced(_) | Event::Seen { .. } => self.entries_run += 1,
                Event::SharedDropped(..) | Event::SharedReleased(..) => self.shared_let_go += 1,
                Event::ExtraClosed(..) | Event::ExtraDropped(..) => self.extras_ended += 1,
                Event::Released(..) => self.slot_releases += 1,
                Event::Swapped { out, .. } if *out != Out::Ok => self.slot_swaps_failed += 1,
                Event::Report(reason, _) => {
                    self.reports += 1;
                    if *reason == ReportReason::PayloadDropPanicked {
                        self.payload_drop_reports += 1;
                    }
                }
                _ => {}
            }
            let text = format!("{event:?}");
            let resumed =
                text.matches("Panic(\"").count() + text.matches("Dropped(Some(\"").count();
            self.panics_resumed += resumed;
            self.bad_payloads_resumed += text.matches("(\"bad-payload-").count();
            self.errors_returned += match event {
                Event::Closed(Out::Errors(errors))
                | Event::RunNow(_, Out::Errors(errors))
                | Event::Moved(Out::Errors(errors)) => errors.len(),
                Event::Scope(ScopeOut::Failed { cleanup, .. }) => cleanup.len(),
                _ => 0,
            };
            self.display_placeholders += text.matches(DISPLAY_PANICKED).count();
            self.error_drop_panics += text.matches("error-drop-").count();
            self.timer_panics += text.matches("timer-panic").count();
        }
    }

    fn print(&self, test: &str) {
        eprintln!(
            "{test}: {} programs, {} entries run, {} panics resumed ({} bad payloads), {} errors \
             returned, {} reports ({} payload-drop panics); {} errors shown by placeholder, {} \
             error-drop panics, {} timer panics, {} panicking reporters; {} shared let go, {} \
             extra stacks ended, {} slot releases, {} failed replaces",
            self.programs,
            self.entries_run,
            self.panics_resumed,
            self.bad_payloads_resumed,
            self.errors_returned,
            self.reports,
            self.payload_drop_reports,
            self.display_placeholders,
            self.error_drop_panics,
            self.timer_panics,
            self.reporter_panics,
            self.shared_let_go,
            self.extras_ended,
            self.slot_releases,
            self.slot_swaps_failed,
        );
    }
}

/// Number of cases: `PROPTEST_CASES`, else 10,000 (8 under Miri, which is ~1000x slower).
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(if cfg!(miri) { 8 } else { 10_000 })
}

/// Number of cases of a focused test (its programs are short): half of [`cases`], all 8 under
/// Miri (where 4 short programs reach almost nothing).
pub fn focused_cases() -> u32 {
    match cfg!(miri) {
        true => cases(),
        false => cases().div_ceil(2),
    }
}

/// Runs `cases` programs from `programs` on a real stack (`real`) and in the reference model
/// (`predict`): each entry runs exactly once and the two event logs are identical. Prints the
/// tally of what the programs covered under `name`.
pub fn agrees_with_the_model(
    name: &str,
    cases: u32,
    programs: impl Strategy<Value = Program>,
    real: fn(&Program) -> Vec<Event>,
    predict: fn(&Program) -> Vec<Event>,
) {
    super::quiet_panics();
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let tally = std::cell::RefCell::new(Tally::default());
    let result = TestRunner::new(config).run(&programs, |program| {
        let actual = real(&program);
        tally.borrow_mut().add(&program, &actual);
        exactly_once(&program, &actual)?;
        proptest::prop_assert_eq!(actual, predict(&program));
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    tally.borrow().print(name);
}
