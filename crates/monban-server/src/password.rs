//! Argon2id hashing for operator passwords and door PINs, and generation of one-time passwords.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;

/// Hashing failed (only on broken parameters; reported, never a panic).
#[derive(Debug, thiserror::Error)]
#[error("パスワードのハッシュ化に失敗しました: {0} / hashing failed: {0}")]
pub struct HashError(String);

/// Hashes a secret with Argon2id and a random salt; returns the PHC string.
pub fn hash(secret: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Checks a secret against a PHC string. A malformed hash never verifies.
pub fn verify(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A random password for first-run accounts: 16 characters without look-alikes.
pub fn generate_one_time_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Checks a new operator password: at least 12 characters.
pub fn check_strength(pw: &str) -> Result<(), monban_core::text::FieldError> {
    if pw.chars().count() < 12 {
        return Err(monban_core::text::FieldError::new(
            "password",
            "パスワードは12文字以上にしてください / a password must have at least 12 characters",
        ));
    }
    if pw.chars().count() > 256 {
        return Err(monban_core::text::FieldError::new(
            "password",
            "パスワードは256文字以内にしてください / a password must have at most 256 characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong", &h));
        assert!(!verify("x", "not a hash"));
        assert_eq!(generate_one_time_password().len(), 16);
    }
}
