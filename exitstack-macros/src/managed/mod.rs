//! `#[managed]`: parse the struct and its field options, validate them, expand the teardown.

mod attr;
mod expand;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields};

/// The whole pipeline. On error the struct is emitted as written (field options removed), with
/// one error, so code that uses it does not fail a second time.
pub fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut item: DeriveInput = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(_) => return not_a_struct(input),
    };
    match expand_item(args, &mut item) {
        Ok(tokens) => tokens,
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#item #error)
        }
    }
}

fn expand_item(args: TokenStream, item: &mut DeriveInput) -> syn::Result<TokenStream> {
    let options = attr::parse_struct_options(args);
    let fields = match &mut item.data {
        Data::Struct(data) => match &mut data.fields {
            Fields::Unit => return Err(syn::Error::new(
                data.semi_token
                    .map_or_else(|| item.ident.span(), |semi| semi.span),
                "`#[managed]` needs a struct with fields; a unit struct has nothing to tear down",
            )),
            fields => fields,
        },
        Data::Enum(data) => {
            return Err(syn::Error::new(
                data.enum_token.span,
                "`#[managed]` applies to structs, not enums; put the resources in a struct",
            ))
        }
        Data::Union(data) => {
            return Err(syn::Error::new(
                data.union_token.span,
                "`#[managed]` applies to structs, not unions",
            ))
        }
    };
    // Parse the fields first so their options are stripped even when the struct options fail.
    let specs = attr::parse_fields(fields);
    let options = options?;
    let specs = specs?;
    let order = validate::teardown_order(&specs, options.order)?;
    Ok(expand::expand(item, &specs, &order, &options))
}

/// Input that does not parse as a struct, enum or union (a function, say).
fn not_a_struct(input: TokenStream) -> TokenStream {
    let error = syn::Error::new(input.span(), "`#[managed]` applies to structs with fields")
        .to_compile_error();
    quote!(#input #error)
}
