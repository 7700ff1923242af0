//! Users' passwords: argon2 hashes, and the rule a new password must meet.

use crate::error::{Error, Field};

pub fn hash_password(pw: &str) -> Result<String, Error> {
    use argon2::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(pw.as_bytes())
        .map(|h| h.to_string())
        .map_err(Error::internal)
}

pub fn verify_password(hash: &str, pw: &str) -> bool {
    use argon2::PasswordVerifier;
    let Ok(parsed) = argon2::PasswordHash::new(hash) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(pw.as_bytes(), &parsed)
        .is_ok()
}

/// At least 12 characters.
pub fn check_password(pw: &str) -> Result<(), Error> {
    if pw.chars().count() < 12 {
        return Err(Error::invalid(
            Field::Input("password".into()),
            "at least 12 characters",
        ));
    }
    Ok(())
}
