//! Round trips into `miette` and `error-stack` reports: an error tree with labels (a
//! concurrent group, a nested stack, a plain leaf) converted, and every leaf's text, label,
//! site and nodes found in the report's structure and output.
#![cfg(any(feature = "miette", feature = "error-stack"))]

use exitstack::{AsyncExitStack, ConcurrentGroup, ExitStack, UnwindError};

/// A tree: a concurrent group of two branches, a nested stack of two leaves, a plain leaf.
/// Returns the error and, per leaf, (text, label, `file:line`).
fn tree() -> (UnwindError, Vec<(String, String, String)>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut sites = Vec::new();
        let site = |line: u32| format!("{}:{line}", file!());
        let (db, cache) = (AsyncExitStack::new(), AsyncExitStack::new());
        let line = line!() + 1;
        let db_close = db.push_async_callback(|| async { Err("db refused") });
        db_close.label("db close");
        sites.push(("db refused", "db close", site(line)));
        cache.callback(|| Err("cache refused"));
        sites.push(("cache refused", "cache", site(line!() - 1)));
        let mut stack = AsyncExitStack::new();
        stack.callback(|| Err("plain refused")).label("plain");
        sites.push(("plain refused", "plain", site(line!() - 1)));
        stack
            .callback(|| {
                let mut inner = ExitStack::new();
                inner.callback(|| Err("inner refused")).label("inner");
                inner.close()
            })
            .label("nested");
        sites.push(("inner refused", "inner", site(line!() - 4)));
        let group = ConcurrentGroup::new()
            .branch("db", db)
            .branch("cache", cache);
        stack.push_concurrent(group).label("shutdown");
        let errors = stack.aclose().await.unwrap_err();
        sites.swap(2, 3); // the nested stack was pushed after the plain leaf: it fails first
        let sites = sites
            .into_iter()
            .map(|(t, l, s)| (t.to_owned(), l.to_owned(), s));
        (errors, sites.collect())
    })
}

#[cfg(feature = "miette")]
mod miette_reports {
    use miette::{Diagnostic, NarratableReportHandler};

    #[test]
    fn tree_into_miette_keeps_every_leaf_with_label_and_site() {
        let (errors, leaves) = super::tree();
        let related: Vec<&dyn Diagnostic> = errors.related().unwrap().collect();
        assert_eq!(related.len(), leaves.len());
        for ((text, label, site), leaf) in leaves.iter().zip(&related) {
            let help = leaf.help().unwrap().to_string();
            assert!(leaf.to_string().ends_with(text), "{leaf}");
            assert!(help.contains(&format!("label `{label}`")), "{help}");
            assert!(help.contains(&format!("registered at {site}")), "{help}");
        }
        let group_help = related[0].help().unwrap().to_string();
        assert!(
            group_help.contains("under concurrent `shutdown` > sequential `db`"),
            "{group_help}"
        );

        let mut shown = String::new();
        NarratableReportHandler::new()
            .render_report(&mut shown, &errors)
            .unwrap();
        for (text, label, site) in &leaves {
            assert!(shown.contains(text), "{text} missing from {shown}");
            assert!(shown.contains(&format!("label `{label}`")), "{shown}");
            assert!(shown.contains(site), "{shown}");
        }
        // And through `miette::Report`, as an application would hold it.
        let report = miette::Report::new(errors);
        assert_eq!(report.related().unwrap().count(), leaves.len());
    }

    #[test]
    fn scope_error_into_miette_relates_its_cleanup_leaves() {
        let error = exitstack::ExitStack::scope(|stack| {
            stack.callback(|| Err("cleanup refused")).label("flush");
            Err::<(), _>(std::fmt::Error)
        })
        .unwrap_err();
        let related: Vec<String> = error.related().unwrap().map(|d| d.to_string()).collect();
        assert_eq!(related, ["cleanup `flush` failed: cleanup refused"]);
    }
}

#[cfg(feature = "error-stack")]
mod error_stack_reports {
    use error_stack::Frame;
    use exitstack::interop::{Label, Nodes, Registered};
    use exitstack::CleanupError;

    /// A leaf's frame and the frames under it (its attachments, then the error itself).
    fn chain(frame: &Frame) -> Vec<&Frame> {
        std::iter::successors(Some(frame), |f| f.sources().first()).collect()
    }

    fn leaf_of(frame: &Frame) -> &CleanupError {
        chain(frame).iter().find_map(|f| f.downcast_ref()).unwrap()
    }

    #[test]
    fn tree_into_error_stack_keeps_every_leaf_with_label_and_site() {
        let (errors, leaves) = super::tree();
        let report = errors.into_error_stack();
        let contexts: Vec<&CleanupError> = report.current_contexts().collect();
        assert_eq!(contexts.len(), leaves.len());
        // Each leaf's frame carries its attachments, found by type through the frame tree.
        for ((text, label, site), frame) in leaves.iter().zip(report.current_frames()) {
            let attached = chain(frame);
            let find_label = attached.iter().find_map(|f| f.downcast_ref::<Label>());
            assert_eq!(find_label.map(|l| &*l.0), Some(label.as_str()));
            let registered = attached.iter().find_map(|f| f.downcast_ref::<Registered>());
            assert_eq!(
                registered
                    .unwrap()
                    .0
                    .to_string()
                    .rsplit_once(':')
                    .unwrap()
                    .0,
                site
            );
            assert_eq!(leaf_of(frame).error().to_string(), *text);
        }
        let first_nodes = chain(&report.current_frames()[0])
            .into_iter()
            .find_map(|f| f.downcast_ref::<Nodes>())
            .unwrap();
        assert_eq!(first_nodes.0, "concurrent `shutdown` > sequential `db`");

        let shown = format!("{report:?}");
        for (text, label, site) in &leaves {
            assert!(shown.contains(text), "{text} missing from {shown}");
            assert!(shown.contains(&format!("label `{label}`")), "{shown}");
            assert!(shown.contains(&format!("registered at {site}")), "{shown}");
        }
    }

    #[test]
    fn scope_error_into_error_stack_puts_the_body_first() {
        let error = exitstack::ExitStack::scope(|stack| {
            stack.callback(|| Err("cleanup refused")).label("flush");
            Err::<(), _>(std::fmt::Error)
        })
        .unwrap_err();
        let report = error.into_error_stack();
        let frames = report.current_frames();
        let labels: Vec<_> = frames.iter().map(|f| leaf_of(f).label().unwrap()).collect();
        assert_eq!(labels, ["scope body", "flush"]);
    }
}
