//! The path generated code uses to reach the runtime crate: `::exitstack` unless the user gave
//! `crate = path` (for crates that re-export exitstack).

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::meta::ParseNestedMeta;
use syn::{LitStr, Path};

/// Where the runtime crate is.
#[derive(Clone)]
pub struct CratePath(Option<Path>);

impl CratePath {
    pub fn default_path() -> Self {
        CratePath(None)
    }

    /// Parses the value of `crate = path` (or `crate = "path"`, as tokio spells it).
    pub fn parse(meta: &ParseNestedMeta<'_>) -> syn::Result<Self> {
        let value = meta.value()?;
        if value.peek(LitStr) {
            let text: LitStr = value.parse()?;
            return Ok(CratePath(Some(text.parse()?)));
        }
        Ok(CratePath(Some(value.call(Path::parse_mod_style)?)))
    }

    /// Parses an optional `crate = path;` at the start of a function-like macro's input, which a
    /// crate that re-exports exitstack passes from its own `macro_rules!` wrapper
    /// (`crate = $crate::exitstack;`).
    pub fn parse_prefix(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(syn::Token![crate]) && input.peek2(syn::Token![=]) {
            input.parse::<syn::Token![crate]>()?;
            input.parse::<syn::Token![=]>()?;
            let path = Path::parse_mod_style(input)?;
            input.parse::<syn::Token![;]>()?;
            return Ok(CratePath(Some(path)));
        }
        Ok(CratePath(None))
    }

    /// The hidden module the generated code names.
    pub fn private(&self) -> TokenStream {
        match &self.0 {
            Some(path) => quote!(#path::__private),
            None => {
                let root = syn::Ident::new("exitstack", Span::call_site());
                quote!(::#root::__private)
            }
        }
    }
}

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

impl ToTokens for CratePath {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(self.private());
    }
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
