//! Expansion: the function with its body run on a fresh stack.
//!
//! Synchronous: `(&Decorated::<R>::new()).run(body, view, convert)`, where autoref picks the
//! runtime's `RunResult` when `R` is a `Result` and `RunPlain` otherwise; `view` shows the error
//! to exit handlers and `convert` turns cleanup errors into it, both by autoref probes over the
//! error type (no type name is guessed). Async: the runtime's `async_scope` (or
//! `async_scope_send`) with the same `view` and `convert`, the error type named through
//! `DecoratedResult`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Ident, ItemFn, Type};

use super::lifo::bare_defers_on_stack;
use super::validate::{Plan, Returns};

/// The locals of the expansion, all `Span::mixed_site()`: user code cannot name them.
struct Names {
    binding: Ident,
    fail: Ident,
    error: Ident,
    errors: Ident,
    convert: Ident,
    view: Ident,
}

impl Names {
    fn new(binding: Option<&Ident>) -> Self {
        let local = |name: &str| Ident::new(name, Span::mixed_site());
        Names {
            binding: binding.cloned().unwrap_or_else(|| local("stack")),
            fail: local("fail"),
            error: local("error"),
            errors: local("errors"),
            convert: local("convert"),
            view: local("view"),
        }
    }
}

pub fn expand(plan: Plan, mut function: ItemFn) -> TokenStream {
    let names = Names::new(plan.options.binding.as_ref());
    let moved = bare_defers_on_stack(&mut function.block, &names.binding);
    let used = plan.options.binding.is_some() || !plan.options.contexts.is_empty() || moved;
    let param = if used {
        let binding = &names.binding;
        quote!(#binding)
    } else {
        quote!(_)
    };
    let private = plan.options.krate.private();
    let body = match (&plan.returns, function.sig.asyncness) {
        (Returns::Declared(ty), Some(_)) => {
            async_body(&plan, &function, ty, &param, &names, &private)
        }
        (returns, _) => sync_body(&plan, &function, returns, &param, &names, &private),
    };
    let attrs = &function.attrs;
    let vis = &function.vis;
    let sig = &function.sig;
    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}

/// `if let Err(error) = stack.enter_context(context) { return fail; }` for each context.
fn contexts(plan: &Plan, names: &Names, fail: &TokenStream) -> TokenStream {
    let Names { binding, error, .. } = names;
    let contexts = plan.options.contexts.iter().map(|context| {
        quote! {
            if let ::core::result::Result::Err(#error) = #binding.enter_context(#context) {
                return #fail;
            }
        }
    });
    quote!(#(#contexts)*)
}

fn sync_body(
    plan: &Plan,
    function: &ItemFn,
    returns: &Returns,
    param: &TokenStream,
    names: &Names,
    private: &TokenStream,
) -> TokenStream {
    let Names {
        fail,
        error,
        errors,
        convert,
        view,
        ..
    } = names;
    let contexts = contexts(plan, names, &quote!(#fail.fail(#error)));
    let fail_param = if plan.options.contexts.is_empty() {
        quote!(_)
    } else {
        quote!(#fail)
    };
    let block = &function.block;
    // The probes are spanned on the return type: an error type that cannot be shown to exit
    // handlers, or cannot hold cleanup errors, is reported there.
    let span = match returns {
        Returns::Declared(ty) => ty.span(),
        Returns::Plain => Span::call_site(),
    };
    let view_probe = quote_spanned!(span=> (&&&#private::ErrorView(#view)).tag().view(#view));
    let convert_probe = quote_spanned!(span=> (&&#convert).tag().convert(#errors));
    let arguments = quote! {
        |#param, #fail_param| { #contexts #block },
        |#view| #view_probe,
        |#errors, #convert| #convert_probe,
    };
    let call = match returns {
        Returns::Declared(ty) => {
            let ty = replace_impl_trait(ty, |span| syn::parse_quote_spanned!(span=> _));
            quote_spanned! {ty.span()=>
                (&#private::Decorated::<#ty>::new()).run(#arguments)
            }
        }
        Returns::Plain => quote! {
            #private::RunPlain::run(#private::Decorated::new(), #arguments)
        },
    };
    quote! {
        #[allow(unused_imports)]
        use #private::{
            ConvertFrom as _, ConvertIo as _, ConvertUnsupported as _, RunPlain as _,
            RunResult as _, ViewError as _, ViewLocal as _, ViewSendSync as _,
            ViewUnsupported as _,
        };
        #call
    }
}

fn async_body(
    plan: &Plan,
    function: &ItemFn,
    ty: &Type,
    param: &TokenStream,
    names: &Names,
    private: &TokenStream,
) -> TokenStream {
    let Names {
        error,
        errors,
        convert,
        view,
        ..
    } = names;
    // The error type, from the return type with each `impl Trait` as `()`: the `Ok` type of a
    // `Result` does not change its `Err` type. Spanned on the return type, where a type that is
    // not a `Result`, or whose error cannot be shown or hold cleanup errors, is reported.
    let declared = ty;
    let ty = replace_impl_trait(ty, |span| syn::parse_quote_spanned!(span=> ()));
    let span = ty.span();
    let err = quote_spanned!(span=> <#ty as #private::DecoratedResult>::Err);
    let converter = Ident::new("converter", Span::mixed_site());
    let define_convert = quote_spanned! {span=>
        let #convert = |#errors: #private::UnwindError, #converter: #private::Convert<#err>| {
            #[allow(unused_imports)]
            use #private::{ConvertFrom as _, ConvertIo as _, ConvertUnsupported as _};
            (&&#converter).tag().convert(#errors)
        };
    };
    // The view of the sync expansion, by the same probes: the scope shows the error to exit
    // handlers through it.
    let view_probe = quote_spanned! {span=>
        |#view: &#err| {
            #[allow(unused_imports)]
            use #private::{
                ViewError as _, ViewLocal as _, ViewSendSync as _, ViewUnsupported as _,
            };
            (&&&#private::ErrorView(#view)).tag().view(#view)
        }
    };
    let fail = quote! {
        ::core::result::Result::Err(
            #convert(#private::enter_failed(#error), #private::Convert::new())
        )
    };
    let contexts = contexts(plan, names, &fail);
    let block = &function.block;
    // The body runs in an inner async block whose value goes through `DecoratedResult`, spanned
    // on the return type like the function's result: a return type that is not a `Result` is
    // one error there, not a cascade of mismatches.
    let declared_ty = replace_impl_trait(declared, |span| syn::parse_quote_spanned!(span=> _));
    let into_scope = quote_spanned!(declared.span()=> #private::scope_result::<#declared_ty>);
    let from_scope = quote_spanned!(declared.span()=> #private::declared::<#declared_ty>);
    let output = quote!(#into_scope(async move { #contexts #block }.await));
    let scope = if plan.options.send.is_some() {
        // The runtime's send scope takes a boxed `Send` future: rustc cannot yet prove an
        // async closure's future `Send` for every lifetime of the stack it receives.
        quote! {
            #private::async_scope_send(
                |#param| #private::std::boxed::Box::pin(async move { #output }),
                #view_probe,
            )
        }
    } else {
        quote!(#private::async_scope(async |#param| #output, #view_probe))
    };
    quote! {
        #define_convert
        #from_scope(#private::from_scope(
            #scope.await,
            |#errors| #convert(#errors, #private::Convert::new()),
        ))
    }
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
