//! Parsing the options of `#[with_stack(..)]`: a bare identifier names the stack binding;
//! `context = expr` enters a `Context` before the body runs (repeatable); `send` (for
//! `async fn`: a `Send` stack, so the future can be spawned); `crate = path`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, Ident};

use crate::crate_path::CratePath;
use crate::diagnostics::{duplicate_key, unknown_key};

const KEYS: &[&str] = &["<binding name>", "context", "send", "crate"];

/// The options, as written.
pub struct Options {
    pub binding: Option<Ident>,
    pub contexts: Vec<Expr>,
    pub send: Option<Span>,
    pub krate: CratePath,
}

/// Parses the attribute's arguments.
pub fn parse_options(args: TokenStream) -> syn::Result<Options> {
    let mut options = Options {
        binding: None,
        contexts: Vec::new(),
        send: None,
        krate: CratePath::default_path(),
    };
    let mut krate_seen = false;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("context") {
            options.contexts.push(meta.value()?.parse()?);
        } else if meta.path.is_ident("send") {
            if options.send.is_some() {
                return Err(duplicate_key(&meta, "`with_stack`"));
            }
            if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                return Err(meta.error("`send` takes no value; write `#[with_stack(send)]`"));
            }
            options.send = Some(meta.path.span());
        } else if meta.path.is_ident("crate") {
            if krate_seen {
                return Err(duplicate_key(&meta, "`with_stack`"));
            }
            krate_seen = true;
            options.krate = CratePath::parse(&meta)?;
        } else if let (Some(ident), true) = (
            meta.path.get_ident(),
            meta.input.is_empty() || meta.input.peek(syn::Token![,]),
        ) {
            if options.binding.is_some() {
                return Err(meta.error("the stack is already named; give one binding name"));
            }
            options.binding = Some(ident.clone());
        } else {
            return Err(unknown_key(&meta, "`with_stack`", KEYS));
        }
        Ok(())
    });
    parser.parse2(args)?;
    Ok(options)
}
