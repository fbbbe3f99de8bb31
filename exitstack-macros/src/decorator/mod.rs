//! `#[with_stack]`: give a function body a stack and unwind it with the body's real return value.
//!
//! Parse (`parse.rs`: the options and the function), validate (`validate.rs`: options that do
//! not fit the function; what the return type asks for), expand (`expand.rs`; `lifo.rs` moves
//! the bare `defer!`s of the outermost block onto the stack). On bad input the function is
//! emitted unchanged, with one error.

mod expand;
mod lifo;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;

pub use parse::parse_options;
pub use validate::validate;

pub fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let function: syn::ItemFn = match syn::parse2(input.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                proc_macro2::Span::call_site(),
                "`#[with_stack]` applies to functions and methods",
            )
            .to_compile_error();
            return quote!(#input #error);
        }
    };
    match parse_options(args).and_then(|options| validate(options, &function)) {
        Ok(plan) => expand::expand(plan, function),
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#function #error)
        }
    }
}
