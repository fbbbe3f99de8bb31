//! What `#[managed]` generates, for a small struct: the macro's input, then its expansion
//! written out by hand (as `cargo expand` prints it, tidied), then a run showing both behave the
//! same. Run with `cargo run -p exitstack --example managed_expansion`.
//!
//! The expansion names only `::exitstack::__private`, the hidden module whose contents may
//! change in any release: read it to understand the macro, do not write code like it.

use std::cell::RefCell;
use std::io;

use exitstack::managed;

thread_local! {
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn log(line: String) {
    LOG.with(|log| log.borrow_mut().push(line));
}

/// A connection whose shutdown can fail.
pub struct Conn(&'static str);

impl Conn {
    /// Shuts the connection down.
    ///
    /// # Errors
    ///
    /// Always, to show where errors go.
    pub fn shutdown(self) -> io::Result<()> {
        log(format!("shutdown {}", self.0));
        Err(io::Error::other(format!("{} reset", self.0)))
    }
}

/// The input.
#[managed]
pub struct Session {
    #[managed(close = Conn::shutdown, label = "database")]
    conn: Conn,
    log: Vec<u8>,
}

/// The expansion of the same struct (renamed `Expanded`).
mod expanded {
    use super::Conn;

    // 1. The struct: each torn-down field's type is wrapped in `ManagedField<T>` (it derefs to
    //    `T`), so the teardown can move the value out of `&mut self` in `Drop` without `unsafe`.
    pub struct Expanded {
        pub(super) conn: ::exitstack::__private::ManagedField<Conn>,
        pub(super) log: ::exitstack::__private::ManagedField<Vec<u8>>,
    }

    // 2. Everything else sits in an anonymous const, so it adds no names to the module.
    const _: () = {
        impl Expanded {
            /// Tears down the fields in teardown order and returns every error, in that order.
            ///
            /// # Errors
            ///
            /// Every error a field's closer returned, labelled with the field.
            pub fn close(self) -> ::core::result::Result<(), ::exitstack::__private::UnwindError> {
                let mut this = self; // (`this` and `running` are `Span::mixed_site()` locals)
                                     // One release per field, in teardown order: `log` (declared last) goes first.
                                     // `Running` keeps going after a failing or panicking field, like a stack's
                                     // unwind, and resumes the first panic at the end.
                ::exitstack::__private::teardown(|running| {
                    ::exitstack::__private::Running::drop(running, &mut this.log, "log");
                    // The closer is first coerced to `fn(T) -> _` on its own tokens: a closer
                    // that does not take the field by value is one type mismatch there.
                    {
                        let closer: fn(Conn) -> _ = Conn::shutdown;
                        ::exitstack::__private::Running::close(
                            running,
                            &mut this.conn,
                            "database",
                            closer,
                        );
                    }
                })
                // `this` drops here: its `Drop` finds every field taken and does nothing.
            }

            /// Builds `Expanded` from plain values, one per field in declaration order.
            ///
            /// # Parameters
            ///
            /// - `conn: Conn`
            /// - `log: Vec<u8>`
            #[allow(clippy::too_many_arguments)]
            #[must_use]
            pub fn new(conn: Conn, log: Vec<u8>) -> Self {
                Self {
                    conn: ::exitstack::__private::ManagedField::new(conn),
                    log: ::exitstack::__private::ManagedField::new(log),
                }
            }

            /// One fallible acquisition per field, in declaration order (the generated doc
            /// lists each parameter: `conn: FnOnce() -> Result<Conn, E>`, ..); on failure the fields
            /// already acquired are torn down at once.
            ///
            /// # Errors
            ///
            /// The first acquisition error, with the rollback's errors attached.
            #[allow(clippy::too_many_arguments, clippy::type_complexity)]
            pub fn acquire<__ExitstackE, __ExitstackF0, __ExitstackF1>(
                acquire_0: __ExitstackF0,
                acquire_1: __ExitstackF1,
            ) -> ::core::result::Result<Self, ::exitstack::__private::RollbackError<__ExitstackE>>
            where
                __ExitstackF0: ::core::ops::FnOnce() -> ::core::result::Result<Conn, __ExitstackE>,
                __ExitstackF1:
                    ::core::ops::FnOnce(&Conn) -> ::core::result::Result<Vec<u8>, __ExitstackE>,
            {
                // Each acquisition runs under `catch_unwind`: a panic is a failed acquisition
                // too, rolled back before the panic goes on.
                let mut field_0 = match ::exitstack::__private::std::panic::catch_unwind(
                    ::core::panic::AssertUnwindSafe(acquire_0), // (generated: `|| acquire_0()`)
                ) {
                    ::core::result::Result::Ok(::core::result::Result::Ok(value)) => {
                        ::exitstack::__private::ManagedField::new(value)
                    }
                    ::core::result::Result::Ok(::core::result::Result::Err(error)) => {
                        // Nothing acquired yet: nothing to roll back.
                        return ::core::result::Result::Err(::exitstack::__private::rollback(
                            error,
                            |_| {},
                        ));
                    }
                    ::core::result::Result::Err(panic) => {
                        ::exitstack::__private::rollback_panicked(panic, |_| {})
                    }
                };
                let field_1 = match ::exitstack::__private::std::panic::catch_unwind(
                    ::core::panic::AssertUnwindSafe(|| acquire_1(&field_0)),
                ) {
                    ::core::result::Result::Ok(::core::result::Result::Ok(value)) => {
                        ::exitstack::__private::ManagedField::new(value)
                    }
                    ::core::result::Result::Ok(::core::result::Result::Err(error)) => {
                        // Roll back what was acquired, in teardown order.
                        return ::core::result::Result::Err(::exitstack::__private::rollback(
                            error,
                            |running| {
                                ::exitstack::__private::Running::close(
                                    running,
                                    &mut field_0,
                                    "database",
                                    Conn::shutdown,
                                );
                            },
                        ));
                    }
                    ::core::result::Result::Err(panic) => {
                        ::exitstack::__private::rollback_panicked(panic, |running| {
                            ::exitstack::__private::Running::close(
                                running,
                                &mut field_0,
                                "database",
                                Conn::shutdown,
                            );
                        })
                    }
                };
                ::core::result::Result::Ok(Self {
                    conn: field_0,
                    log: field_1,
                })
            }
        }

        // 3. `Close`, so `stack.enter_closing(value)` releases it through `close`.
        impl ::exitstack::__private::Close for Expanded {
            type Error = ::exitstack::__private::UnwindError;
            fn close(self) -> ::core::result::Result<(), ::exitstack::__private::UnwindError> {
                Expanded::close(self)
            }
        }

        // 4. `Drop`: the same teardown when `close` was not called. Errors go to
        //    `report::error_in_drop`: into the result of a stack releasing the value, or else to
        //    the reporter.
        impl ::core::ops::Drop for Expanded {
            fn drop(&mut self) {
                ::exitstack::__private::teardown_in_drop(|running| {
                    ::exitstack::__private::Running::drop(running, &mut self.log, "log");
                    ::exitstack::__private::Running::close(
                        running,
                        &mut self.conn,
                        "database",
                        Conn::shutdown,
                    );
                });
            }
        }
    };
}

fn main() {
    let from_macro = Session::new(Conn("macro"), b"bytes".to_vec());
    assert_eq!(from_macro.log.len(), 5);
    let macro_errors = from_macro.close().unwrap_err();

    let by_hand = expanded::Expanded::new(Conn("by hand"), Vec::new());
    let hand_errors = by_hand.close().unwrap_err();

    for errors in [&macro_errors, &hand_errors] {
        assert_eq!(errors.len(), 1);
        assert_eq!(errors.first().label(), Some("database"));
        println!("close: {errors}");
    }
    let failed = expanded::Expanded::acquire(
        || Ok(Conn("rolled back")),
        |_| Err(io::Error::other("no log")),
    )
    .err()
    .unwrap();
    println!("acquire: {failed}");
    assert_eq!(failed.teardown_errors().map(|e| e.len()), Some(1));
    drop(Session::acquire(
        || Ok::<_, io::Error>(Conn("dropped")),
        |_| Ok(Vec::new()),
    ));
    LOG.with(|log| {
        assert_eq!(
            *log.borrow(),
            [
                "shutdown macro",
                "shutdown by hand",
                "shutdown rolled back",
                "shutdown dropped"
            ]
        );
    });
}
