//! The structure of an [`UnwindError`]: beside its flat list of failures, the nodes they came
//! from. A cleanup that failed with a whole [`UnwindError`] (a nested stack closed by hand, a
//! [`#[managed]`](crate::managed) value's teardown) is a *sequential* node; a
//! [concurrent group](crate::ConcurrentGroup) is a *concurrent* node with one sequential child
//! per branch.
//!
//! The flat list stays what it was: [`UnwindError::iter`] yields every leaf, subtrees
//! flattened in place, in the order they failed. Each leaf remembers the path of nodes that
//! hold it (shared `Arc`s, outermost first), and [`UnwindError::tree`] regroups consecutive
//! leaves of the same node into a view. Nothing is nested in memory, so dropping a deep tree
//! recurses no more than dropping a flat list.

use std::borrow::Cow;
use std::error::Error;
use std::fmt::{self, Write as _};
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::caught;
use crate::error::{BoxError, CleanupError, UnwindError};
use crate::site::Site;

/// How the children of an inner node of an [`ErrorTree`] were released.
///
/// ```
/// use exitstack::NodeKind;
///
/// assert_eq!(NodeKind::Sequential.to_string(), "sequential");
/// assert_eq!(NodeKind::Concurrent.to_string(), "concurrent");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// One after the other, last in first out: a nested stack, a `#[managed]` value, a branch.
    Sequential,
    /// At the same time: the branches of a [`ConcurrentGroup`](crate::ConcurrentGroup).
    Concurrent,
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeKind::Sequential => "sequential",
            NodeKind::Concurrent => "concurrent",
        })
    }
}

/// One inner node, shared by every leaf under it.
#[derive(Debug)]
pub(crate) struct Frame {
    /// Tells apart two nodes with the same label and site (a loop pushing nested stacks).
    id: u64,
    kind: NodeKind,
    label: Option<Cow<'static, str>>,
    location: Option<&'static Location<'static>>,
}

impl Frame {
    pub(crate) fn new(
        kind: NodeKind,
        label: Option<Cow<'static, str>>,
        location: Option<&'static Location<'static>>,
    ) -> Arc<Frame> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Arc::new(Frame {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            kind,
            label,
            location,
        })
    }
}

/// The errors of a concurrent group's branches, each leaf already under its branch's node. The
/// group entry's future fails with this; `flatten` puts the group's own node above them.
#[derive(Debug)]
pub(crate) struct GroupFailed(pub(crate) Vec<CleanupError>);

impl fmt::Display for GroupFailed {
    /// Only seen if the error escapes `flatten`: every leaf, as `UnwindError` shows them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cleanups of a concurrent group failed", self.0.len())?;
        for (index, leaf) in self.0.iter().enumerate() {
            write!(f, "\n  {}: {leaf}", index + 1)?;
        }
        Ok(())
    }
}

impl Error for GroupFailed {}

/// Puts `frame` above every leaf of `leaves`.
pub(crate) fn nest(leaves: &mut [CleanupError], frame: &Arc<Frame>) {
    for leaf in leaves {
        leaf.path.insert(0, Arc::clone(frame));
    }
}

/// The leaves a failed cleanup adds to an unwind's list: a plain error is one leaf; the errors
/// of an [`UnwindError`] (a sequential node) or of a group (a concurrent node) are each a leaf,
/// under a node named by the entry's site. Unlabelled leaves take the entry's label, as before
/// the tree existed.
pub(crate) fn flatten(error: BoxError, site: Site) -> Vec<CleanupError> {
    let (label, location) = site.into_parts();
    let (kind, mut many) = match error.downcast::<GroupFailed>() {
        Ok(group) => (Some(NodeKind::Concurrent), group.0),
        Err(error) => match error.downcast::<UnwindError>() {
            Ok(many) => (Some(NodeKind::Sequential), many.into_vec()),
            Err(error) => match error.downcast::<CleanupError>() {
                Ok(one) if one.error().is::<UnwindError>() => {
                    return flatten_wrapped(*one, label, location)
                }
                Ok(one) => (None, vec![*one]),
                Err(error) => (None, vec![CleanupError::new(error)]),
            },
        },
    };
    if let Some(kind) = kind {
        nest(&mut many, &Frame::new(kind, label.clone(), Some(location)));
    }
    for one in &mut many {
        one.set_site(label.clone(), location);
    }
    many
}

/// A [`CleanupError`] built by hand around a whole [`UnwindError`]: a sequential node named by
/// the wrapper's label and site (else the entry's).
fn flatten_wrapped(
    one: CleanupError,
    label: Option<Cow<'static, str>>,
    location: &'static Location<'static>,
) -> Vec<CleanupError> {
    let own_label = one.label().map(|own| Cow::Owned(own.to_owned()));
    let own_location = one.location();
    let Ok(many) = one.into_error().downcast::<UnwindError>() else {
        unreachable!("checked by the caller")
    };
    let node_label = own_label.or_else(|| label.clone());
    let frame = Frame::new(
        NodeKind::Sequential,
        node_label,
        own_location.or(Some(location)),
    );
    let mut many = many.into_vec();
    nest(&mut many, &frame);
    for leaf in &mut many {
        leaf.set_site(label.clone(), location);
    }
    many
}

impl UnwindError {
    /// The failures as a tree: a cleanup that failed with a whole [`UnwindError`] is a
    /// sequential node, a [`ConcurrentGroup`](crate::ConcurrentGroup) a concurrent node with
    /// one child per branch. [`iter`](Self::iter) keeps yielding every leaf, flattened in order.
    ///
    /// `{}` prints the tree indented, with kinds and labels; `{:#}` adds where each node and
    /// leaf was registered.
    ///
    /// ```
    /// use exitstack::{ExitStack, NodeKind, TreeNode};
    ///
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| Err("outer"));
    /// stack
    ///     .callback(|| {
    ///         let mut inner = ExitStack::new();
    ///         inner.callback(|| Err("a")).label("first");
    ///         inner.callback(|| Err("b")).label("second");
    ///         inner.close()
    ///     })
    ///     .label("nested");
    /// let errors = stack.close().unwrap_err();
    /// assert_eq!(errors.len(), 3); // flat, as ever
    /// let nodes: Vec<_> = errors.tree().nodes().collect();
    /// let TreeNode::Inner(nested) = &nodes[0] else { panic!("a node first") };
    /// assert_eq!((nested.kind(), nested.label()), (NodeKind::Sequential, Some("nested")));
    /// assert_eq!(nested.children().count(), 2);
    /// assert!(matches!(nodes[1], TreeNode::Leaf(leaf) if leaf.error().to_string() == "outer"));
    /// assert_eq!(
    ///     errors.tree().to_string(),
    ///     "3 cleanups failed\n\
    ///      - sequential `nested`\n  \
    ///        - cleanup `second` failed: b\n  \
    ///        - cleanup `first` failed: a\n\
    ///      - cleanup failed: outer"
    /// );
    /// ```
    pub fn tree(&self) -> ErrorTree<'_> {
        ErrorTree {
            leaves: self.as_slice(),
        }
    }
}

/// A view of an [`UnwindError`] as a tree (see [`UnwindError::tree`]).
#[derive(Clone, Copy, Debug)]
pub struct ErrorTree<'e> {
    leaves: &'e [CleanupError],
}

impl<'e> ErrorTree<'e> {
    /// The top-level nodes, in the order their leaves failed.
    ///
    /// ```
    /// use exitstack::{ExitStack, TreeNode};
    ///
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| Err("plain"));
    /// let errors = stack.close().unwrap_err();
    /// assert!(matches!(errors.tree().nodes().next(), Some(TreeNode::Leaf(_))));
    /// ```
    pub fn nodes(&self) -> Nodes<'e> {
        Nodes {
            leaves: self.leaves,
            depth: 0,
        }
    }
}

/// A node of an [`ErrorTree`]: a failed cleanup, or a node holding others.
#[derive(Clone, Copy, Debug)]
pub enum TreeNode<'e> {
    /// One failure.
    Leaf(&'e CleanupError),
    /// A nested stack, a `#[managed]` value, a group or one of its branches.
    Inner(InnerNode<'e>),
}

/// An inner node of an [`ErrorTree`]: its kind, label, site, and children.
#[derive(Clone, Copy)]
pub struct InnerNode<'e> {
    frame: &'e Frame,
    leaves: &'e [CleanupError],
    depth: usize,
}

impl<'e> InnerNode<'e> {
    /// Sequential (a nested stack, a branch) or concurrent (a group).
    ///
    /// See [`UnwindError::tree`] for an example.
    pub fn kind(&self) -> NodeKind {
        self.frame.kind
    }

    /// The label of the entry (or the branch) this node stands for.
    ///
    /// See [`UnwindError::tree`] for an example.
    pub fn label(&self) -> Option<&'e str> {
        self.frame.label.as_deref()
    }

    /// Where the entry this node stands for was registered, if known.
    ///
    /// ```
    /// use exitstack::{ExitStack, TreeNode};
    ///
    /// let mut stack = ExitStack::new();
    /// let line = line!() + 1;
    /// stack.callback(|| {
    ///     let mut inner = ExitStack::new();
    ///     inner.callback(|| Err("a"));
    ///     inner.close()
    /// });
    /// let errors = stack.close().unwrap_err();
    /// let Some(TreeNode::Inner(node)) = errors.tree().nodes().next() else { panic!() };
    /// assert_eq!(node.location().unwrap().line(), line);
    /// ```
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.frame.location
    }

    /// The nodes directly under this one.
    ///
    /// See [`UnwindError::tree`] for an example.
    pub fn children(&self) -> Nodes<'e> {
        Nodes {
            leaves: self.leaves,
            depth: self.depth + 1,
        }
    }

    /// Every leaf under this node, flattened.
    ///
    /// ```
    /// use exitstack::{ExitStack, TreeNode};
    ///
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| {
    ///     let mut inner = ExitStack::new();
    ///     inner.callback(|| Err("a"));
    ///     inner.close()
    /// });
    /// let errors = stack.close().unwrap_err();
    /// let Some(TreeNode::Inner(node)) = errors.tree().nodes().next() else { panic!() };
    /// assert_eq!(node.leaves().len(), 1);
    /// ```
    pub fn leaves(&self) -> &'e [CleanupError] {
        self.leaves
    }
}

impl fmt::Debug for InnerNode<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InnerNode")
            .field("kind", &self.kind())
            .field("label", &self.label())
            .field("children", &self.children().collect::<Vec<_>>())
            .finish()
    }
}

/// The nodes at one level of an [`ErrorTree`] (see [`ErrorTree::nodes`],
/// [`InnerNode::children`]).
#[derive(Clone, Debug)]
pub struct Nodes<'e> {
    leaves: &'e [CleanupError],
    depth: usize,
}

impl<'e> Iterator for Nodes<'e> {
    type Item = TreeNode<'e>;

    fn next(&mut self) -> Option<TreeNode<'e>> {
        let (first, _) = self.leaves.split_first()?;
        let Some(frame) = first.path.get(self.depth) else {
            self.leaves = &self.leaves[1..];
            return Some(TreeNode::Leaf(first));
        };
        let run = self
            .leaves
            .iter()
            .take_while(|leaf| leaf.path.get(self.depth).is_some_and(|f| f.id == frame.id))
            .count();
        let (leaves, rest) = self.leaves.split_at(run);
        self.leaves = rest;
        Some(TreeNode::Inner(InnerNode {
            frame,
            leaves,
            depth: self.depth,
        }))
    }
}

impl fmt::Display for ErrorTree<'_> {
    /// The tree, indented; `{:#}` adds registration sites. A leaf whose error's `Display`
    /// panics prints a placeholder, and the rest of the tree still prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.leaves.len();
        let plural = if count == 1 { "cleanup" } else { "cleanups" };
        write!(f, "{count} {plural} failed")?;
        // Depth-first with an explicit stack: a deep tree does not recurse.
        let mut levels = vec![self.nodes()];
        while let Some(level) = levels.last_mut() {
            let Some(node) = level.next() else {
                levels.pop();
                continue;
            };
            let indent = 2 * (levels.len() - 1);
            write!(f, "\n{:indent$}- ", "")?;
            match node {
                TreeNode::Leaf(leaf) => {
                    let text = caught::to_string_caught(&Shown(leaf, f.alternate()));
                    f.write_str(&text)?;
                }
                TreeNode::Inner(inner) => {
                    write!(f, "{}", inner.kind())?;
                    if let Some(label) = inner.label() {
                        write!(f, " `{label}`")?;
                    }
                    if let Some(location) = inner.location().filter(|_| f.alternate()) {
                        write!(f, " (registered at {location})")?;
                    }
                    levels.push(inner.children());
                }
            }
        }
        Ok(())
    }
}

/// A leaf shown plainly or with `{:#}`, through `to_string_caught`.
struct Shown<'e>(&'e CleanupError, bool);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        if self.1 {
            write!(text, "{:#}", self.0)?;
        } else {
            write!(text, "{}", self.0)?;
        }
        f.write_str(&text)
    }
}

/// The names of the nodes above a leaf, outermost first, as `kind `label``: for the
/// conversions into other crates' reports.
#[cfg_attr(
    not(any(feature = "miette", feature = "error-stack")),
    allow(dead_code)
)]
pub(crate) fn path_text(leaf: &CleanupError) -> Option<String> {
    if leaf.path.is_empty() {
        return None;
    }
    let mut text = String::new();
    for (index, frame) in leaf.path.iter().enumerate() {
        if index > 0 {
            text.push_str(" > ");
        }
        let _ = write!(text, "{}", frame.kind);
        if let Some(label) = &frame.label {
            let _ = write!(text, " `{label}`");
        }
    }
    Some(text)
}
