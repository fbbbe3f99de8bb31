//! Fault injection on an async acquisition (the "async pool" pattern): a listening socket and four
//! connections, each registered on an `AsyncExitStack` with an async teardown, acquired inside
//! `AsyncExitStack::scope` and handed to the caller with `pop_all` only if all succeeded; the
//! caller closes them later with `aclose`. Every acquisition step in turn fails or panics, and
//! every release step in turn fails or panics (after releasing): no descriptor or listening
//! port is left, and every injected fault is reported exactly once.
//!
//! Not under Miri: real sockets and `/proc/self/fd`.
#![cfg(not(miri))]

use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use crate::support::{
    assert_reported_once, errors, faults, observe, quiet_injected_panics, scope_failure,
};
use crate::support::{beside_others, Created, Injector};
use exitstack::AsyncExitStack;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const CONNECTIONS: usize = 4;

/// Opens the listener and the connections; on any failure the scope closes (awaits the
/// teardown of) what was opened, and returns the errors; on success the caller owns them.
async fn open_pool(
    inject: &Rc<Injector>,
    created: &Created,
) -> Result<AsyncExitStack<'static>, exitstack::ScopeError<io::Error>> {
    AsyncExitStack::scope(async |stack| {
        inject.acquire()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        created.ports.borrow_mut().push(address.port());
        created.fd(listener.as_raw_fd());
        let release = Rc::clone(inject);
        let _ = stack.async_guard(listener, move |listener| async move {
            drop(listener);
            release.release()
        });
        for _ in 0..CONNECTIONS {
            inject.acquire()?;
            let connection = TcpStream::connect(address).await?;
            created.fd(connection.as_raw_fd());
            let release = Rc::clone(inject);
            let _ = stack.async_guard(connection, move |mut connection| async move {
                connection.shutdown().await?;
                drop(connection);
                release.release()
            });
        }
        Ok(stack.pop_all())
    })
    .await
}

#[test]
fn async_pool_under_every_fault() {
    let _process = beside_others();
    quiet_injected_panics();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let steps = CONNECTIONS + 1;
    let (mut runs, mut injected) = (0, 0);
    for acquire in faults(steps) {
        for release in faults(steps) {
            let inject = Rc::new(Injector::new(acquire, release));
            let created = Created::default();
            let produced = observe(|| {
                runtime.block_on(async {
                    match open_pool(&inject, &created).await {
                        Ok(mut pool) => errors(pool.aclose().await),
                        Err(error) if error.is_suppressed() => {
                            panic!("nothing suppresses: {error}")
                        }
                        Err(error) => scope_failure(error),
                    }
                })
            });
            created.assert_all_released();
            let fired = inject.fired.borrow().clone();
            // In a scope nothing is lost: a body error is reported even when a cleanup panics.
            let case = format!("async pool: {acquire:?} {release:?}");
            assert_reported_once(&case, &produced, &fired, &[]);
            runs += 1;
            injected += fired.len();
        }
    }
    assert_eq!(runs, (2 * steps + 1) * (2 * steps + 1));
    eprintln!("faults::async_pool: {runs} runs, {injected} faults injected, nothing left");
}
