//! Pattern "acquire, validate, keep": acquire a resource and validate it; if validation
//! fails, release it and return an error; otherwise hand it to the caller, released at the end
//! of the caller's scope. Real files: a data file and the lock file that guards it.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use exitstack::ExitStack;

const MAGIC: &[u8] = b"EXITSTACK1\n";

/// An open, validated data file; dropping it removes its lock file.
struct Checked {
    file: File,
    _lock: ExitStack<'static>,
}

fn lock_path(dir: &Path) -> PathBuf {
    dir.join("data.lock")
}

/// Takes the lock, opens the data file, checks its header.
fn acquire(dir: &Path) -> io::Result<Checked> {
    let mut stack = ExitStack::new();
    let lock = lock_path(dir);
    File::create_new(&lock)?;
    stack
        .callback(move || fs::remove_file(lock))
        .label("remove lock");
    let mut file = stack.enter(File::open(dir.join("data"))?);
    let mut header = vec![0; MAGIC.len()];
    file.read_exact(&mut header)?;
    if header != MAGIC {
        // `stack` is dropped on return: the file is closed and the lock removed, at once.
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad header"));
    }
    let file = file.cancel(); // valid: the caller owns the file from here
    Ok(Checked {
        file,
        _lock: stack.pop_all(),
    })
}

#[test]
fn a_valid_resource_is_handed_to_the_caller_and_released_at_the_end_of_its_scope() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("data"), [MAGIC, b"payload"].concat()).unwrap();
    {
        let mut checked = acquire(dir.path()).unwrap();
        assert!(
            lock_path(dir.path()).exists(),
            "held while the caller uses it"
        );
        let mut rest = String::new();
        checked.file.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "payload");
        // A second acquisition fails while the lock is held and registers nothing,
        // so it does not remove the first one's lock.
        let busy = acquire(dir.path()).err().unwrap();
        assert_eq!(busy.kind(), io::ErrorKind::AlreadyExists);
        assert!(lock_path(dir.path()).exists());
    }
    assert!(
        !lock_path(dir.path()).exists(),
        "released at the end of the caller's scope"
    );
}

#[test]
fn an_invalid_resource_is_released_at_once_and_the_error_returned() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("data"), b"NOT A VALID HEADER").unwrap();
    let error = acquire(dir.path()).err().unwrap();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    assert!(
        !lock_path(dir.path()).exists(),
        "the lock went with the failure"
    );
    // Released, so it can be acquired again once the data is fixed.
    fs::write(dir.path().join("data"), MAGIC).unwrap();
    drop(acquire(dir.path()).unwrap());
    assert!(!lock_path(dir.path()).exists());
}

#[test]
fn a_failed_read_during_validation_releases_too() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("data"), b"short").unwrap();
    let error = acquire(dir.path()).err().unwrap();
    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    assert!(!lock_path(dir.path()).exists());
}
