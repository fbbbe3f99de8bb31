//! Parsing: the options of `#[managed(..)]` on the struct and `#[managed(..)]` on its fields.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::quote;
use syn::ext::IdentExt as _;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Attribute, ExprPath, Fields, Ident, LitInt, LitStr, Member, Token};

use crate::crate_path::CratePath;
use crate::diagnostics::{duplicate_key, unknown_key};

const STRUCT_KEYS: &[&str] = &["order", "new", "crate", "concurrent", "limit"];
const FIELD_KEYS: &[&str] = &["close", "aclose", "skip", "label", "after", "rank"];

/// The struct's teardown order before `after` and `rank` refine it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Last declared, first torn down (the default).
    Reverse,
    /// First declared, first torn down.
    Declaration,
}

/// Options of the struct attribute.
pub struct StructOptions {
    pub order: Order,
    /// The name given to the constructor from plain values with `new = name` (for a struct
    /// that has its own `new`); `new` otherwise.
    pub new: Option<Ident>,
    pub krate: CratePath,
    /// `concurrent`: async teardown in waves of the `after`/`rank` graph.
    pub concurrent: Option<Span>,
    /// `limit = n`: at most `n` fields of a wave at once (with `concurrent` only).
    pub limit: Option<(usize, Span)>,
}

/// One field and its options.
pub struct FieldSpec {
    /// How generated code names the field: `name` or `0`.
    pub member: Member,
    pub ty: syn::Type,
    /// When the field exists, as `#[cfg]` attributes (its own, and the `#[cfg]` its
    /// `#[cfg_attr]`s can expand to, rewritten as one `#[cfg]` each), repeated on the code that
    /// touches it. Empty for a field that always exists.
    pub cfgs: Vec<Attribute>,
    pub close: Option<ExprPath>,
    /// An async closer: `aclose = path`, a function taking the value and returning a future.
    pub aclose: Option<ExprPath>,
    pub skip: Option<Span>,
    pub label: Option<LitStr>,
    pub after: Vec<Member>,
    pub rank: Option<(i64, Span)>,
}

impl FieldSpec {
    /// The label in error reports: the given one, else the field's name.
    pub fn label_text(&self) -> String {
        match &self.label {
            Some(label) => label.value(),
            None => member_text(&self.member),
        }
    }
}

pub fn member_text(member: &Member) -> String {
    match member {
        Member::Named(ident) => ident.to_string(),
        Member::Unnamed(index) => index.index.to_string(),
    }
}

/// The options of `#[managed]` without arguments.
pub fn default_struct_options() -> StructOptions {
    StructOptions {
        order: Order::Reverse,
        new: None,
        krate: CratePath::default_path(),
        concurrent: None,
        limit: None,
    }
}

/// Parses the struct attribute's arguments.
pub fn parse_struct_options(args: TokenStream) -> syn::Result<StructOptions> {
    let mut order: Option<Order> = None;
    let mut krate: Option<CratePath> = None;
    let mut new: Option<Ident> = None;
    let mut concurrent: Option<Span> = None;
    let mut limit: Option<(usize, Span)> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("order") {
            if order.is_some() {
                return Err(duplicate_key(&meta, "`managed`"));
            }
            let value: Ident = meta.value()?.parse()?;
            order = Some(match value.to_string().as_str() {
                "reverse" => Order::Reverse,
                "declaration" => Order::Declaration,
                _ => {
                    return Err(syn::Error::new(
                        value.span(),
                        "unknown order; valid orders are `reverse`, `declaration`",
                    ))
                }
            });
            Ok(())
        } else if meta.path.is_ident("new") {
            if new.is_some() {
                return Err(duplicate_key(&meta, "`managed`"));
            }
            new = Some(meta.value()?.parse().map_err(|error: syn::Error| {
                syn::Error::new(
                    error.span(),
                    "expected the constructor's name, as in `new = from_parts`",
                )
            })?);
            Ok(())
        } else if meta.path.is_ident("concurrent") {
            if concurrent.is_some() {
                return Err(duplicate_key(&meta, "`managed`"));
            }
            concurrent = Some(meta.path.span());
            Ok(())
        } else if meta.path.is_ident("limit") {
            if limit.is_some() {
                return Err(duplicate_key(&meta, "`managed`"));
            }
            let value: LitInt = meta.value()?.parse().map_err(|error: syn::Error| {
                syn::Error::new(
                    error.span(),
                    "expected how many fields of a wave may close at once, as in `limit = 4`",
                )
            })?;
            let n: usize = value.base10_parse()?;
            if n == 0 {
                return Err(syn::Error::new(
                    value.span(),
                    "`limit` must be at least 1: a wave with no field closing never ends",
                ));
            }
            limit = Some((n, value.span()));
            Ok(())
        } else if meta.path.is_ident("crate") {
            if krate.is_some() {
                return Err(duplicate_key(&meta, "`managed`"));
            }
            krate = Some(CratePath::parse(&meta)?);
            Ok(())
        } else {
            Err(unknown_key(&meta, "`managed`", STRUCT_KEYS))
        }
    });
    parser.parse2(args)?;
    Ok(StructOptions {
        order: order.unwrap_or(Order::Reverse),
        new,
        krate: krate.unwrap_or_else(CratePath::default_path),
        concurrent,
        limit,
    })
}

/// Reads every field, taking its `#[managed(..)]` attributes off; returns every field (with the
/// options that parsed) and the first error, so that on error the struct and the stubs of the
/// generated items can still be emitted.
pub fn parse_fields(fields: &mut Fields) -> (Vec<FieldSpec>, Option<syn::Error>) {
    let mut specs = Vec::new();
    let mut first_error: Option<syn::Error> = None;
    for (index, field) in fields.iter_mut().enumerate() {
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(syn::Index {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                span: field.ty.span(),
            }),
        };
        let mut spec = FieldSpec {
            member,
            ty: field.ty.clone(),
            cfgs: Vec::new(),
            close: None,
            aclose: None,
            skip: None,
            label: None,
            after: Vec::new(),
            rank: None,
        };
        let mut kept = Vec::new();
        for attr in field.attrs.drain(..) {
            if attr.path().is_ident("managed") {
                if let Err(error) = parse_field_attr(&attr, &mut spec) {
                    first_error.get_or_insert(error);
                }
                continue;
            }
            if attr.path().is_ident("cfg") {
                spec.cfgs.push(attr.clone());
            } else if let (true, syn::Meta::List(list)) =
                (attr.path().is_ident("cfg_attr"), &attr.meta)
            {
                match cfg_attr_condition(list.tokens.clone()) {
                    Ok(Some(condition)) => spec.cfgs.push(syn::parse_quote_spanned! {
                        attr.span()=> #[cfg(#condition)]
                    }),
                    Ok(None) => {}
                    Err(error) => {
                        // Not kept: it would fail again once rustc expands it.
                        first_error.get_or_insert(error);
                        continue;
                    }
                }
            }
            kept.push(attr);
        }
        field.attrs = kept;
        specs.push(spec);
    }
    (specs, first_error)
}

/// What the arguments of a field's `#[cfg_attr(predicate, attrs..)]` mean for the expansion.
///
/// The macro sees `cfg_attr` unexpanded and cannot evaluate its predicate. An attribute it
/// expands to that the expansion does not depend on (`doc`, `allow`, a derive's helper) is
/// left to rustc, on the field. `cfg` makes the field conditional: the condition is returned,
/// `any(not(predicate), all(cfgs..))`, nested `cfg_attr`s alike, for the generated code to
/// carry as `#[cfg]`. A field option (`managed`) cannot depend on the configuration: an error.
fn cfg_attr_condition(tokens: TokenStream) -> syn::Result<Option<TokenStream>> {
    let mut items = split_commas(tokens).into_iter();
    let Some(predicate) = items.next() else {
        return Ok(None);
    };
    let mut conditions = Vec::new();
    for item in items {
        let mut trees = item.clone().into_iter();
        let Some(TokenTree::Ident(name)) = trees.next() else {
            continue;
        };
        let arguments = match (trees.next(), trees.next()) {
            (Some(TokenTree::Group(group)), None)
                if group.delimiter() == proc_macro2::Delimiter::Parenthesis =>
            {
                Some(group.stream())
            }
            _ => None,
        };
        match (name.unraw().to_string().as_str(), arguments) {
            ("managed", _) => {
                return Err(syn::Error::new_spanned(
                    item,
                    "field options cannot depend on the configuration; write `#[managed(..)]` \
                     on the field itself, not inside `cfg_attr`",
                ))
            }
            ("cfg", Some(condition)) => conditions.push(condition),
            ("cfg_attr", Some(nested)) => conditions.extend(cfg_attr_condition(nested)?),
            // Anything else (a malformed `cfg` too) is rustc's to expand or reject.
            _ => {}
        }
    }
    if conditions.is_empty() {
        return Ok(None);
    }
    Ok(Some(quote!(any(not(#predicate), all(#(#conditions),*)))))
}

/// The comma-separated parts of an attribute's arguments (commas inside groups excluded).
fn split_commas(tokens: TokenStream) -> Vec<TokenStream> {
    let mut parts = Vec::new();
    let mut part = TokenStream::new();
    for tree in tokens {
        match &tree {
            TokenTree::Punct(punct) if punct.as_char() == ',' => {
                parts.push(std::mem::take(&mut part));
            }
            _ => part.extend([tree]),
        }
    }
    // A trailing comma ends the list; it does not start an empty part.
    if !part.is_empty() {
        parts.push(part);
    }
    parts
}

fn parse_field_attr(attr: &Attribute, spec: &mut FieldSpec) -> syn::Result<()> {
    let mut seen_after = false;
    attr.parse_nested_meta(|meta| {
        let key = meta.path.get_ident().map(ToString::to_string);
        let duplicate = match key.as_deref() {
            Some("close") => spec.close.is_some(),
            Some("aclose") => spec.aclose.is_some(),
            Some("skip") => spec.skip.is_some(),
            Some("label") => spec.label.is_some(),
            Some("after") => seen_after,
            Some("rank") => spec.rank.is_some(),
            _ => return Err(unknown_key(&meta, "field", FIELD_KEYS)),
        };
        if duplicate {
            return Err(duplicate_key(&meta, "field"));
        }
        match key.as_deref() {
            Some("close") => {
                spec.close = Some(meta.value()?.parse().map_err(|error: syn::Error| {
                    syn::Error::new(
                        error.span(),
                        "expected a path to the closer, as in `close = Conn::shutdown`",
                    )
                })?);
            }
            Some("aclose") => {
                spec.aclose = Some(meta.value()?.parse().map_err(|error: syn::Error| {
                    syn::Error::new(
                        error.span(),
                        "expected a path to the async closer, as in `aclose = Conn::shutdown`",
                    )
                })?);
            }
            Some("skip") => spec.skip = Some(meta.path.span()),
            Some("label") => {
                spec.label = Some(meta.value()?.parse().map_err(|error: syn::Error| {
                    syn::Error::new(
                        error.span(),
                        "expected a string, as in `label = \"database\"`",
                    )
                })?);
            }
            Some("rank") => {
                let rank: LitInt = meta.value()?.parse().map_err(|error: syn::Error| {
                    syn::Error::new(error.span(), "expected an integer rank, as in `rank = 1`")
                })?;
                spec.rank = Some((rank.base10_parse()?, rank.span()));
            }
            _ => {
                seen_after = true;
                let value = meta.value()?;
                if value.peek(syn::token::Bracket) {
                    let content;
                    syn::bracketed!(content in value);
                    let list = content.parse_terminated(Member::parse, Token![,])?;
                    spec.after.extend(list);
                } else {
                    spec.after.push(value.parse()?);
                }
            }
        }
        Ok(())
    })
}

use syn::parse::Parse as _;
