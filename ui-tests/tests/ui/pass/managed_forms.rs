//! Every documented `#[managed]` form.
use exitstack::{managed, ExitStack};
use std::io;

struct Socket;
impl Socket {
    fn shutdown(self) -> io::Result<()> {
        Ok(())
    }
    fn forget(self) {}
}

#[managed]
struct Named {
    #[managed(close = Socket::shutdown, label = "socket")]
    socket: Socket,
    #[managed(close = Socket::forget, after = socket)]
    other: Socket,
    #[managed(rank = -1)]
    buffer: Vec<u8>,
    #[managed(skip)]
    name: &'static str,
    #[cfg(any())]
    gone: u8,
}

#[managed(order = declaration)]
struct Tuple(#[managed(close = Socket::shutdown)] Socket, String);

#[managed(crate = exitstack)]
pub struct Generic<'a, T: Clone, const N: usize>
where
    T: Default,
{
    #[managed(close = drop, after = [items])]
    pub borrowed: &'a [T; N],
    pub items: Vec<T>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let named = Named {
        socket: Socket.into(),
        other: Socket.into(),
        buffer: Vec::new().into(),
        name: "n",
    };
    assert_eq!(named.name, "n");
    named.close()?;
    Tuple(Socket.into(), String::new().into()).close()?;
    let array = [1u8; 2];
    let generic = Generic::<u8, 2> {
        borrowed: (&array).into(),
        items: vec![1].into(),
    };
    exitstack::Close::close(generic)?;
    let built = Tuple::acquire(|| Ok::<_, io::Error>(Socket), |_socket| Ok(String::new()))
        .map_err(exitstack::RollbackError::into_error)?;
    let mut stack = ExitStack::new();
    stack.enter(built);
    stack.enter_closing(Tuple(Socket.into(), String::new().into()));
    stack.close()?;
    Ok(())
}
