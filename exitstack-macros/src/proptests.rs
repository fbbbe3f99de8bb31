//! The macros never panic: generated attribute arguments and item shapes go through each
//! macro's parsing, validation and expansion, and every input must either expand or yield a
//! `syn::Error` (10,000 inputs per macro; `cargo test -p exitstack-macros`).

use proc_macro2::TokenStream;
use proptest::prelude::*;
use proptest::sample::select;

const CASES: u32 = 10_000;

/// Atoms of attribute arguments: every key the macros know, near misses, and values.
fn atom() -> impl Strategy<Value = &'static str> {
    select(vec![
        "order",
        "crate",
        "new",
        "close",
        "skip",
        "label",
        "after",
        "rank",
        "context",
        "send",
        "stack",
        "on_error",
        "on_success",
        "on_panic",
        "on_no_panic",
        "move",
        "async",
        "=",
        "=>",
        ",",
        ";",
        "|",
        "::",
        "reverse",
        "declaration",
        "a",
        "b",
        "0",
        "1",
        "-1",
        "99999999999999999999",
        "\"x\"",
        "\"a::b\"",
        "Conn::shutdown",
        "[a, b]",
        "[]",
        "[0]",
        "(x)",
        "{ }",
        "{ f(); }",
        "true",
        "self",
        "Self",
        "_",
        "#",
        "!",
        "&",
        "'a",
        "1.5",
        "err",
        "f",
        "x.y",
        "crate::m",
    ])
}

fn tokens(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(atom(), 0..max).prop_map(|atoms| atoms.join(" "))
}

/// A field: attributes (managed, cfg, cfg_attr, doc), a name or none, a type.
fn field(named: bool) -> impl Strategy<Value = String> {
    let attr = prop_oneof![
        tokens(6).prop_map(|t| format!("#[managed({t})]")),
        Just("#[managed]".to_owned()),
        Just("#[cfg(any())]".to_owned()),
        tokens(4).prop_map(|t| format!("#[cfg_attr({t})]")),
        Just("#[cfg_attr(all(), cfg(test), managed(skip))]".to_owned()),
        Just("#[doc = \"d\"]".to_owned()),
    ];
    let ty = select(vec![
        "u8", "Vec<T>", "&'a str", "Conn", "(u8, u8)", "[u8; 2]",
    ]);
    let name = select(vec!["a", "b", "c", "r#type", "_x"]);
    (prop::collection::vec(attr, 0..3), name, ty).prop_map(move |(attrs, name, ty)| {
        let attrs = attrs.join(" ");
        if named {
            format!("{attrs} {name}: {ty}")
        } else {
            format!("{attrs} {ty}")
        }
    })
}

/// A struct (named, tuple, unit), an enum, a union or a function, with generics or not.
fn item() -> impl Strategy<Value = String> {
    let generics = select(vec!["", "<T>", "<'a, T: Clone>", "<const N: usize>"]);
    prop_oneof![
        (generics.clone(), prop::collection::vec(field(true), 0..5))
            .prop_map(|(g, fields)| { format!("struct S{g} {{ {} }}", fields.join(", ")) }),
        (generics, prop::collection::vec(field(false), 0..5))
            .prop_map(|(g, fields)| format!("struct S{g}({});", fields.join(", "))),
        Just("struct S;".to_owned()),
        Just("enum E { A }".to_owned()),
        Just("union U { a: u8 }".to_owned()),
        Just("fn f() {}".to_owned()),
    ]
}

/// A function for `#[with_stack]`: sync or async, with a return type or not, a body with
/// bare and stack `defer!`s.
fn function() -> impl Strategy<Value = String> {
    let asyncness = select(vec!["", "async "]);
    let output = select(vec![
        "",
        "-> u32",
        "-> Result<u32, E>",
        "-> io::Result<impl Display>",
        "-> impl Iterator",
        "-> Res<T>",
        "-> (u8, u8)",
        "-> !",
        "-> &'a str",
        "-> Self",
    ]);
    let body = tokens(8).prop_map(|t| format!("defer! {{ {t} }} defer!({t}); f()"));
    (asyncness, output, body).prop_map(|(a, o, b)| format!("{a}fn f(x: u8) {o} {{ {b} }}"))
}

/// Lexes `text`; inputs that are not tokens at all (rustc would not call the macro) are skipped.
fn lex(text: &str) -> Option<TokenStream> {
    text.parse().ok()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn managed_never_panics(args in tokens(8), item in item()) {
        let (Some(args), Some(input)) = (lex(&args), lex(&item)) else { return Ok(()) };
        if let Ok(mut parsed) = syn::parse2::<syn::DeriveInput>(input.clone()) {
            if crate::managed::check_shape(&parsed).is_ok() {
                // Either a teardown order or a `syn::Error`; never a panic.
                let _ = crate::managed::parse_and_validate(args.clone(), &mut parsed);
            }
        }
        let _ = crate::managed::expand(args, input);
    }

    #[test]
    fn with_stack_never_panics(args in tokens(8), function in function()) {
        let (Some(args), Some(input)) = (lex(&args), lex(&function)) else { return Ok(()) };
        if let (Ok(options), Ok(parsed)) = (
            crate::decorator::parse_options(args.clone()),
            syn::parse2::<syn::ItemFn>(input.clone()),
        ) {
            let _ = crate::decorator::validate(options, &parsed);
        }
        let _ = crate::decorator::expand(args, input);
    }

    #[test]
    fn defer_never_panics(input in tokens(10)) {
        let Some(input) = lex(&input) else { return Ok(()) };
        let stack = syn::Ident::new("stack", proc_macro2::Span::call_site());
        let _ = crate::defer::bare_to_stack(input.clone(), &stack);
        let _ = crate::defer::expand(input);
    }

    #[test]
    fn stack_callback_never_panics(input in tokens(10)) {
        let Some(input) = lex(&input) else { return Ok(()) };
        let _ = crate::stack_callback::expand(input);
    }
}
