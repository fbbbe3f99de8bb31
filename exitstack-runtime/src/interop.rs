//! The crate's errors in other crates' reports, each leaf kept with its label, the place it was
//! registered, and the nodes of the [error tree](crate::UnwindError::tree) above it.
//!
//! - **`miette`** (feature `miette`): [`CleanupError`], [`UnwindError`] and
//!   [`ScopeError`] implement `miette::Diagnostic`. A leaf's `help` names its label, site and
//!   nodes; an unwind's (and a scope's) `related` diagnostics are its leaves, so
//!   `miette::Report::from(errors)` renders every one.
//! - **`error-stack`** (feature `error-stack`): `into_error_stack` turns each error into an
//!   `error_stack::Report` with one frame per leaf (`Report<[CleanupError]>` for many), each
//!   with the printable attachments [`Label`], [`Registered`] and [`Nodes`].
//!
//! Both features are off by default.

#[cfg(feature = "error-stack")]
use std::borrow::Cow;
use std::fmt;
#[cfg(feature = "error-stack")]
use std::panic::Location;

use crate::error::CleanupError;
use crate::error_tree::path_text;
#[cfg(any(feature = "miette", feature = "error-stack"))]
use crate::{ScopeError, UnwindError};

#[cfg(feature = "miette")]
/// What a leaf's `help` says: its label, site and nodes, those it has.
struct Whereabouts<'e>(&'e CleanupError);

#[cfg(feature = "miette")]
impl fmt::Display for Whereabouts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let leaf = self.0;
        let mut parts = Vec::new();
        if let Some(label) = leaf.label() {
            parts.push(format!("label `{label}`"));
        }
        if let Some(location) = leaf.location() {
            parts.push(format!("registered at {location}"));
        }
        if let Some(path) = path_text(leaf) {
            parts.push(format!("under {path}"));
        }
        f.write_str(&parts.join("; "))
    }
}

#[cfg(feature = "miette")]
#[cfg_attr(docsrs, doc(cfg(feature = "miette")))]
impl miette::Diagnostic for CleanupError {
    /// The label, registration site and tree nodes of the failed cleanup.
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let shown = Whereabouts(self);
        let empty = self.label().is_none() && self.location().is_none() && self.path.is_empty();
        (!empty).then(|| Box::new(shown) as Box<dyn fmt::Display + 'a>)
    }
}

#[cfg(feature = "miette")]
#[cfg_attr(docsrs, doc(cfg(feature = "miette")))]
impl miette::Diagnostic for UnwindError {
    /// Every leaf, in the order they failed, as its own diagnostic.
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        Some(Box::new(
            self.iter().map(|leaf| leaf as &dyn miette::Diagnostic),
        ))
    }
}

#[cfg(feature = "miette")]
#[cfg_attr(docsrs, doc(cfg(feature = "miette")))]
impl<E: std::error::Error + 'static> miette::Diagnostic for ScopeError<E> {
    /// The cleanups' leaves (the body's error is this diagnostic's own text).
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        let leaves = self.cleanup_errors()?.iter();
        Some(Box::new(leaves.map(|leaf| leaf as &dyn miette::Diagnostic)))
    }
}

/// An `error-stack` attachment: the label of a failed cleanup.
#[cfg(feature = "error-stack")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-stack")))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(pub Cow<'static, str>);

#[cfg(feature = "error-stack")]
impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "label `{}`", self.0)
    }
}

/// An `error-stack` attachment: where a failed cleanup was registered.
#[cfg(feature = "error-stack")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-stack")))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered(pub &'static Location<'static>);

#[cfg(feature = "error-stack")]
impl fmt::Display for Registered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "registered at {}", self.0)
    }
}

/// An `error-stack` attachment: the nodes of the error tree above a leaf, outermost first
/// (``concurrent `shutdown` > sequential `database` ``).
#[cfg(feature = "error-stack")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-stack")))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nodes(pub String);

#[cfg(feature = "error-stack")]
impl fmt::Display for Nodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "under {}", self.0)
    }
}

#[cfg(feature = "error-stack")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-stack")))]
impl CleanupError {
    /// This error as an `error_stack::Report`, with its label, site and tree nodes attached
    /// ([`Label`], [`Registered`], [`Nodes`]).
    ///
    /// ```
    /// use exitstack::CleanupError;
    ///
    /// let report = CleanupError::new("refused").with_label("flush").into_error_stack();
    /// assert!(format!("{report:?}").contains("label `flush`"));
    /// ```
    pub fn into_error_stack(self) -> error_stack::Report<CleanupError> {
        let label = self
            .label()
            .map(|label| Label(Cow::Owned(label.to_owned())));
        let location = self.location().map(Registered);
        let nodes = path_text(&self).map(Nodes);
        let mut report = error_stack::Report::new(self);
        if let Some(nodes) = nodes {
            report = report.attach(nodes);
        }
        if let Some(location) = location {
            report = report.attach(location);
        }
        if let Some(label) = label {
            report = report.attach(label);
        }
        report
    }
}

#[cfg(feature = "error-stack")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-stack")))]
impl UnwindError {
    /// Every leaf as its own frame of one `error_stack::Report` (see
    /// [`CleanupError::into_error_stack`]), in the order they failed.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| Err("a")).label("first");
    /// stack.callback(|| Err("b")).label("second");
    /// let report = stack.close().unwrap_err().into_error_stack();
    /// assert_eq!(report.current_contexts().count(), 2);
    /// let shown = format!("{report:?}");
    /// assert!(shown.contains("label `first`") && shown.contains("label `second`"));
    /// ```
    pub fn into_error_stack(self) -> error_stack::Report<[CleanupError]> {
        let mut leaves = self
            .into_vec()
            .into_iter()
            .map(CleanupError::into_error_stack);
        let mut report = leaves.next().expect("never empty").expand();
        for leaf in leaves {
            report.push(leaf);
        }
        report
    }
}

#[cfg(feature = "error-stack")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-stack")))]
impl From<UnwindError> for error_stack::Report<[CleanupError]> {
    fn from(error: UnwindError) -> Self {
        error.into_error_stack()
    }
}

#[cfg(feature = "error-stack")]
#[cfg_attr(docsrs, doc(cfg(feature = "error-stack")))]
impl<E: Into<crate::BoxError>> ScopeError<E> {
    /// The scope's errors as one `error_stack::Report`: the body's error first (labelled
    /// `scope body`, or `scope body (suppressed)`), then every cleanup's leaf.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let error = ExitStack::scope(|stack| {
    ///     stack.callback(|| Err("cleanup refused")).label("flush");
    ///     Err::<(), _>(std::fmt::Error)
    /// })
    /// .unwrap_err();
    /// let report = error.into_error_stack();
    /// assert_eq!(report.current_contexts().count(), 2);
    /// assert!(format!("{report:?}").contains("label `scope body`"));
    /// ```
    pub fn into_error_stack(self) -> error_stack::Report<[CleanupError]> {
        let (body, suppressed, cleanup) = self.into_parts();
        let mut leaves = Vec::new();
        if let Some(body) = body {
            leaves.push(CleanupError::new(body).with_label("scope body"));
        }
        if let Some(suppressed) = suppressed {
            leaves.push(CleanupError::new(suppressed).with_label("scope body (suppressed)"));
        }
        leaves.extend(cleanup.into_iter().flatten());
        match UnwindError::from_errors(leaves) {
            Some(errors) => errors.into_error_stack(),
            None => CleanupError::new("scope failed")
                .into_error_stack()
                .expand(),
        }
    }
}
