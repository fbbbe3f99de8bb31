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

    /// The `crate = path;` prefix of a function-like macro's input, as given (empty for the
    /// default path), to pass the path on to a macro call rewritten by another macro.
    pub fn prefix(&self) -> TokenStream {
        match &self.0 {
            Some(path) => quote!(crate = #path;),
            None => TokenStream::new(),
        }
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

impl ToTokens for CratePath {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(self.private());
    }
}
