//! Error recovery, as thiserror does it: on bad input the struct is emitted (fields wrapped as
//! they would be) with one error and stubs of every item the macro would have generated
//! (`new`, `acquire`, `close`, `impl Close`; `new` and `aclose` for a struct with an async
//! field), so code that uses them adds no error of its own.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use super::attr::{FieldSpec, StructOptions};
use super::constructors::{acquire_signature, new, AcquireSignature};
use super::expand::wrap_fields;

pub fn stubs(
    item: &mut DeriveInput,
    specs: &[FieldSpec],
    options: &StructOptions,
    error: &syn::Error,
) -> TokenStream {
    let private = options.krate.private();
    wrap_fields(item, specs, &private);
    let name = &item.ident;
    let vis = &item.vis;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let new = new(item, specs, options.new.as_ref(), &private);
    let error = error.to_compile_error();
    if specs.iter().any(|spec| spec.aclose.is_some()) {
        return quote! {
            #item
            #error

            const _: () = {
                impl #impl_generics #name #ty_generics #where_clause {
                    #new

                    /// A stub: the `#[managed]` attribute has an error.
                    #[allow(clippy::unused_async)]
                    #vis async fn aclose(self) -> ::core::result::Result<(), #private::UnwindError> {
                        ::core::unimplemented!()
                    }
                }
            };
        };
    }
    let acquire = if specs.iter().any(|spec| !spec.cfgs.is_empty()) {
        TokenStream::new()
    } else {
        let AcquireSignature {
            error,
            generics,
            params,
            bounds,
            doc,
        } = acquire_signature(item, specs);
        quote! {
            #[doc = #doc]
            #[allow(clippy::too_many_arguments, clippy::type_complexity, unused_variables)]
            #vis fn acquire<#error, #(#generics),*>(#(#params: #generics),*)
                -> ::core::result::Result<Self, #private::RollbackError<#error>>
            where
                #(#bounds,)*
            {
                ::core::unimplemented!()
            }
        }
    };
    quote! {
        #item
        #error

        const _: () = {
            impl #impl_generics #name #ty_generics #where_clause {
                #new

                #acquire

                /// A stub: the `#[managed]` attribute has an error.
                #vis fn close(self) -> ::core::result::Result<(), #private::UnwindError> {
                    ::core::unimplemented!()
                }
            }

            impl #impl_generics #private::Close for #name #ty_generics #where_clause {
                type Error = #private::UnwindError;
                fn close(self) -> ::core::result::Result<(), #private::UnwindError> {
                    ::core::unimplemented!()
                }
            }
        };
    }
}
