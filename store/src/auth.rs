//! Users, grants and API tokens.
//!
//! Passwords are kept only as argon2id PHC strings with a random salt. Tokens are 32 random
//! bytes handed to the caller as hex; the store keeps only their SHA-256, so a copy of the
//! database does not hand out working tokens.

use crate::clock::{now_secs, now_text};
use crate::error::StoreError;
use crate::inventory::id;
use crate::Store;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use tapesync_model::Field;

/// What a user may do with one customer's inventory. `Read < Write < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Download scopes, see volumes, history and sessions.
    Read,
    /// Also apply batches and record sync sessions.
    Write,
    /// Also manage the customer (reserved for customer-level administration).
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s.to_ascii_lowercase().as_str() {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("unknown role `{s}`; use read, write or admin")),
        }
    }
}

/// A user of the inventory server. `is_admin` users have every role on every customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
}

/// A user with the grants it holds (the admin listing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub user: User,
    pub grants: Vec<(String, Role)>,
}

/// Longest user name accepted.
const USER_NAME_MAX: usize = 64;

/// Length of generated passwords (letters and digits: about 119 bits).
const GENERATED_PASSWORD_LEN: usize = 20;

fn check_user_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.chars().count() <= USER_NAME_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            None,
            format!(
                "user name `{name}` is not valid: use 1-{USER_NAME_MAX} of letters, digits, '.', '_', '-', '@'"
            ),
        ))
    }
}

fn hash_password(password: &str) -> Result<String, StoreError> {
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

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

fn generate_password() -> String {
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

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Adds a user with an argon2-hashed password. It is a conflict if the name is taken.
    pub fn add_user(&self, name: &str, password: &str, is_admin: bool) -> Result<User, StoreError> {
        check_user_name(name)?;
        let hash = hash_password(password)?;
        let added = self.conn.execute(
            "INSERT INTO users (name, password_hash, is_admin, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![name, hash, is_admin, now_text()],
        )?;
        if added == 0 {
            return Err(StoreError::Conflict(format!("user {name} exists already")));
        }
        Ok(User {
            id: self.conn.last_insert_rowid(),
            name: name.to_string(),
            is_admin,
        })
    }

    /// Replaces a user's password; the user's tokens stay valid until they expire.
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), StoreError> {
        let hash = hash_password(password)?;
        let changed = self.conn.execute(
            "UPDATE users SET password_hash = ?2, failed_logons = 0 WHERE name = ?1",
            params![name, hash],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("user {name}")));
        }
        Ok(())
    }

    /// Sets or clears a user's administrator flag.
    pub fn set_admin(&self, name: &str, is_admin: bool) -> Result<(), StoreError> {
        let changed = self.conn.execute(
            "UPDATE users SET is_admin = ?2 WHERE name = ?1",
            params![name, is_admin],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("user {name}")));
        }
        Ok(())
    }

    /// The user if `password` is theirs; `None` for an unknown user or a wrong password alike.
    pub fn verify_password(&self, name: &str, password: &str) -> Result<Option<User>, StoreError> {
        let row: Option<(i64, String, bool)> = self
            .conn
            .prepare_cached("SELECT id, password_hash, is_admin FROM users WHERE name = ?1")?
            .query_row([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((id, hash, is_admin)) = row else {
            let decoy = decoy_hash();
            if !decoy.is_empty() {
                password_matches(password, decoy)?;
            }
            return Ok(None);
        };
        if password_matches(password, &hash)? {
            self.conn.execute(
                "UPDATE users SET failed_logons = 0 WHERE id = ?1 AND failed_logons <> 0",
                [id],
            )?;
            Ok(Some(User {
                id,
                name: name.to_string(),
                is_admin,
            }))
        } else {
            self.conn.execute(
                "UPDATE users SET failed_logons = failed_logons + 1, last_failed_at = ?2
                 WHERE id = ?1",
                params![id, now_secs()],
            )?;
            Ok(None)
        }
    }

    /// Failed logons since the last successful one (for throttling and the admin listing).
    pub fn failed_logons(&self, name: &str) -> Result<u64, StoreError> {
        self.conn
            .prepare_cached("SELECT failed_logons FROM users WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("user {name}")))
    }

    /// A user by name.
    pub fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, name, is_admin FROM users WHERE name = ?1")?
            .query_row([name], |r| {
                Ok(User {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    is_admin: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// Every user with their grants, sorted by name.
    pub fn list_users(&self) -> Result<Vec<UserInfo>, StoreError> {
        let users: Vec<User> = self
            .conn
            .prepare_cached("SELECT id, name, is_admin FROM users ORDER BY name")?
            .query_map([], |r| {
                Ok(User {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    is_admin: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        users
            .into_iter()
            .map(|user| {
                let grants = self.grants(&user)?;
                Ok(UserInfo { user, grants })
            })
            .collect()
    }

    /// Gives `user` `role` on `customer` (replacing an earlier grant). The customer need not
    /// exist yet, so a sync with `create_missing` can create it.
    pub fn grant(&self, user: &str, customer: &str, role: Role) -> Result<(), StoreError> {
        let customer = id(Field::Customer, customer)?;
        let changed = self.conn.execute(
            "INSERT INTO grants (user_id, customer, role)
             SELECT id, ?2, ?3 FROM users WHERE name = ?1
             ON CONFLICT (user_id, customer) DO UPDATE SET role = excluded.role",
            params![user, customer, role.as_str()],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("user {user}")));
        }
        Ok(())
    }

    /// Removes `user`'s grant on `customer`; returns whether there was one.
    pub fn revoke(&self, user: &str, customer: &str) -> Result<bool, StoreError> {
        let customer = id(Field::Customer, customer)?;
        if self.user(user)?.is_none() {
            return Err(StoreError::NotFound(format!("user {user}")));
        }
        let removed = self.conn.execute(
            "DELETE FROM grants WHERE customer = ?2
             AND user_id = (SELECT id FROM users WHERE name = ?1)",
            params![user, customer],
        )?;
        Ok(removed > 0)
    }

    /// The grants a user holds, sorted by customer (admins hold none explicitly).
    pub fn grants(&self, user: &User) -> Result<Vec<(String, Role)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT customer, role FROM grants WHERE user_id = ?1 ORDER BY customer",
        )?;
        let mut rows = stmt.query([user.id])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let role: String = r.get(1)?;
            let role = role.parse().map_err(StoreError::Corrupt)?;
            out.push((r.get(0)?, role));
        }
        Ok(out)
    }

    /// The role `user` has on `customer`: `Admin` for administrators, else their grant.
    pub fn role_of(&self, user: &User, customer: &str) -> Result<Option<Role>, StoreError> {
        if user.is_admin {
            return Ok(Some(Role::Admin));
        }
        let role: Option<String> = self
            .conn
            .prepare_cached("SELECT role FROM grants WHERE user_id = ?1 AND customer = ?2")?
            .query_row(params![user.id, customer.to_ascii_uppercase()], |r| {
                r.get(0)
            })
            .optional()?;
        role.map(|r| r.parse().map_err(StoreError::Corrupt))
            .transpose()
    }

    /// On first start (no user at all) creates the administrator `admin` with `password`, or
    /// with a generated one that is returned so it can be shown once. Later calls do nothing.
    pub fn ensure_admin(&self, password: Option<&str>) -> Result<Option<String>, StoreError> {
        let users: i64 = self
            .conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
        if users > 0 {
            return Ok(None);
        }
        match password {
            Some(p) => {
                self.add_user("admin", p, true)?;
                Ok(None)
            }
            None => {
                let generated = generate_password();
                self.add_user("admin", &generated, true)?;
                Ok(Some(generated))
            }
        }
    }

    /// Issues a bearer token for `user`, valid for `ttl_secs` seconds.
    pub fn create_token(&self, user: &User, ttl_secs: u64) -> Result<String, StoreError> {
        let token = random_hex(32);
        let now = now_secs();
        // Logons are rare next to requests: a good moment to drop this user's dead tokens.
        self.conn
            .prepare_cached("DELETE FROM tokens WHERE user_id = ?1 AND expires_at <= ?2")?
            .execute(params![user.id, now])?;
        let ttl = i64::try_from(ttl_secs).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached(
                "INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![token_hash(&token), user.id, now, now.saturating_add(ttl)])?;
        Ok(token)
    }

    /// The user a token belongs to, if the token exists and has not expired.
    pub fn user_for_token(&self, token: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT u.id, u.name, u.is_admin FROM tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.hash = ?1 AND t.expires_at > ?2",
            )?
            .query_row(params![token_hash(token), now_secs()], |r| {
                Ok(User {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    is_admin: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// Invalidates one token (logoff); returns whether it existed.
    pub fn revoke_token(&self, token: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM tokens WHERE hash = ?1", [token_hash(token)])?
            > 0)
    }

    /// Removes expired tokens; returns how many.
    pub fn delete_expired_tokens(&self) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM tokens WHERE expires_at <= ?1", [now_secs()])?)
    }
}
