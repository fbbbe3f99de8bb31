//! `stack_callback!(stack, f, args..)`: evaluate `f` (or a method's receiver) and the arguments
//! now, register the call for later (Python's `ExitStack.callback(f, *args)`).
//! `stack_callback!(stack, async f, args..)` does the same for an async function on an
//! `AsyncExitStack` (Python's `push_async_callback(f, *args)`): `aclose` awaits the call.

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Ident, Token};

use crate::crate_path::CratePath;
use crate::diagnostics::respan;

struct StackCallback {
    krate: CratePath,
    stack: Expr,
    function: Expr,
    args: Vec<Expr>,
    asynchronous: bool,
}

impl Parse for StackCallback {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        const USAGE: &str = "expected `stack_callback!(stack, function, arguments..)`";
        let krate = CratePath::parse_prefix(input)?;
        if input.is_empty() {
            return Err(input.error(USAGE));
        }
        let stack: Expr = input.parse()?;
        if input.is_empty() {
            return Err(syn::Error::new(
                stack.span(),
                format!("missing the function to call; {USAGE}"),
            ));
        }
        input.parse::<Token![,]>()?;
        let asynchronous = input.parse::<Option<Token![async]>>()?.is_some();
        let rest = Punctuated::<Expr, Token![,]>::parse_terminated(input)?;
        let mut rest = rest.into_iter();
        let Some(function) = rest.next() else {
            return Err(input.error(format!("missing the function to call; {USAGE}")));
        };
        Ok(StackCallback {
            krate,
            stack,
            function,
            args: rest.collect(),
            asynchronous,
        })
    }
}

pub fn expand(input: TokenStream) -> TokenStream {
    match syn::parse2::<StackCallback>(input) {
        Ok(call) => expand_call(&call, &call.krate.private()),
        Err(error) => error.to_compile_error(),
    }
}

fn expand_call(call: &StackCallback, private: &TokenStream) -> TokenStream {
    let stack = Group::new(Delimiter::None, call.stack.to_token_stream());
    let args: Vec<Ident> = (0..call.args.len())
        .map(|i| Ident::new(&format!("arg_{i}"), Span::mixed_site()))
        .collect();
    let values = &call.args;
    let span = call.function.span();
    // `receiver.method` (a field-access expression) is a method call on a receiver evaluated
    // now; anything else is a callable evaluated now.
    let (bind, invoke) = match &call.function {
        Expr::Field(field) => {
            let receiver = Ident::new("receiver", Span::mixed_site());
            let base = &field.base;
            let syn::Member::Named(method) = &field.member else {
                return syn::Error::new_spanned(&field.member, "expected a method name")
                    .to_compile_error();
            };
            (
                // `mut` for `&mut self` methods; not needed for the others.
                quote!(#[allow(unused_mut)] let mut #receiver = #base;),
                quote_spanned!(span=> #receiver.#method(#(#args),*)),
            )
        }
        function => {
            let callee = Ident::new("function", Span::mixed_site());
            (
                quote!(let #callee = #function;),
                quote_spanned!(span=> #callee(#(#args),*)),
            )
        }
    };
    // Spanned on the function, so a wrong return type is reported there.
    let into_result = respan(quote!(#private::CleanupOutput::into_result), span);
    let register = if call.asynchronous {
        quote!(#stack.push_async_callback(move || async move { #into_result(#invoke.await) }))
    } else {
        quote!(#stack.callback(move || #into_result(#invoke)))
    };
    quote! {
        {
            #bind
            #(let #args = #values;)*
            #register
        }
    }
}
