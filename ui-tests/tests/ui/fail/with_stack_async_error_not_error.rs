use exitstack::{with_stack, UnwindError};

struct Code(u8); // holds cleanup errors, but is not an error handlers could see

impl From<UnwindError> for Code {
    fn from(_: UnwindError) -> Self {
        Code(1)
    }
}

#[with_stack(stack)]
async fn run() -> Result<(), Code> {
    Ok(())
}

fn main() {}
