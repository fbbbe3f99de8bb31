//! Expansion: the struct with its fields wrapped in `Field`, and inside an anonymous `const`
//! the inherent `close` and `acquire`, `impl Close`, and `impl Drop`.
//!
//! Every teardown (in `close`, in `Drop`, in the rollback of `acquire`) is a closure that
//! releases the fields one by one, in teardown order, on the runtime's `__private::Running`,
//! which keeps going after a failing or panicking field, like a stack's unwind.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, LitStr};

use super::attr::{FieldSpec, StructOptions};
use crate::diagnostics::respan;

pub fn expand(
    item: &mut DeriveInput,
    specs: &[FieldSpec],
    order: &[usize],
    options: &StructOptions,
) -> TokenStream {
    let private = options.krate.private();
    wrap_fields(item, specs, &private);
    let name = &item.ident;
    let vis = &item.vis;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let this = Ident::new("this", Span::mixed_site());
    let teardown = Ident::new("running", Span::mixed_site());

    let close_all = registrations(specs, order, &private, &teardown, |spec| {
        let member = &spec.member;
        quote!(&mut #this.#member)
    });
    let drop_all = registrations(specs, order, &private, &teardown, |spec| {
        let member = &spec.member;
        quote!(&mut self.#member)
    });
    let acquire = acquire(item, specs, order, &private, &teardown);
    // With every field skipped there is nothing to take out of `self`.
    let take_self = if order.is_empty() {
        quote!(::core::mem::drop(self);)
    } else {
        quote!(let mut #this = self;)
    };
    let close_doc = format!(
        "Tears down the fields of `{name}` in teardown order and returns every error, in \
         that order.\n\n# Errors\n\nEvery error a field's closer returned (or its `Drop` \
         reported), labelled with the field."
    );
    quote! {
        #item

        const _: () = {
            impl #impl_generics #name #ty_generics #where_clause {
                #[doc = #close_doc]
                #vis fn close(self) -> ::core::result::Result<(), #private::UnwindError> {
                    #take_self
                    #private::teardown(#close_all)
                }

                #acquire
            }

            impl #impl_generics #private::Close for #name #ty_generics #where_clause {
                type Error = #private::UnwindError;
                fn close(self) -> ::core::result::Result<(), #private::UnwindError> {
                    #name::close(self)
                }
            }

            impl #impl_generics ::core::ops::Drop for #name #ty_generics #where_clause {
                fn drop(&mut self) {
                    #private::teardown_in_drop(#drop_all);
                }
            }
        };
    }
}

/// Wraps the type of every field that is torn down in `Field<T>`.
fn wrap_fields(item: &mut DeriveInput, specs: &[FieldSpec], private: &TokenStream) {
    let Data::Struct(data) = &mut item.data else {
        return;
    };
    let fields: Vec<&mut syn::Field> = match &mut data.fields {
        Fields::Named(named) => named.named.iter_mut().collect(),
        Fields::Unnamed(unnamed) => unnamed.unnamed.iter_mut().collect(),
        Fields::Unit => Vec::new(),
    };
    for (field, spec) in fields.into_iter().zip(specs) {
        if spec.skip.is_none() {
            let ty = &field.ty;
            field.ty = syn::parse_quote_spanned!(ty.span()=> #private::Field<#ty>);
        }
    }
}

/// The teardown closure: one release per field, in teardown order.
fn registrations(
    specs: &[FieldSpec],
    order: &[usize],
    private: &TokenStream,
    teardown: &Ident,
    place: impl Fn(&FieldSpec) -> TokenStream,
) -> TokenStream {
    if order.is_empty() {
        return quote!(|_| {});
    }
    let releases = order
        .iter()
        .map(|&index| registration(&specs[index], private, teardown, place(&specs[index])));
    quote!(|#teardown| { #(#releases)* })
}

fn registration(
    spec: &FieldSpec,
    private: &TokenStream,
    teardown: &Ident,
    place: TokenStream,
) -> TokenStream {
    let cfgs = &spec.cfgs;
    let label = match &spec.label {
        Some(label) => label.clone(),
        None => LitStr::new(&spec.label_text(), spec.member.span()),
    };
    match &spec.close {
        Some(closer) => {
            // The call carries the closer's span, so a closer with the wrong signature or
            // return type is reported on the closer.
            let close = respan(quote!(#private::Running::close), closer.span());
            quote_spanned! {closer.span()=>
                #(#cfgs)*
                #close(#teardown, #place, #label, #closer);
            }
        }
        None => quote! {
            #(#cfgs)*
            #private::Running::drop(#teardown, #place, #label);
        },
    }
}

/// `acquire`: builds the struct from one fallible acquisition per field, in declaration order;
/// when acquisition `k` fails, the fields before it are torn down in teardown order. Not
/// generated when a field may be configured out, by `#[cfg]` or by a `#[cfg_attr]` that can
/// expand to `#[cfg]` (the parameter list would depend on the configuration); any other
/// `#[cfg_attr]` does not matter here.
fn acquire(
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
    let error = Ident::new("__ExitstackE", Span::call_site());
    let value = Ident::new("value", Span::mixed_site());
    let failure = Ident::new("error", Span::mixed_site());
    let locals: Vec<Ident> = (0..specs.len())
        .map(|i| Ident::new(&format!("field_{i}"), Span::mixed_site()))
        .collect();
    let params: Vec<Ident> = (0..specs.len())
        .map(|i| Ident::new(&format!("acquire_{i}"), Span::mixed_site()))
        .collect();
    let generics: Vec<Ident> = (0..specs.len())
        .map(|i| format_ident!("__ExitstackF{}", i))
        .collect();
    let mut bounds = Vec::new();
    let mut steps = Vec::new();
    for (k, spec) in specs.iter().enumerate() {
        let ty = &spec.ty;
        let earlier: Vec<&syn::Type> = specs[..k].iter().map(|spec| &spec.ty).collect();
        let generic = &generics[k];
        bounds.push(quote! {
            #generic: ::core::ops::FnOnce(#(&#earlier),*) -> ::core::result::Result<#ty, #error>
        });
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
        let binding = if spec.skip.is_none() && later_failure {
            quote!(mut #local)
        } else {
            quote!(#local)
        };
        let wrap = if spec.skip.is_none() {
            quote!(#private::Field::new(#value))
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
    let construct = match specs.first().map(|spec| &spec.member) {
        Some(syn::Member::Named(_)) => {
            let members = specs.iter().map(|spec| &spec.member);
            quote!(Self { #(#members: #locals),* })
        }
        _ => quote!(Self(#(#locals),*)),
    };
    let doc = "Builds the struct from one fallible acquisition per field, in declaration order; \
               each acquisition receives the fields acquired before it.\n\n# Errors\n\nThe \
               first acquisition error. The fields acquired before it have been torn down, in \
               teardown order, and the errors of that teardown are attached.";
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
