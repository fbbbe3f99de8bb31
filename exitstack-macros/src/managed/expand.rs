//! Expansion: the struct with its fields wrapped in `ManagedField`, and inside an anonymous `const`
//! the inherent `close` and `acquire`, `impl Close`, and `impl Drop`.
//!
//! Every teardown (in `close`, in `Drop`, in the rollback of `acquire`) is a closure that
//! releases the fields one by one, in teardown order, on the runtime's `__private::Running`,
//! which keeps going after a failing or panicking field, like a stack's unwind.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, LitStr};

use super::attr::{member_text, FieldSpec, StructOptions};
use super::constructors;
use super::validate;
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
    let new = constructors::new(item, specs, options.new.as_ref(), &private);
    if specs.iter().any(|spec| spec.aclose.is_some()) {
        let aclose = aclose(specs, order, options, &private, &this, name, vis);
        return quote! {
            #item

            const _: () = {
                impl #impl_generics #name #ty_generics #where_clause {
                    #aclose

                    #new
                }

                impl #impl_generics ::core::ops::Drop for #name #ty_generics #where_clause {
                    fn drop(&mut self) {
                        #private::teardown_in_drop(#drop_all);
                    }
                }
            };
        };
    }
    let acquire = constructors::acquire(item, specs, order, &private, &teardown);
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

                #new

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

/// Wraps the type of every field that is torn down in `ManagedField<T>`.
pub fn wrap_fields(item: &mut DeriveInput, specs: &[FieldSpec], private: &TokenStream) {
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
            field.ty = syn::parse_quote_spanned!(ty.span()=> #private::ManagedField<#ty>);
        }
    }
}

/// The teardown closure: one release per field, in teardown order.
pub fn registrations(
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

/// The inherent `aclose`: the fields released wave by wave (one field per wave unless the
/// struct is `concurrent`), each wave's releases polled together, their outcomes recorded in
/// teardown order once the wave is over.
fn aclose(
    specs: &[FieldSpec],
    order: &[usize],
    options: &StructOptions,
    private: &TokenStream,
    this: &Ident,
    name: &Ident,
    vis: &syn::Visibility,
) -> TokenStream {
    let (waves, limit) = if options.concurrent.is_some() {
        let waves = validate::waves(specs, order);
        let limit = options
            .limit
            .map_or(quote!(::core::primitive::usize::MAX), |(n, _)| {
                let n = proc_macro2::Literal::usize_unsuffixed(n);
                quote!(#n)
            });
        (waves, limit)
    } else {
        (order.iter().map(|&i| vec![i]).collect(), quote!(1))
    };
    let wave_doc = waves
        .iter()
        .enumerate()
        .map(|(k, wave)| {
            let names: Vec<String> = wave
                .iter()
                .map(|&i| format!("`{}`", member_text(&specs[i].member)))
                .collect();
            format!("\n{}. {}", k + 1, names.join(", "))
        })
        .collect::<String>();
    let teardown = Ident::new("teardown", Span::mixed_site());
    let context = Ident::new("context", Span::mixed_site());
    let blocks = waves.iter().map(|wave| {
        let locals: Vec<Ident> = wave
            .iter()
            .map(|&i| Ident::new(&format!("release_{i}"), Span::mixed_site()))
            .collect();
        let spans: Vec<Span> = wave
            .iter()
            .map(|&i| {
                let spec = &specs[i];
                spec.aclose
                    .as_ref()
                    .or(spec.close.as_ref())
                    .map_or_else(Span::call_site, Spanned::span)
            })
            .collect();
        let makes = wave
            .iter()
            .zip(&locals)
            .enumerate()
            .map(|(k, (&i, local))| {
                let spec = &specs[i];
                let member = &spec.member;
                let make = release(spec, private, &quote!(&mut #this.#member));
                let cfgs = &spec.cfgs;
                // On the closer's tokens: a closer of the wrong type makes the release's type
                // ill-formed, and rustc reports that once more where the type is bound; on the same
                // span, with the same message, the two are one error.
                quote_spanned!(spans[k]=> #(#cfgs)* let mut #local = #make;)
            });
        let releases = Ident::new("releases", Span::mixed_site());
        // Every use of a release is on its closer's tokens (see `makes`).
        let lend = wave.iter().enumerate().map(|(k, &i)| {
            let (cfgs, local, slot) = (
                &specs[i].cfgs,
                &locals[k],
                proc_macro2::Literal::usize_unsuffixed(k),
            );
            quote_spanned! {spans[k]=>
                #(#cfgs)* { #releases[#slot] = ::core::option::Option::Some(&mut #local); }
            }
        });
        let record = wave.iter().enumerate().map(|(k, &i)| {
            let (cfgs, local) = (&specs[i].cfgs, &locals[k]);
            quote_spanned! {spans[k]=>
                #(#cfgs)* #private::FieldRelease::record_into(&mut #local, &mut #teardown);
            }
        });
        let count = proc_macro2::Literal::usize_unsuffixed(wave.len());
        // The wave's releases are lent to the join one poll at a time (a `&mut dyn` made in
        // the poll is not held across an await, so the future stays `Send` when they are).
        // A slot per field, `None` for a field compiled out: `#[cfg]` on statements only.
        quote! {
            {
                #(#makes)*
                #private::core::future::poll_fn(|#context| {
                    let mut #releases: [::core::option::Option<&mut dyn #private::Joined>; #count] =
                        ::core::array::from_fn(|_| ::core::option::Option::None);
                    #(#lend)*
                    #private::poll_wave(&mut #releases, #limit, #context)
                })
                .await;
                #(#record)*
            }
        }
    });
    let mode = if options.concurrent.is_some() {
        "concurrently, in waves: the fields of a wave close at the same time, and a wave starts \
         once the one before it is over"
    } else {
        "one after the other, in teardown order"
    };
    let doc = format!(
        "Tears down the fields of `{name}` {mode}, awaiting the async closers, and returns \
         every error.\n\nWaves:\n{wave_doc}\n\nA failing or panicking closer stops no \
         other field (the first panic is resumed at the end). Dropped part-way, the future \
         leaves every field it had not started in the value, whose `Drop` tears down the sync \
         ones and reports the async ones; a closer in flight is reported as not run.\n\n\
         # Errors\n\nEvery error a field's closer returned (or its `Drop` reported), \
         labelled with the field, wave by wave and in teardown order within a wave."
    );
    let take_self = if order.is_empty() {
        quote!(::core::mem::drop(self);)
    } else {
        quote!(let mut #this = self;)
    };
    quote! {
        #[doc = #doc]
        #vis async fn aclose(self) -> ::core::result::Result<(), #private::UnwindError> {
            #take_self
            let mut #teardown = #private::AsyncTeardown::new();
            #(#blocks)*
            #teardown.finish()
        }
    }
}

/// One field's release in `aclose`: its async closer, its sync closer, or its drop. Closers are
/// coerced to `fn(T) -> _` first, as in `registration`.
fn release(spec: &FieldSpec, private: &TokenStream, place: &TokenStream) -> TokenStream {
    let label = match &spec.label {
        Some(label) => label.clone(),
        None => LitStr::new(&spec.label_text(), spec.member.span()),
    };
    let ty = &spec.ty;
    let typed = Ident::new("closer", Span::mixed_site());
    let (closer, make) = match (&spec.aclose, &spec.close) {
        (Some(closer), _) => (closer, quote!(#private::release_async)),
        (None, Some(closer)) => (closer, quote!(#private::release_sync)),
        (None, None) => return quote!(#private::release_drop(#place, #label)),
    };
    let make = respan(make, closer.span());
    let coerce = quote_spanned!(closer.span()=> let #typed: fn(#ty) -> _ = #closer;);
    quote_spanned! {closer.span()=>
        {
            #coerce
            #make(#place, #label, #typed)
        }
    }
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
    if spec.aclose.is_some() {
        // `Drop` cannot await: the value is dropped and the field reported as not run.
        return quote! {
            #(#cfgs)*
            #private::Running::not_run(#teardown, #place, #label);
        };
    }
    match &spec.close {
        Some(closer) => {
            // The closer is first coerced to `fn(T) -> _`, on its own tokens: a closer that
            // does not take the field by value is one type mismatch there, and the call below
            // then sees a well-typed `fn` pointer (no follow-up error naming the runtime's
            // internals). The call carries the closer's span, so a wrong return type is
            // reported on the closer too.
            let ty = &spec.ty;
            let typed = Ident::new("closer", Span::mixed_site());
            let close = respan(quote!(#private::Running::close), closer.span());
            let coerce = quote_spanned!(closer.span()=> let #typed: fn(#ty) -> _ = #closer;);
            quote_spanned! {closer.span()=>
                #(#cfgs)*
                {
                    #coerce
                    #close(#teardown, #place, #label, #typed);
                }
            }
        }
        None => quote! {
            #(#cfgs)*
            #private::Running::drop(#teardown, #place, #label);
        },
    }
}
