//! The error tree beside the flat list: nested stacks and `#[managed]` values are sequential
//! nodes, and the tree prints even when an error's `Display` panics. No runtime, no clock:
//! runs under Miri.

use std::fmt;

use exitstack::{managed, CleanupError, ExitStack, NodeKind, TreeNode, UnwindError};

fn inner_close(messages: &[&'static str]) -> Result<(), UnwindError> {
    let mut inner = ExitStack::new();
    for message in messages.iter().rev() {
        inner.callback(move || Err(*message)).label(*message);
    }
    inner.close()
}

fn inner<'e>(node: &TreeNode<'e>) -> exitstack::InnerNode<'e> {
    match node {
        TreeNode::Inner(inner) => *inner,
        TreeNode::Leaf(leaf) => panic!("expected a node, found the leaf {leaf}"),
    }
}

#[test]
fn tree_of_nested_stacks_keeps_iter_flat() {
    let mut stack = ExitStack::new();
    stack.callback(|| Err("last"));
    stack.callback(|| inner_close(&["a", "b"])).label("nested");
    stack.callback(|| Err("first"));
    let errors = stack.close().unwrap_err();

    // The flat list is as it always was: every leaf, in the order they failed.
    let flat: Vec<String> = errors.iter().map(|e| e.error().to_string()).collect();
    assert_eq!(flat, ["first", "a", "b", "last"]);
    assert_eq!(errors.len(), 4);

    let nodes: Vec<_> = errors.tree().nodes().collect();
    assert_eq!(nodes.len(), 3);
    assert!(matches!(nodes[0], TreeNode::Leaf(leaf) if leaf.error().to_string() == "first"));
    let nested = inner(&nodes[1]);
    assert_eq!(nested.kind(), NodeKind::Sequential);
    assert_eq!(nested.label(), Some("nested"));
    assert_eq!(nested.location().unwrap().file(), file!());
    let labels: Vec<_> = nested
        .children()
        .map(|child| match child {
            TreeNode::Leaf(leaf) => leaf.label().unwrap().to_owned(),
            TreeNode::Inner(_) => panic!("leaves expected"),
        })
        .collect();
    assert_eq!(labels, ["a", "b"]);
    assert!(matches!(nodes[2], TreeNode::Leaf(leaf) if leaf.error().to_string() == "last"));

    let shown = format!("{:#}", errors.tree());
    assert!(
        shown.starts_with("4 cleanups failed\n- cleanup (registered at "),
        "{shown}"
    );
    assert!(
        shown.contains("\n- sequential `nested` (registered at "),
        "{shown}"
    );
    assert!(
        shown.contains("\n  - cleanup `a` (registered at "),
        "{shown}"
    );
}

#[test]
fn tree_keeps_two_nodes_from_one_site_apart() {
    let mut stack = ExitStack::new();
    for round in 0..2 {
        // The same registration site twice: two nodes, not one merged node.
        stack.callback(move || inner_close(if round == 0 { &["x"] } else { &["y", "z"] }));
    }
    let errors = stack.close().unwrap_err();
    let sizes: Vec<usize> = errors
        .tree()
        .nodes()
        .map(|node| inner(&node).children().count())
        .collect();
    assert_eq!(sizes, [2, 1]);
}

#[test]
fn tree_nests_a_stack_inside_a_nested_stack() {
    let mut stack = ExitStack::new();
    stack
        .callback(|| {
            let mut middle = ExitStack::new();
            middle.callback(|| inner_close(&["deep"])).label("inner");
            middle.callback(|| Err("shallow"));
            middle.close()
        })
        .label("outer");
    let errors = stack.close().unwrap_err();
    assert_eq!(errors.len(), 2);
    let outer = inner(&errors.tree().nodes().next().unwrap());
    let children: Vec<_> = outer.children().collect();
    assert!(matches!(children[0], TreeNode::Leaf(leaf) if leaf.error().to_string() == "shallow"));
    let deepest = inner(&children[1]);
    assert_eq!(deepest.label(), Some("inner"));
    assert_eq!(deepest.leaves()[0].error().to_string(), "deep");
    assert_eq!(
        errors.tree().to_string(),
        "2 cleanups failed\n\
         - sequential `outer`\n  \
           - cleanup `outer` failed: shallow\n  \
           - sequential `inner`\n    \
             - cleanup `deep` failed: deep"
    );
}

struct Conn(&'static str);

impl Conn {
    fn shutdown(self) -> Result<(), String> {
        Err(format!("{} reset", self.0))
    }
}

#[managed]
struct Session {
    #[managed(close = Conn::shutdown, label = "database")]
    database: Conn,
    #[managed(close = Conn::shutdown, label = "cache")]
    cache: Conn,
}

#[test]
fn tree_of_a_managed_value_is_a_sequential_node() {
    let mut stack = ExitStack::new();
    stack.callback(|| Err("plain"));
    stack.enter(Session::new(Conn("db"), Conn("redis")));
    let errors = stack.close().unwrap_err();
    let flat: Vec<_> = errors.iter().map(|e| e.label()).collect();
    assert_eq!(flat, [Some("cache"), Some("database"), None]);
    let nodes: Vec<_> = errors.tree().nodes().collect();
    let session = inner(&nodes[0]);
    assert_eq!(session.kind(), NodeKind::Sequential);
    assert_eq!(session.children().count(), 2);
    let texts: Vec<String> = session
        .leaves()
        .iter()
        .map(|e| e.error().to_string())
        .collect();
    assert_eq!(texts, ["redis reset", "db reset"]);
    assert!(matches!(nodes[1], TreeNode::Leaf(leaf) if leaf.error().to_string() == "plain"));
}

/// An error whose `Display` panics.
#[derive(Debug)]
struct Hostile;

impl fmt::Display for Hostile {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("hostile Display")
    }
}

impl std::error::Error for Hostile {}

#[test]
fn tree_print_survives_a_panicking_display() {
    let mut stack = ExitStack::new();
    stack.callback(|| Err("after"));
    stack
        .callback(|| {
            let mut inner = ExitStack::new();
            inner.callback(|| Err(Hostile)).label("hostile");
            inner.callback(|| Err("fine")).label("fine");
            inner.close()
        })
        .label("nested");
    let errors = stack.close().unwrap_err();
    let shown = errors.tree().to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 5, "{shown}");
    assert_eq!(lines[1], "- sequential `nested`");
    assert_eq!(lines[2], "  - cleanup `fine` failed: fine");
    assert!(
        lines[3].starts_with("  - <"),
        "a placeholder, not a panic: {shown}"
    );
    assert_eq!(lines[4], "- cleanup failed: after");
    // The leaf is still there for whoever wants it.
    assert!(errors.iter().any(|e| e.error().is::<Hostile>()));
}

#[test]
fn tree_of_a_hand_built_error_is_flat() {
    let errors = UnwindError::from_errors(vec![CleanupError::new("one").with_label("1")]).unwrap();
    let nodes: Vec<_> = errors.tree().nodes().collect();
    assert_eq!(nodes.len(), 1);
    assert!(matches!(nodes[0], TreeNode::Leaf(leaf) if leaf.label() == Some("1")));
    assert_eq!(
        errors.tree().to_string(),
        "1 cleanup failed\n- cleanup `1` failed: one"
    );
}

#[test]
fn tree_of_a_hand_wrapped_unwind_error_is_a_sequential_node() {
    let mut stack = ExitStack::new();
    stack.callback(|| {
        let many = inner_close(&["p", "q"]).unwrap_err();
        Err(CleanupError::new(many).with_label("wrapped"))
    });
    let errors = stack.close().unwrap_err();
    assert_eq!(errors.len(), 2, "flat: both leaves");
    let node = inner(&errors.tree().nodes().next().unwrap());
    assert_eq!(
        (node.kind(), node.label()),
        (NodeKind::Sequential, Some("wrapped"))
    );
    let labels: Vec<_> = node.leaves().iter().map(|e| e.label().unwrap()).collect();
    assert_eq!(labels, ["p", "q"]);
}
