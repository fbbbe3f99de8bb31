//! Helpers for diagnostics: spans moved onto the user's tokens, and the wording of option
//! errors shared by the attribute macros.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;

/// `tokens` with every span set to `span`: type errors about a call of a generated path are
/// reported where the span points, so a path respanned to the user's tokens puts the error there.
pub fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = proc_macro2::TokenTree::Group(inner);
            }
            token.set_span(span);
            token
        })
        .collect()
}

/// `error` with the list of valid keys, for an unknown option.
pub fn unknown_key(meta: &ParseNestedMeta<'_>, what: &str, valid: &[&str]) -> syn::Error {
    let key = meta.path.to_token_stream().to_string().replace(' ', "");
    let list = valid
        .iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ");
    meta.error(format_args!(
        "unknown {what} option `{key}`; valid options are {list}"
    ))
}

/// An error for a key given twice.
pub fn duplicate_key(meta: &ParseNestedMeta<'_>, what: &str) -> syn::Error {
    let key = meta.path.to_token_stream().to_string().replace(' ', "");
    meta.error(format_args!("duplicate {what} option `{key}`"))
}
