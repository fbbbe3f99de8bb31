//! `defer!`: parse the form, then expand to a bare guard or a registration on a stack.
//!
//! Forms (`move` may precede any block, to move captured values into the closure):
//! - `defer! { .. }`, `defer!(on_panic { .. })`, `defer!(on_no_panic { .. })`: a local guard;
//! - `defer!(stack => { .. })`, `defer!(stack => on_error { .. })`,
//!   `defer!(stack => on_success { .. })`, `defer!(stack => on_panic { .. })`,
//!   `defer!(stack => on_no_panic { .. })`, `defer!(stack => |err| { .. })`: a registration on
//!   `stack`, whose value is the entry's handle;
//! - `defer!(stack => async { .. })`: an async cleanup on an `AsyncExitStack`, awaited by
//!   `aclose` (the block becomes an `async move` block).
//!
//! Each condition means one thing wherever it compiles. `on_error` / `on_success` follow the
//! stack's `Ending` (a `?` is an error), so they need a stack: a bare `defer!(on_error ..)` is a
//! compile error that names `on_panic` (a guard only sees panics) and the stack form. Inside
//! `#[with_stack]`'s outermost block a bare `defer!` registers on the function's stack, so there
//! `on_error` / `on_success` are the stack's.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::{Block, Expr, Ident, Token};

use crate::crate_path::CratePath;

enum Kind {
    Always,
    /// `on_error`: the stack's error ending (failed, abandoned, panicked); needs a stack.
    OnError(Span),
    /// `on_success`: the stack's `Ending::Succeeded`; needs a stack.
    OnSuccess(Span),
    /// `on_panic`: only when a panic ends the scope.
    OnPanic,
    /// `on_no_panic`: unless a panic ends the scope (a `?` or an early `return` included).
    OnNoPanic,
    /// `|err|`: runs with the pending error.
    WithError(syn::Pat),
    /// `async { .. }` on a stack: `push_async_callback`.
    Async,
}

struct Defer {
    krate: CratePath,
    stack: Option<Expr>,
    kind: Kind,
    capture: Option<Token![move]>,
    body: TokenStream,
}

const FORMS: &str = "expected `defer! { .. }`, `defer!(on_panic { .. })`, \
                     `defer!(on_no_panic { .. })`, `defer!(stack => { .. })`, \
                     `defer!(stack => on_error { .. })`, `defer!(stack => on_success { .. })`, \
                     `defer!(stack => on_panic { .. })`, `defer!(stack => on_no_panic { .. })`, \
                     `defer!(stack => |err| { .. })` or `defer!(stack => async { .. })`";

impl Parse for Defer {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let krate = CratePath::parse_prefix(input)?;
        let stack = if has_top_level_arrow(input) {
            let stack: Expr = input.parse()?;
            let arrow: Token![=>] = input.parse()?;
            if input.is_empty() {
                return Err(syn::Error::new_spanned(
                    arrow,
                    format!("missing block after `=>`; {FORMS}"),
                ));
            }
            Some(stack)
        } else {
            None
        };
        let kind = if input.peek(Token![async]) {
            let keyword: Token![async] = input.parse()?;
            if stack.is_none() {
                return Err(syn::Error::new_spanned(
                    keyword,
                    "an async block needs a stack to await it: write `defer!(stack => async { .. })`",
                ));
            }
            Kind::Async
        } else if input.peek(Token![|]) {
            input.parse::<Token![|]>()?;
            let pat = syn::Pat::parse_single(input)?;
            input.parse::<Token![|]>()?;
            Kind::WithError(pat)
        } else if input.peek(Ident) && input.peek2(syn::token::Brace)
            || input.peek(Ident) && input.peek2(Token![move])
        {
            let ident: Ident = input.fork().parse()?;
            match ident.to_string().as_str() {
                "on_error" => {
                    input.parse::<Ident>()?;
                    Kind::OnError(ident.span())
                }
                "on_success" => {
                    input.parse::<Ident>()?;
                    Kind::OnSuccess(ident.span())
                }
                "on_panic" => {
                    input.parse::<Ident>()?;
                    Kind::OnPanic
                }
                "on_no_panic" => {
                    input.parse::<Ident>()?;
                    Kind::OnNoPanic
                }
                _ if stack.is_some() => {
                    return Err(syn::Error::new(
                        ident.span(),
                        format!("unknown `defer!` condition `{ident}`; valid conditions are `on_error`, `on_success`, `on_panic`, `on_no_panic`, `|err|`"),
                    ))
                }
                _ => Kind::Always,
            }
        } else {
            Kind::Always
        };
        let capture: Option<Token![move]> = input.parse()?;
        let conditional = !matches!(kind, Kind::Always);
        let body = if stack.is_some() || conditional || capture.is_some() {
            if !input.peek(syn::token::Brace) {
                return Err(input.error(format!("expected a block `{{ .. }}`; {FORMS}")));
            }
            let block: Block = input.parse()?;
            if !input.is_empty() {
                return Err(input.error("unexpected tokens after the block"));
            }
            block.to_token_stream()
        } else {
            // Bare `defer! { stmts }`: the statements are the body.
            let body: TokenStream = input.parse()?;
            quote!({ #body })
        };
        Ok(Defer {
            krate,
            stack,
            kind,
            capture,
            body,
        })
    }
}

/// Whether a `=>` appears outside any group: the stack form.
fn has_top_level_arrow(input: ParseStream<'_>) -> bool {
    let tokens: Vec<TokenTree> = input.fork().parse::<TokenStream>().map_or_else(
        |_| Vec::new(),
        |tokens: TokenStream| tokens.into_iter().collect(),
    );
    tokens.windows(2).any(|pair| match pair {
        [TokenTree::Punct(first), TokenTree::Punct(second)] => {
            first.as_char() == '='
                && second.as_char() == '>'
                && first.spacing() == proc_macro2::Spacing::Joint
        }
        _ => false,
    })
}

/// The input of a bare `defer!` (a guard) rewritten to register on `stack` instead, with the same
/// block, condition and `move`: what `#[with_stack]` does to the bare `defer!`s of a function's
/// outermost block, so that they join the function's one LIFO order. `None` for input that is
/// not a bare guard (a stack form already, or input `defer!` itself will reject).
pub fn bare_to_stack(input: TokenStream, stack: &Ident) -> Option<TokenStream> {
    let defer = syn::parse2::<Defer>(input).ok()?;
    if defer.stack.is_some() {
        return None;
    }
    let condition = match defer.kind {
        Kind::Always => None,
        Kind::OnError(_) => Some(Ident::new("on_error", Span::call_site())),
        Kind::OnSuccess(_) => Some(Ident::new("on_success", Span::call_site())),
        Kind::OnPanic => Some(Ident::new("on_panic", Span::call_site())),
        Kind::OnNoPanic => Some(Ident::new("on_no_panic", Span::call_site())),
        Kind::WithError(_) | Kind::Async => return None,
    };
    let prefix = defer.krate.prefix();
    let capture = defer.capture;
    let body = defer.body;
    Some(quote!(#prefix #stack => #condition #capture #body))
}

pub fn expand(input: TokenStream) -> TokenStream {
    match syn::parse2::<Defer>(input) {
        Ok(defer) => expand_defer(&defer, &defer.krate.private()),
        Err(error) => error.to_compile_error(),
    }
}

fn expand_defer(defer: &Defer, private: &TokenStream) -> TokenStream {
    let body = &defer.body;
    let capture = &defer.capture;
    let Some(stack) = &defer.stack else {
        let guard_type = match &defer.kind {
            Kind::Always => quote!(#private::Defer::new),
            Kind::OnPanic => quote!(#private::DeferIf::on_panic),
            Kind::OnNoPanic => quote!(#private::DeferIf::on_no_panic),
            Kind::OnError(span) => {
                return syn::Error::new(
                    *span,
                    "a bare guard cannot see errors, only panics: write `defer!(on_panic { .. })` \
                     to run on a panic, or register on a stack to run on every error (a `?` \
                     included): `defer!(stack => on_error { .. })`",
                )
                .to_compile_error()
            }
            Kind::OnSuccess(span) => {
                return syn::Error::new(
                    *span,
                    "a bare guard cannot see errors, only panics: write \
                     `defer!(on_no_panic { .. })` to run unless a panic ends the scope (a `?` \
                     included), or register on a stack to run on success only: \
                     `defer!(stack => on_success { .. })`",
                )
                .to_compile_error()
            }
            Kind::Async => unreachable!("rejected while parsing"),
            Kind::WithError(pat) => {
                return syn::Error::new_spanned(
                    pat,
                    "the `|err|` form needs a stack to see the error: write `defer!(stack => |err| { .. })`",
                )
                .to_compile_error()
            }
        };
        let guard = Ident::new("guard", Span::mixed_site());
        return quote! {
            let #guard = #guard_type(#capture || #body);
        };
    };
    // An invisible group: the receiver is one expression whatever its precedence.
    let stack = proc_macro2::Group::new(proc_macro2::Delimiter::None, stack.to_token_stream());
    let method = match &defer.kind {
        Kind::Always => quote!(callback),
        Kind::OnError(_) => quote!(callback_on_error),
        Kind::OnSuccess(_) => quote!(callback_on_success),
        Kind::OnPanic | Kind::OnNoPanic => {
            // An exit handler that looks at the ending and never suppresses.
            let exit = Ident::new("exit", Span::mixed_site());
            let panicked = matches!(defer.kind, Kind::OnPanic);
            return quote_spanned! {Span::call_site()=>
                #stack.push_exit(#capture |#exit: &#private::Exit<'_>| {
                    if (#private::Exit::ending(#exit) == #private::Ending::Panicked) == #panicked {
                        #body
                    }
                    #private::Flow::Propagate
                })
            };
        }
        // The future owns what the block uses (`async move`), so it outlives the closure call.
        Kind::Async => return quote!(#stack.push_async_callback(#capture || async move #body)),
        Kind::WithError(pat) => {
            let exit = Ident::new("exit", Span::mixed_site());
            return quote_spanned! {Span::call_site()=>
                #stack.push_exit(#capture |#exit: &#private::Exit<'_>| {
                    if let ::core::option::Option::Some(#pat) = #private::Exit::error(#exit) {
                        #body
                    }
                    #private::Flow::Propagate
                })
            };
        }
    };
    quote!(#stack.#method(#capture || #body))
}
