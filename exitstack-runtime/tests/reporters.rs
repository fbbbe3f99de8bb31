//! The optional reporters: `log_reporter` (feature `log`) and `tracing_reporter` (feature
//! `tracing`) deliver each report, with its reason, label and registration site, to the
//! facade they name. Run with `cargo test -p exitstack --all-features`.

#![cfg(any(feature = "log", feature = "tracing"))]

use exitstack::{report, ExitStack};

/// Drops a stack whose one cleanup fails: the error can only be reported.
fn drop_a_failing_stack() -> u32 {
    let stack = ExitStack::new();
    let line = line!() + 1;
    let handle = stack.callback(|| Err("disk full"));
    handle.label("flush journal");
    drop(stack);
    line
}

#[cfg(feature = "log")]
mod log_facade {
    use super::*;
    use std::sync::Mutex;

    static RECORDS: Mutex<Vec<(log::Level, String, String)>> = Mutex::new(Vec::new());

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            let entry = (
                record.level(),
                record.target().to_owned(),
                record.args().to_string(),
            );
            RECORDS.lock().unwrap().push(entry);
        }
        fn flush(&self) {}
    }

    #[test]
    fn log_reporter_sends_each_report_as_an_error_record() {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        let line = report::with_reporter(report::log_reporter, drop_a_failing_stack);
        let records = RECORDS.lock().unwrap();
        assert_eq!(records.len(), 1, "{records:?}");
        let (level, target, message) = &records[0];
        assert_eq!(*level, log::Level::Error);
        assert_eq!(target, "exitstack");
        assert!(
            message.contains("exit stack dropped without close"),
            "{message}"
        );
        assert!(message.contains("`flush journal`"), "{message}");
        assert!(message.contains("disk full"), "{message}");
        assert!(
            message.contains(&format!("{}:{line}", file!())),
            "{message}"
        );
    }
}

#[cfg(feature = "tracing")]
mod tracing_facade {
    use super::*;
    use std::fmt::Debug;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Level, Metadata, Subscriber};

    /// Keeps every event's level and fields as text.
    type Event = (Level, Vec<(String, String)>);

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Event>>>);

    struct Fields(Vec<(String, String)>);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
            self.0.push((field.name().to_owned(), format!("{value:?}")));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push((field.name().to_owned(), value.to_owned()));
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut fields = Fields(Vec::new());
            event.record(&mut fields);
            let level = *event.metadata().level();
            self.0.lock().unwrap().push((level, fields.0));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn tracing_reporter_emits_an_error_event_with_structured_fields() {
        let capture = Capture::default();
        let line = tracing::subscriber::with_default(capture.clone(), || {
            report::with_reporter(report::tracing_reporter, drop_a_failing_stack)
        });
        let events = capture.0.lock().unwrap();
        // The report, and the trace of the cleanup that failed (`tracing_cleanups.rs`).
        let reports: Vec<_> = (events.iter())
            .filter(|(_, fields)| fields.iter().any(|(field, _)| field == "reason"))
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!(reports.len(), 1);
        let (level, fields) = reports[0];
        assert_eq!(*level, Level::ERROR);
        let field = |name: &str| {
            fields
                .iter()
                .find(|(field, _)| field == name)
                .map(|(_, value)| value.clone())
                .unwrap_or_else(|| panic!("no field {name} in {fields:?}"))
        };
        assert_eq!(field("reason"), "exit stack dropped without close");
        assert_eq!(field("label"), "flush journal");
        assert_eq!(
            field("location"),
            format!("{}:{line}:24", file!()) /* the `callback` call */
        );
        assert!(field("message").contains("disk full"));
    }
}
