//! `#[managed]`: parse the struct and its field options (`attr.rs`), validate them
//! (`validate.rs`), expand the teardown (`expand.rs`) and the constructors
//! (`constructors.rs`); on bad input, one error and stubs (`stubs.rs`).

mod attr;
mod constructors;
mod expand;
mod stubs;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields};

use attr::{FieldSpec, StructOptions};

/// The whole pipeline. On error the struct is emitted (field options removed) with one error
/// and stubs of the generated items, so code that uses them does not fail a second time.
pub fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut item: DeriveInput = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(_) => return not_a_struct(input),
    };
    if let Err(error) = check_shape(&item) {
        let error = error.to_compile_error();
        return quote!(#item #error);
    }
    let (options, specs, result) = parse_and_validate(args, &mut item);
    match result {
        Ok(order) => expand::expand(&mut item, &specs, &order, &options),
        Err(error) => stubs::stubs(&mut item, &specs, &options, &error),
    }
}

/// Parses and validates (for the property tests too): the struct options (the defaults if they
/// fail), every field, and the teardown order or the first error.
pub fn parse_and_validate(
    args: TokenStream,
    item: &mut DeriveInput,
) -> (StructOptions, Vec<FieldSpec>, syn::Result<Vec<usize>>) {
    let options = attr::parse_struct_options(args);
    let (specs, field_error) = match &mut item.data {
        Data::Struct(data) => attr::parse_fields(&mut data.fields),
        _ => (Vec::new(), None),
    };
    let (options, options_error) = match options {
        Ok(options) => (options, None),
        Err(error) => (attr::default_struct_options(), Some(error)),
    };
    let result = match options_error.or(field_error) {
        Some(error) => Err(error),
        None => validate::teardown_order(&specs, options.order)
            .and_then(|order| validate::async_options(&specs, &options).map(|()| order)),
    };
    (options, specs, result)
}

/// A struct with fields, or the one error that says what `#[managed]` applies to.
pub fn check_shape(item: &DeriveInput) -> syn::Result<()> {
    match &item.data {
        Data::Struct(data) => match &data.fields {
            Fields::Unit => Err(syn::Error::new(
                data.semi_token
                    .map_or_else(|| item.ident.span(), |semi| semi.span),
                "`#[managed]` needs a struct with fields; a unit struct has nothing to tear down",
            )),
            _ => Ok(()),
        },
        Data::Enum(data) => Err(syn::Error::new(
            data.enum_token.span,
            "`#[managed]` applies to structs, not enums; put the resources in a struct",
        )),
        Data::Union(data) => Err(syn::Error::new(
            data.union_token.span,
            "`#[managed]` applies to structs, not unions",
        )),
    }
}

/// Input that does not parse as a struct, enum or union (a function, say).
fn not_a_struct(input: TokenStream) -> TokenStream {
    let error = syn::Error::new(input.span(), "`#[managed]` applies to structs with fields")
        .to_compile_error();
    quote!(#input #error)
}
