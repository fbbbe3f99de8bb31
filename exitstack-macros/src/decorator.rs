//! `#[with_stack]`: give a function body a stack and unwind it with the body's real return value.
//!
//! Options: a bare identifier names the stack binding (`#[with_stack(stack)]`); `context = expr`
//! enters a `Context` before the body runs (the body need not change); `send` (for `async fn`:
//! a `Send` stack, so the future can be spawned); `crate = path`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Expr, Ident, ItemFn, ReturnType, Type};

use crate::crate_path::{duplicate_key, unknown_key, CratePath};

const KEYS: &[&str] = &["<binding name>", "context", "send", "crate"];

struct Options {
    binding: Option<Ident>,
    contexts: Vec<Expr>,
    send: Option<Span>,
    krate: CratePath,
}

fn parse_options(args: TokenStream) -> syn::Result<Options> {
    let mut options = Options {
        binding: None,
        contexts: Vec::new(),
        send: None,
        krate: CratePath::default_path(),
    };
    let mut krate_seen = false;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("context") {
            options.contexts.push(meta.value()?.parse()?);
        } else if meta.path.is_ident("send") {
            if options.send.is_some() {
                return Err(duplicate_key(&meta, "`with_stack`"));
            }
            options.send = Some(syn::spanned::Spanned::span(&meta.path));
        } else if meta.path.is_ident("crate") {
            if krate_seen {
                return Err(duplicate_key(&meta, "`with_stack`"));
            }
            krate_seen = true;
            options.krate = CratePath::parse(&meta)?;
        } else if let (Some(ident), true) = (
            meta.path.get_ident(),
            meta.input.is_empty() || meta.input.peek(syn::Token![,]),
        ) {
            if options.binding.is_some() {
                return Err(meta.error("the stack is already named; give one binding name"));
            }
            options.binding = Some(ident.clone());
        } else {
            return Err(unknown_key(&meta, "`with_stack`", KEYS));
        }
        Ok(())
    });
    parser.parse2(args)?;
    Ok(options)
}

pub fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(input.clone()) {
        Ok(function) => function,
        Err(error) => {
            let error = error.to_compile_error();
            return quote!(#input #error);
        }
    };
    match parse_options(args).and_then(|options| expand_fn(&function, &options)) {
        Ok(tokens) => tokens,
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#function #error)
        }
    }
}

fn expand_fn(function: &ItemFn, options: &Options) -> syn::Result<TokenStream> {
    if let (Some(send), None) = (options.send, function.sig.asyncness) {
        return Err(syn::Error::new(
            send,
            "`send` applies to `async fn`: a synchronous body's stack never leaves its thread",
        ));
    }
    let private = options.krate.private();
    let binding = options
        .binding
        .clone()
        .unwrap_or_else(|| Ident::new("stack", Span::mixed_site()));
    let attrs = &function.attrs;
    let vis = &function.vis;
    let sig = &function.sig;
    let block = &function.block;
    let declared = match &sig.output {
        ReturnType::Type(_, ty) if is_result(ty) => Some(&**ty),
        _ => None,
    };
    // The return type as the expansion names it, in the turbofish of `run_result`: each
    // `impl Trait` (E0562 outside the signature) becomes `_`, so its hidden type is inferred
    // from the body and the declared return type defines it, as without the macro.
    let result_type = declared.map(|ty| {
        replace_impl_trait(ty, |span| {
            Type::Infer(syn::TypeInfer {
                underscore_token: syn::Token![_](span),
            })
        })
    });
    let result_type = result_type.as_ref();
    // Converts cleanup errors into the function's error type: `From<UnwindError>`, or
    // `io::Error::other` for `io::Error` (autoref picks the first that applies).
    let convert = Ident::new("convert", Span::mixed_site());
    let define_convert = match declared {
        Some(ty) => {
            // The error type, from the return type with each `impl Trait` as `()`: nothing else
            // constrains this `let`, so a `_` would stay uninferred; the `Ok` type of a
            // `Result` does not change its `Err` type.
            let ty = replace_impl_trait(ty, |span| syn::parse_quote_spanned!(span=> ()));
            // Spanned on the return type: an error type that cannot hold cleanup errors is
            // reported there.
            let errors = Ident::new("errors", Span::mixed_site());
            let call = quote_spanned! {ty.span()=>
                (&&#private::Convert::<<#ty as #private::DecoratedResult>::Err>::new())
                    .convert(#errors)
            };
            quote! {
                let #convert = |#errors: #private::UnwindError| {
                    #[allow(unused_imports)]
                    use #private::{ConvertFrom as _, ConvertIo as _};
                    #call
                };
            }
        }
        None => TokenStream::new(),
    };
    let contexts = options.contexts.iter().map(|context| {
        let error = Ident::new("error", Span::mixed_site());
        let failed = match result_type {
            Some(_) => quote! {
                return ::core::result::Result::Err(#convert(#private::enter_failed(#error)))
            },
            None => quote!(#private::context_failed(#error)),
        };
        quote! {
            if let ::core::result::Result::Err(#error) = #binding.enter_context(#context) {
                #failed;
            }
        }
    });
    let used = options.binding.is_some() || !options.contexts.is_empty();
    let param = if used { quote!(#binding) } else { quote!(_) };
    let contexts: Vec<TokenStream> = contexts.collect();
    let body = quote!(|#param| { #(#contexts)* #block });
    let call = match (result_type, function.sig.asyncness) {
        (Some(_), Some(_)) if options.send.is_some() => {
            // The runtime's send scope takes a boxed `Send` future: rustc cannot yet prove an
            // async closure's future `Send` for every lifetime of the stack it receives.
            quote! {
                #private::from_scope(
                    #private::AsyncExitStack::scope_send(|#param| {
                        #private::std::boxed::Box::pin(async move { #(#contexts)* #block })
                    })
                    .await,
                    #convert,
                )
            }
        }
        (Some(_), Some(_)) => quote! {
            #private::from_scope(
                #private::AsyncExitStack::scope(async |#param| { #(#contexts)* #block }).await,
                #convert,
            )
        },
        (None, Some(asyncness)) => {
            return Err(syn::Error::new(
                asyncness.span,
                "`#[with_stack]` on an `async fn` needs a `Result` return type",
            ))
        }
        (Some(ty), None) => {
            let view = Ident::new("view", Span::mixed_site());
            quote! {
                #private::run_result::<#ty, _, _, _>(
                    #body,
                    |#view| {
                        #[allow(unused_imports)]
                        use #private::{ViewBoxed as _, ViewError as _, ViewNone as _};
                        (&&#private::ErrorView(#view)).view()
                    },
                    #convert,
                )
            }
        }
        (None, None) => quote!(#private::run_plain(#body)),
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #define_convert
            #call
        }
    })
}

/// `ty` with every `impl Trait` (allowed only in the signature) replaced by `with(its span)`.
fn replace_impl_trait(ty: &Type, with: impl Fn(Span) -> Type) -> Type {
    struct Replace<F>(F);
    impl<F: Fn(Span) -> Type> VisitMut for Replace<F> {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(impl_trait) = ty {
                *ty = (self.0)(impl_trait.span());
            } else {
                syn::visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    let mut ty = ty.clone();
    Replace(with).visit_type_mut(&mut ty);
    ty
}

/// Whether the return type is spelled as a `Result` (any path ending in `Result`).
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Result"),
        Type::Group(group) => is_result(&group.elem),
        Type::Paren(paren) => is_result(&paren.elem),
        _ => false,
    }
}
