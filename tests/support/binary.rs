//! The real `trailshare` binary, run as a user would: built once, with only
//! the environment given.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::repo_root;

/// The `trailshare` binary of this workspace, built once per test process
/// (`cargo build --workspace --bins`, as `make demo` builds it: a no-op when
/// fresh), found beside this test binary's own target directory.
pub fn trailshare() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--workspace", "--bins"])
            .current_dir(repo_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --workspace --bins failed");
        // target/debug/deps/cli-<hash> → target/debug/trailshare
        let exe = std::env::current_exe().expect("test binary path");
        let bin = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/debug")
            .join("trailshare");
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// Runs `trailshare` with only the environment given (plus PATH and an
/// empty HOME): no profile or credential of the machine leaks in.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().expect("home");
    let out = Command::new(trailshare())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .envs(env.iter().copied())
        .output()
        .expect("run trailshare");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
