//! The constructors: `new`, from plain values, and `acquire`, from one fallible acquisition per
//! field with rollback. Both carry a generated doc comment listing each parameter and its type,
//! and their parameters carry the fields' spans, so a missing or wrong argument points at the
//! field.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{DeriveInput, Ident, Member};

use super::attr::{member_text, FieldSpec};
use super::expand::registrations;

/// The parameter that takes `spec`'s value: the field's own name (its span too), or
/// `field_<n>` on the field's type for a tuple struct.
fn param_name(index: usize, spec: &FieldSpec) -> Ident {
    match &spec.member {
        Member::Named(ident) => ident.clone(),
        Member::Unnamed(_) => format_ident!("field_{}", index, span = spec.ty.span()),
    }
}

/// A type as the docs show it: `Vec<u8>`, not `Vec < u8 >`.
pub fn type_text(ty: &syn::Type) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (from, to) in [
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" :: ", "::"),
        (":: ", "::"),
        (" ,", ","),
        ("& ", "&"),
        (" (", "("),
        ("( ", "("),
        (" )", ")"),
        ("' ", "'"),
    ] {
        text = text.replace(from, to);
    }
    text
}

/// `Self { a: ManagedField::new(a), .. }` or `Self(ManagedField::new(field_0), ..)` from `values`.
fn construct(specs: &[FieldSpec], values: &[Ident], private: &TokenStream) -> TokenStream {
    let parts = specs.iter().zip(values).map(|(spec, value)| {
        let cfgs = &spec.cfgs;
        let wrapped = if spec.skip.is_none() {
            quote!(#private::ManagedField::new(#value))
        } else {
            quote!(#value)
        };
        match &spec.member {
            Member::Named(name) => quote!(#(#cfgs)* #name: #wrapped),
            Member::Unnamed(_) => quote!(#(#cfgs)* #wrapped),
        }
    });
    match specs.first().map(|spec| &spec.member) {
        Some(Member::Named(_)) => quote!(Self { #(#parts),* }),
        _ => quote!(Self(#(#parts),*)),
    }
}

/// `new(field: T, ..) -> Self`: the struct from plain values, in declaration order.
pub fn new(
    item: &DeriveInput,
    specs: &[FieldSpec],
    name: Option<&Ident>,
    private: &TokenStream,
) -> TokenStream {
    // On the struct's name when not given: "defined here" notes point at the struct.
    let name = name
        .cloned()
        .unwrap_or_else(|| Ident::new("new", item.ident.span()));
    let vis = &item.vis;
    let values: Vec<Ident> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| param_name(i, s))
        .collect();
    let params = specs.iter().zip(&values).map(|(spec, value)| {
        let cfgs = &spec.cfgs;
        let ty = &spec.ty;
        quote_spanned!(spec.ty.span()=> #(#cfgs)* #value: #ty)
    });
    let lines: String = specs
        .iter()
        .zip(&values)
        .map(|(spec, value)| format!("\n- `{value}: {}`", type_text(&spec.ty)))
        .collect();
    let doc = format!(
        "Builds `{}` from plain values, one per field in declaration order (each torn-down \
         field is wrapped in `ManagedField`).\n\n# Parameters\n{lines}",
        item.ident
    );
    let body = construct(specs, &values, private);
    quote! {
        #[doc = #doc]
        #[allow(clippy::too_many_arguments)]
        #[must_use]
        #vis fn #name(#(#params),*) -> Self {
            #body
        }
    }
}

/// The signature of `acquire`: `(generics, params, bounds, doc)`, shared with the stub.
pub struct AcquireSignature {
    pub error: Ident,
    pub generics: Vec<Ident>,
    pub params: Vec<Ident>,
    pub bounds: Vec<TokenStream>,
    pub doc: String,
}

pub fn acquire_signature(item: &DeriveInput, specs: &[FieldSpec]) -> AcquireSignature {
    let error = Ident::new("__ExitstackE", Span::call_site());
    let params: Vec<Ident> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| param_name(i, s))
        .collect();
    let generics: Vec<Ident> = (0..specs.len())
        .map(|i| format_ident!("__ExitstackF{}", i))
        .collect();
    let mut bounds = Vec::new();
    let mut lines = String::new();
    for (k, spec) in specs.iter().enumerate() {
        let ty = &spec.ty;
        let earlier: Vec<&syn::Type> = specs[..k].iter().map(|spec| &spec.ty).collect();
        let generic = &generics[k];
        // Spanned on the field: an acquisition of the wrong type is reported there.
        bounds.push(quote_spanned! {ty.span()=>
            #generic: ::core::ops::FnOnce(#(&#earlier),*) -> ::core::result::Result<#ty, #error>
        });
        let earlier: Vec<String> = earlier
            .iter()
            .map(|ty| format!("&{}", type_text(ty)))
            .collect();
        lines.push_str(&format!(
            "\n- `{}`: `FnOnce({}) -> Result<{}, E>`, acquires `{}`",
            params[k],
            earlier.join(", "),
            type_text(ty),
            member_text(&spec.member),
        ));
    }
    let doc = format!(
        "Builds `{}` from one fallible acquisition per field, in declaration order; each \
         acquisition receives the fields acquired before it.\n\n# Parameters\n{lines}\n\n\
         # Errors\n\nThe first acquisition error (`E`, the same for every acquisition). The \
         fields acquired before it have been torn down, in teardown order, and the errors of \
         that teardown are attached.",
        item.ident
    );
    AcquireSignature {
        error,
        generics,
        params,
        bounds,
        doc,
    }
}

/// `acquire`: builds the struct from one fallible acquisition per field, in declaration order;
/// when acquisition `k` fails, the fields before it are torn down in teardown order. Not
/// generated when a field may be configured out, by `#[cfg]` or by a `#[cfg_attr]` that can
/// expand to `#[cfg]` (the parameter list would depend on the configuration); any other
/// `#[cfg_attr]` does not matter here.
pub fn acquire(
    item: &DeriveInput,
    specs: &[FieldSpec],
    order: &[usize],
    private: &TokenStream,
    teardown: &Ident,
) -> TokenStream {
    if specs.iter().any(|spec| !spec.cfgs.is_empty()) {
        return TokenStream::new();
    }
    let vis = &item.vis;
    let AcquireSignature {
        error,
        generics,
        params,
        bounds,
        doc,
    } = acquire_signature(item, specs);
    let value = Ident::new("value", Span::mixed_site());
    let failure = Ident::new("error", Span::mixed_site());
    let locals: Vec<Ident> = (0..specs.len())
        .map(|i| Ident::new(&format!("field_{i}"), Span::mixed_site()))
        .collect();
    let mut steps = Vec::new();
    for (k, spec) in specs.iter().enumerate() {
        // Roll back the fields acquired before `k` that are torn down.
        let acquired: Vec<usize> = order.iter().copied().filter(|&i| i < k).collect();
        let rollback = registrations(specs, &acquired, private, teardown, |spec| {
            let index = specs
                .iter()
                .position(|other| std::ptr::eq(other, spec))
                .unwrap_or(0);
            let local = &locals[index];
            quote!(&mut #local)
        });
        let param = &params[k];
        let args = locals[..k].iter().map(|local| quote!(&#local));
        let local = &locals[k];
        let later_failure = specs.len() > k + 1;
        let mutable = (spec.skip.is_none() && later_failure).then(|| quote!(mut));
        let binding = quote!(#mutable #local);
        let wrap = if spec.skip.is_none() {
            quote!(#private::ManagedField::new(#value))
        } else {
            quote!(#value)
        };
        // A panicking acquisition rolls back too, then its panic goes on.
        let call = quote! {
            #private::std::panic::catch_unwind(::core::panic::AssertUnwindSafe(
                || #param(#(#args),*)
            ))
        };
        steps.push(quote! {
            let #binding = match #call {
                ::core::result::Result::Ok(::core::result::Result::Ok(#value)) => #wrap,
                ::core::result::Result::Ok(::core::result::Result::Err(#failure)) => {
                    return ::core::result::Result::Err(#private::rollback(#failure, #rollback));
                }
                ::core::result::Result::Err(#failure) => {
                    #private::rollback_panicked(#failure, #rollback)
                }
            };
        });
    }
    let construct = construct_acquired(specs, &locals);
    quote! {
        #[doc = #doc]
        #[allow(clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn acquire<#error, #(#generics),*>(#(#params: #generics),*)
            -> ::core::result::Result<Self, #private::RollbackError<#error>>
        where
            #(#bounds,)*
        {
            #(#steps)*
            ::core::result::Result::Ok(#construct)
        }
    }
}

/// `Self { a: field_0, .. }` from the acquired (already wrapped) locals.
fn construct_acquired(specs: &[FieldSpec], locals: &[Ident]) -> TokenStream {
    match specs.first().map(|spec| &spec.member) {
        Some(Member::Named(_)) => {
            let members = specs.iter().map(|spec| &spec.member);
            quote!(Self { #(#members: #locals),* })
        }
        _ => quote!(Self(#(#locals),*)),
    }
}
