//! Passwords and tokens, the same on every backend.
//!
//! Passwords are kept only as argon2id PHC strings with a random salt. Tokens are 32 random
//! bytes handed to the caller as hex; the store keeps only their SHA-256, so a copy of the
//! database does not hand out working tokens.

use crate::error::StoreError;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// Length of generated passwords (letters and digits: about 119 bits).
const GENERATED_PASSWORD_LEN: usize = 20;

pub(crate) fn hash_password(password: &str) -> Result<String, StoreError> {
    if password.is_empty() {
        return Err(StoreError::invalid(None, "the password is empty"));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Password(e.to_string()))
}

fn password_matches(password: &str, phc: &str) -> Result<bool, StoreError> {
    let parsed = PasswordHash::new(phc)
        .map_err(|e| StoreError::Corrupt(format!("stored password hash: {e}")))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// A hash to verify against when the user does not exist, so that "no such user" costs the
/// same time as "wrong password" and logon timing reveals neither.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        hash_password(&random_hex(16)).unwrap_or_else(|_| {
            // Only reachable if argon2 cannot hash at all, in which case no logon works anyway.
            String::new()
        })
    })
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

pub(crate) fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(GENERATED_PASSWORD_LEN);
    while out.len() < GENERATED_PASSWORD_LEN {
        let mut b = [0u8; 1];
        OsRng.fill_bytes(&mut b);
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - (256 % ALPHABET.len());
        if (b[0] as usize) < limit {
            out.push(ALPHABET[b[0] as usize % ALPHABET.len()] as char);
        }
    }
    out
}

pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What a logon checks a password against: the user's hash, or — for a name that is no user —
/// a decoy hash, so that both cases cost the same argon2 work and the same store reads.
///
/// [`Credentials::verify`] is deliberately separate from reading them: the hashing is slow
/// and a server runs it without holding a store connection.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub(crate) user: Option<crate::User>,
    pub(crate) hash: String,
}

impl Credentials {
    pub(crate) fn new(found: Option<(crate::User, String)>) -> Credentials {
        match found {
            Some((user, hash)) => Credentials {
                user: Some(user),
                hash,
            },
            None => Credentials {
                user: None,
                hash: decoy_hash().to_string(),
            },
        }
    }

    /// The user if `password` is theirs; `None` for an unknown user or a wrong password
    /// alike, after the same hashing work.
    pub fn verify(&self, password: &str) -> Result<Option<crate::User>, StoreError> {
        if self.hash.is_empty() {
            return Ok(None);
        }
        let matches = password_matches(password, &self.hash)?;
        Ok(if matches { self.user.clone() } else { None })
    }
}
