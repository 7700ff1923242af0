//! Private files: the data directory is 0700, and everything in it that holds
//! secrets (the database and its WAL, the secret key, tokens, the owner password,
//! dumps) is 0600, whatever the process umask.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and parents) if missing, and makes it 0700.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create the directory {}: {e}", dir.display()))?;
    restrict(dir, 0o700)
}

/// Sets a file's or directory's mode.
pub fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| anyhow::anyhow!("cannot restrict {}: {e}", path.display()))
}

/// Makes an existing file 0600; a missing one is fine.
pub fn restrict_if_exists(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        restrict(path, 0o600)?;
    }
    Ok(())
}

/// Writes `text` to a file only its owner can read (0600, even when it exists).
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    // an existing file keeps its mode on open: set it
    restrict(path, 0o600)?;
    f.write_all(text.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}
