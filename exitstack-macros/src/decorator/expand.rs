//! Expansion: the function with its body run on a fresh stack.
//!
//! Synchronous: `(&Decorated::<R>::new()).run(body, view, convert)`, where autoref picks the
//! runtime's `RunResult` when `R` is a `Result` and `RunPlain` otherwise; `view` shows the error
//! to exit handlers and `convert` turns cleanup errors into it, both by autoref probes over the
//! error type (no type name is guessed). Async: `Decorated::<R>::new().run_async(..).await` (or
//! `run_async_send`) with the same body, `view` and `convert`: the inherent method of
//! `Decorated<Result<T, E>>` (the async scope with the view), or, for any other `R`, the
//! `RunAsyncPlain` one, whose bound is the one error.

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
    let body = decorated_body(&plan, &function, &param, &names, &private);
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

fn decorated_body(
    plan: &Plan,
    function: &ItemFn,
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
    let span = match &plan.returns {
        Returns::Declared(ty) => ty.span(),
        Returns::Plain => Span::call_site(),
    };
    let view_probe = quote_spanned!(span=> (&&&#private::ErrorView(#view)).tag().view(#view));
    let convert_probe = quote_spanned!(span=> (&&&&&#convert).tag().convert(#errors));
    let asynchronous = function.sig.asyncness.is_some();
    let body = match (asynchronous, plan.options.send.is_some()) {
        (false, _) => quote!(|#param, #fail_param| { #contexts #block }),
        (true, false) => quote!(async |#param, #fail_param| { #contexts #block }),
        // The send scope takes a boxed `Send` future: rustc cannot yet prove an async closure's
        // future `Send` for every lifetime of the stack it receives.
        (true, true) => quote! {
            |#param, #fail_param| #private::boxed(async move { #contexts #block })
        },
    };
    let arguments = quote! {
        #body,
        |#view| #view_probe,
        |#errors, #convert| #convert_probe,
    };
    let call = match &plan.returns {
        Returns::Declared(ty) if asynchronous => {
            // By value: the inherent `run_async` of `Decorated<Result<T, E>>` when the type is a
            // `Result`, else `RunAsyncPlain`'s, whose one error is on the return type.
            let ty = replace_impl_trait(ty, |span| syn::parse_quote_spanned!(span=> _));
            let run = if plan.options.send.is_some() {
                quote_spanned!(ty.span()=> run_async_send)
            } else {
                quote_spanned!(ty.span()=> run_async)
            };
            quote_spanned! {ty.span()=>
                #private::Decorated::<#ty>::new().#run(#arguments).await
            }
        }
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
            ConvertFrom as _, ConvertIo as _, ConvertUnsupported as _, ConvertViewError as _,
            ConvertViewLocal as _, ConvertViewSendSync as _, RunAsyncPlain as _, RunPlain as _,
            RunResult as _, ViewError as _, ViewLocal as _, ViewSendSync as _,
            ViewUnsupported as _,
        };
        #call
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
