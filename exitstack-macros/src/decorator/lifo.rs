//! One LIFO order: the bare `defer!`s of a decorated function's outermost block register on
//! the function's stack instead of being guards on the frame.
//!
//! A guard is a local, and locals drop when the body returns, before the stack unwinds; a guard
//! made before a stack entry would run before it, against the order of everything else. Their
//! scope is the whole call, which is the stack's scope too, so registering them keeps when they
//! run and puts them in the one order; their `on_error` and `on_success` then follow the real
//! outcome, `?` included. A `defer!` in an inner block keeps its block's scope and stays a guard.

use syn::{Block, Expr, Ident, Macro, Stmt};

use crate::defer::bare_to_stack;

/// Rewrites the bare `defer!`s among `block`'s statements to register on `stack`; returns
/// whether any was rewritten.
pub fn bare_defers_on_stack(block: &mut Block, stack: &Ident) -> bool {
    let mut rewritten = false;
    for stmt in &mut block.stmts {
        let (mac, semi) = match stmt {
            Stmt::Macro(stmt) => (&mut stmt.mac, &mut stmt.semi_token),
            Stmt::Expr(Expr::Macro(expr), semi) => (&mut expr.mac, semi),
            _ => continue,
        };
        if rewrite(mac, stack) {
            // `defer!(stack => ..)` is an expression: end the statement.
            semi.get_or_insert_with(Default::default);
            rewritten = true;
        }
    }
    rewritten
}

fn rewrite(mac: &mut Macro, stack: &Ident) -> bool {
    let is_defer = mac
        .path
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "defer");
    if !is_defer {
        return false;
    }
    let Some(tokens) = bare_to_stack(mac.tokens.clone(), stack) else {
        return false;
    };
    mac.tokens = tokens;
    let span = mac.delimiter.span().join();
    mac.delimiter = syn::MacroDelimiter::Paren(syn::token::Paren(span));
    true
}
