//! Validation: options that do not fit the function, and what the return type asks for.
//!
//! The return type is never classified by its name: a `Result` under any name (an alias,
//! `io::Result`, `anyhow::Result`) is recognised by the runtime's traits. Only forms that cannot
//! be a `Result` whatever they name (no return type, `impl Trait`, a tuple, a reference, `!`)
//! are decided here.

use syn::{ItemFn, ReturnType, Type};

use super::parse::Options;

/// How the expansion runs the body.
pub enum Returns {
    /// Not a `Result`, whatever it names: the stack is closed and cleanup errors reported.
    Plain,
    /// A named type: the runtime decides, by trait, whether it is a `Result`.
    Declared(Box<Type>),
}

/// The validated input of the expansion.
pub struct Plan {
    pub options: Options,
    pub returns: Returns,
}

/// Checks the options against the function.
pub fn validate(options: Options, function: &ItemFn) -> syn::Result<Plan> {
    let asyncness = function.sig.asyncness;
    if let (Some(send), None) = (options.send, asyncness) {
        return Err(syn::Error::new(
            send,
            "`send` applies to `async fn`: a synchronous body's stack never leaves its thread",
        ));
    }
    let returns = match &function.sig.output {
        ReturnType::Type(_, ty) if may_be_result(ty) => Returns::Declared(ty.clone()),
        _ => Returns::Plain,
    };
    if let (Returns::Plain, Some(asyncness)) = (&returns, asyncness) {
        return Err(syn::Error::new(
            asyncness.span,
            "`#[with_stack]` on an `async fn` needs a `Result` return type; write \
             `-> Result<T, E>`",
        ));
    }
    Ok(Plan { options, returns })
}

/// Whether the type may name a `Result`: a path (an alias or a generic parameter too), not a
/// form that is something else whatever it names.
fn may_be_result(ty: &Type) -> bool {
    match ty {
        Type::Path(_) | Type::Macro(_) => true,
        Type::Group(group) => may_be_result(&group.elem),
        Type::Paren(paren) => may_be_result(&paren.elem),
        _ => false,
    }
}
