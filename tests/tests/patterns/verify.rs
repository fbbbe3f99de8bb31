//! Pattern "verify, else remove": open a verification context; if the signature does not
//! verify, arrange for the data and signature files to be removed, then fail; if it verifies,
//! keep them. Real files; the "signature" is the demo's FNV-1a checksum.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use exitstack::{Context, Exit, ExitStack, Flow};
use exitstack_tests::demo::checksum;

#[derive(Debug)]
enum VerifyError {
    Io(std::io::Error),
    BadSignature,
}
impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Io(error) => write!(f, "{error}"),
            VerifyError::BadSignature => f.write_str("signature does not verify"),
        }
    }
}
impl std::error::Error for VerifyError {}
impl From<std::io::Error> for VerifyError {
    fn from(error: std::io::Error) -> Self {
        VerifyError::Io(error)
    }
}

/// The verification context: `enter` reads both files; `exit` removes them if the scope failed.
struct Verification {
    data: PathBuf,
    signature: PathBuf,
}

struct Opened {
    paths: Verification,
    data: Vec<u8>,
    signature: String,
}

impl Context for Verification {
    type Target = Opened;
    type Error = std::io::Error;
    fn enter(self) -> std::io::Result<Opened> {
        let data = fs::read(&self.data)?;
        let signature = fs::read_to_string(&self.signature)?;
        Ok(Opened {
            paths: self,
            data,
            signature,
        })
    }
    fn exit(opened: Opened, exit: &Exit<'_>) -> std::io::Result<Flow> {
        if !exit.ending().is_success() {
            fs::remove_file(&opened.paths.data)?;
            fs::remove_file(&opened.paths.signature)?;
        }
        Ok(Flow::Propagate)
    }
}

fn verify(dir: &Path) -> Result<usize, exitstack::ScopeError<VerifyError>> {
    ExitStack::scope(|stack| {
        let opened = stack.enter_context(Verification {
            data: dir.join("payload.bin"),
            signature: dir.join("payload.sig"),
        })?;
        if checksum(&opened.data) != opened.signature.trim() {
            return Err(VerifyError::BadSignature);
        }
        Ok(opened.data.len())
    })
}

fn write_pair(dir: &Path, data: &[u8], signature: &str) {
    fs::write(dir.join("payload.bin"), data).unwrap();
    fs::write(dir.join("payload.sig"), signature).unwrap();
}

#[test]
fn a_verified_pair_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), b"signed bytes", &checksum(b"signed bytes"));
    let size = verify(dir.path()).unwrap();
    assert_eq!(size, 12);
    assert!(dir.path().join("payload.bin").exists());
    assert!(dir.path().join("payload.sig").exists());
}

#[test]
fn a_pair_that_does_not_verify_is_removed_and_the_error_returned() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), b"tampered bytes", &checksum(b"signed bytes"));
    let error = verify(dir.path()).unwrap_err();
    assert!(matches!(
        error.body_error(),
        Some(VerifyError::BadSignature)
    ));
    assert!(error.cleanup_errors().is_none());
    assert!(!dir.path().join("payload.bin").exists());
    assert!(!dir.path().join("payload.sig").exists());
}

#[test]
fn a_missing_signature_fails_to_enter_and_removes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("payload.bin"), b"unsigned").unwrap();
    let error = verify(dir.path()).unwrap_err();
    assert!(matches!(error.body_error(), Some(VerifyError::Io(_))));
    assert!(
        dir.path().join("payload.bin").exists(),
        "enter failed: nothing registered"
    );
}
