//! Pattern "change directory": change the working directory for a block and restore it on
//! every path (success, error, panic, early drop).
//!
//! The working directory is process-global, so this binary holds a single test that runs
//! every case in sequence: no other test can observe a changed directory.

use std::env;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use exitstack::ExitStack;

/// Changes to `dir` and registers the way back; the restore's error joins the stack's result.
fn change_dir(stack: &ExitStack<'_>, dir: &Path) -> io::Result<()> {
    let previous = env::current_dir()?;
    env::set_current_dir(dir)?;
    stack
        .callback(move || env::set_current_dir(previous))
        .label("restore working directory");
    Ok(())
}

fn in_dir<T>(
    dir: &Path,
    body: impl FnOnce() -> io::Result<T>,
) -> Result<T, exitstack::ScopeError<io::Error>> {
    ExitStack::scope(|stack| {
        change_dir(stack, dir)?;
        body()
    })
}

fn cwd() -> PathBuf {
    env::current_dir().unwrap().canonicalize().unwrap()
}

#[test]
fn the_working_directory_is_restored_on_every_path() {
    let home = cwd();
    let target = tempfile::tempdir().unwrap();
    let target_path = target.path().canonicalize().unwrap();

    // Success: relative paths resolve inside the block.
    let seen = in_dir(&target_path, || {
        std::fs::write("relative.txt", b"x")?;
        Ok(cwd())
    })
    .unwrap();
    assert_eq!(seen, target_path);
    assert!(target_path.join("relative.txt").exists());
    assert_eq!(cwd(), home);

    // Error.
    let error = in_dir(&target_path, || std::fs::read("no-such-file")).unwrap_err();
    assert_eq!(error.body_error().unwrap().kind(), io::ErrorKind::NotFound);
    assert_eq!(cwd(), home);

    // Panic.
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        in_dir(&target_path, || -> io::Result<()> {
            panic!("panicked in another dir")
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(cwd(), home);

    // Nested changes unwind in order.
    let inner = target_path.join("inner");
    std::fs::create_dir(&inner).unwrap();
    {
        let stack = ExitStack::new();
        change_dir(&stack, &target_path).unwrap();
        change_dir(&stack, Path::new("inner")).unwrap();
        assert_eq!(cwd(), inner);
    } // dropped without close: restored all the same
    assert_eq!(cwd(), home);

    // A directory that does not exist: nothing changed, nothing registered.
    let mut stack = ExitStack::new();
    assert!(change_dir(&stack, &target_path.join("missing")).is_err());
    assert!(stack.is_empty());
    stack.close().unwrap();
    assert_eq!(cwd(), home);
}
