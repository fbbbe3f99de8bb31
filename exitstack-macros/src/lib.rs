//! Procedural macros for the `exitstack` crate. Depend on `exitstack`, which re-exports them and
//! documents them with examples: `#[managed]`, `defer!`, `stack_callback!` and `#[with_stack]`.
//!
//! Each macro is a pipeline: parse the input, validate it, expand it. On bad input a macro
//! reports one error, spanned on the offending tokens, and still emits the item, so the user sees
//! that error and not a cascade. Generated code names only `::exitstack::__private` (or the path
//! given with `crate = path`), by absolute paths, and its locals use `Span::mixed_site()`.

use proc_macro::TokenStream;

mod crate_path;
mod decorator;
mod defer;
mod managed;
mod stack_callback;

/// Declarative, ordered, fallible teardown of a struct's fields. See `exitstack::managed`.
#[proc_macro_attribute]
pub fn managed(args: TokenStream, input: TokenStream) -> TokenStream {
    managed::expand(args.into(), input.into()).into()
}

/// Runs a block at scope exit, bare or on a stack. See `exitstack::defer`.
#[proc_macro]
pub fn defer(input: TokenStream) -> TokenStream {
    defer::expand(input.into()).into()
}

/// Registers a call whose arguments are evaluated now. See `exitstack::stack_callback`.
#[proc_macro]
pub fn stack_callback(input: TokenStream) -> TokenStream {
    stack_callback::expand(input.into()).into()
}

/// Gives a function body a stack, unwound with the real return value. See
/// `exitstack::with_stack`.
#[proc_macro_attribute]
pub fn with_stack(args: TokenStream, input: TokenStream) -> TokenStream {
    decorator::expand(args.into(), input.into()).into()
}
