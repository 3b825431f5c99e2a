//! Users of the inventory server, their grants on customers, logons and API tokens.
//!
//! Passwords and tokens: `passwords.rs`; the logon throttle's policy: `throttle.rs`.

use crate::clock::{now_millis, now_secs, now_text};
use crate::error::StoreError;
use crate::passwords::{generate_password, hash_password, random_hex, token_hash, Credentials};
use crate::throttle::{count_attempt, take_back, Admission, LogonAttempt, ThrottlePolicy};
use crate::validate::{check_user_name, id};
use crate::Store;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;
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
    /// A disabled user cannot log on and holds no token (`admin user disable`).
    #[serde(default)]
    pub disabled: bool,
}

fn role(text: String) -> Result<Role, StoreError> {
    text.parse().map_err(StoreError::Corrupt)
}

impl Store {
    /// Adds a user with an argon2-hashed password. It is a conflict if the name is taken.
    pub fn add_user(&self, name: &str, password: &str, is_admin: bool) -> Result<User, StoreError> {
        check_user_name(name)?;
        let hash = hash_password(password)?;
        match self
            .backend
            .insert_user(name, &hash, is_admin, &now_text())?
        {
            Some(id) => Ok(User {
                id,
                name: name.to_string(),
                is_admin,
            }),
            None => Err(StoreError::Conflict(format!("user {name} exists already"))),
        }
    }

    /// Replaces a user's password and ends every token the user holds. Tokens are checked
    /// in the store on every request, so this takes effect at once on every server node.
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), StoreError> {
        let hash = hash_password(password)?;
        if !self.backend.set_password_hash(name, &hash)? {
            return Err(StoreError::NotFound(format!("user {name}")));
        }
        Ok(())
    }

    /// Sets or clears a user's administrator flag.
    pub fn set_admin(&self, name: &str, is_admin: bool) -> Result<(), StoreError> {
        if !self.backend.set_admin(name, is_admin)? {
            return Err(StoreError::NotFound(format!("user {name}")));
        }
        Ok(())
    }

    /// Disables a user (no logon; its tokens end at once, on every node) or enables it again.
    /// The last administrator that is not disabled cannot be disabled: the store would have
    /// nobody left to manage it through the server.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> Result<(), StoreError> {
        if disabled {
            self.refuse_last_admin(name, "disable")?;
        }
        if !self.backend.set_disabled(name, disabled)? {
            return Err(StoreError::NotFound(format!("user {name}")));
        }
        Ok(())
    }

    /// Deletes a user with its grants and tokens. Sessions and the audit trail keep the
    /// name as they recorded it. The last administrator that is not disabled cannot be
    /// deleted.
    pub fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        self.refuse_last_admin(name, "delete")?;
        if !self.backend.delete_user(name)? {
            return Err(StoreError::NotFound(format!("user {name}")));
        }
        Ok(())
    }

    fn refuse_last_admin(&self, name: &str, verb: &str) -> Result<(), StoreError> {
        let Some(user) = self.user(name)? else {
            return Err(StoreError::NotFound(format!("user {name}")));
        };
        if user.is_admin && self.backend.count_active_admins()? <= 1 {
            return Err(StoreError::Conflict(format!(
                "{name} is the last administrator; add another before you {verb} it"
            )));
        }
        Ok(())
    }

    /// Ends every token of a user at once (on every node); returns how many there were.
    pub fn revoke_tokens(&self, name: &str) -> Result<usize, StoreError> {
        if self.user(name)?.is_none() {
            return Err(StoreError::NotFound(format!("user {name}")));
        }
        self.backend.delete_user_tokens(name)
    }

    /// What a password of `name` is checked against: one read, the same for a user that
    /// exists and one that does not (then a decoy hash). Check it with
    /// [`Credentials::verify`], outside any store connection: it is deliberately slow.
    pub fn credentials(&self, name: &str) -> Result<Credentials, StoreError> {
        Ok(Credentials::new(self.backend.credentials(name)?))
    }

    /// The user if `password` is theirs; `None` for an unknown user or a wrong password alike.
    /// No throttling: the server's logon counts attempts with [`Store::begin_logon`] first.
    pub fn verify_password(&self, name: &str, password: &str) -> Result<Option<User>, StoreError> {
        self.credentials(name)?.verify(password)
    }

    /// Counts a logon attempt of `user` from `address` before its password is checked, or
    /// refuses it while the pair or the address is locked (see `throttle.rs`). Atomic across
    /// every connection to the store, so parallel guesses and several server nodes share
    /// one count.
    pub fn begin_logon(
        &self,
        user: &str,
        address: Option<IpAddr>,
        policy: &ThrottlePolicy,
    ) -> Result<Admission, StoreError> {
        self.begin_logon_at(user, address, policy, now_millis())
    }

    pub(crate) fn begin_logon_at(
        &self,
        user: &str,
        address: Option<IpAddr>,
        policy: &ThrottlePolicy,
        now: i64,
    ) -> Result<Admission, StoreError> {
        let attempt = LogonAttempt::new(user, address);
        let mut refused = None;
        self.backend.update_throttle(&attempt.keys, &mut |states| {
            let (wait, counted) = count_attempt(policy, states, now);
            refused = wait;
            counted.map(|c| c.into_iter().map(Some).collect())
        })?;
        Ok(match refused {
            Some(retry_after) => Admission::Refused { retry_after },
            None => Admission::Admitted(attempt),
        })
    }

    /// Ends an admitted attempt: a right password takes the attempt back (see `throttle.rs`)
    /// and forgets counters idle for longer than the policy's `forget_after`; a wrong one
    /// stays counted and writes nothing more.
    pub fn finish_logon(
        &self,
        attempt: &LogonAttempt,
        succeeded: bool,
        policy: &ThrottlePolicy,
    ) -> Result<(), StoreError> {
        if !succeeded {
            return Ok(());
        }
        self.backend
            .update_throttle(&attempt.keys, &mut |states| Some(take_back(states)))?;
        let forget = i64::try_from(policy.forget_after.as_millis()).unwrap_or(i64::MAX);
        self.backend
            .prune_throttle(now_millis().saturating_sub(forget))?;
        Ok(())
    }

    /// How long logons of `user` from `address` are refused from now (`None`: not locked).
    pub fn logon_lock(
        &self,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<Option<Duration>, StoreError> {
        let attempt = LogonAttempt::new(user, address);
        let now = now_millis();
        let mut wait = None;
        self.backend.update_throttle(&attempt.keys, &mut |states| {
            wait = states
                .iter()
                .flatten()
                .map(|s| s.locked_until - now)
                .filter(|w| *w > 0)
                .max()
                .map(|w| Duration::from_millis(u64::try_from(w).unwrap_or(0)));
            None
        })?;
        Ok(wait)
    }

    /// A user by name.
    pub fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        self.backend.user(name)
    }

    /// Every user with their grants, sorted by name.
    pub fn list_users(&self) -> Result<Vec<UserInfo>, StoreError> {
        self.backend
            .list_users()?
            .into_iter()
            .map(|(user, disabled)| {
                let grants = self.grants(&user)?;
                Ok(UserInfo {
                    user,
                    grants,
                    disabled,
                })
            })
            .collect()
    }

    /// Gives `user` `role` on `customer` (replacing an earlier grant). The customer need not
    /// exist yet, so a sync with `create_missing` can create it.
    pub fn grant(&self, user: &str, customer: &str, role: Role) -> Result<(), StoreError> {
        let customer = id(Field::Customer, customer)?;
        if !self.backend.grant(user, &customer, role.as_str())? {
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
        self.backend.revoke(user, &customer)
    }

    /// The grants a user holds, sorted by customer (admins hold none explicitly).
    pub fn grants(&self, user: &User) -> Result<Vec<(String, Role)>, StoreError> {
        self.backend
            .grants(user.id)?
            .into_iter()
            .map(|(customer, r)| Ok((customer, role(r)?)))
            .collect()
    }

    /// The role `user` has on `customer`: `Admin` for administrators, else their grant.
    pub fn role_of(&self, user: &User, customer: &str) -> Result<Option<Role>, StoreError> {
        if user.is_admin {
            return Ok(Some(Role::Admin));
        }
        self.backend
            .role_of(user.id, &customer.to_ascii_uppercase())?
            .map(role)
            .transpose()
    }

    /// On first start (no user at all) creates the administrator `admin` with `password`, or
    /// with a generated one that is returned so it can be shown once. Later calls do nothing.
    /// Two server nodes starting at once on one database create it once: the second one's
    /// insert finds the name taken and creates nobody.
    pub fn ensure_admin(&self, password: Option<&str>) -> Result<Option<String>, StoreError> {
        if self.backend.count_users()? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) => (p.to_string(), None),
            None => {
                let g = generate_password();
                (g.clone(), Some(g))
            }
        };
        match self.add_user("admin", &password, true) {
            Ok(_) => Ok(generated),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Issues a bearer token for `user`, valid for `ttl_secs` seconds.
    pub fn create_token(&self, user: &User, ttl_secs: u64) -> Result<String, StoreError> {
        let token = random_hex(32);
        let now = now_secs();
        let ttl = i64::try_from(ttl_secs).unwrap_or(i64::MAX);
        self.backend
            .insert_token(&token_hash(&token), user.id, now, now.saturating_add(ttl))?;
        Ok(token)
    }

    /// The user a token belongs to, if the token exists and has not expired.
    pub fn user_for_token(&self, token: &str) -> Result<Option<User>, StoreError> {
        self.backend.user_for_token(&token_hash(token), now_secs())
    }

    /// Invalidates one token (logoff); returns whether it existed.
    pub fn revoke_token(&self, token: &str) -> Result<bool, StoreError> {
        self.backend.delete_token(&token_hash(token))
    }

    /// Removes expired tokens; returns how many.
    pub fn delete_expired_tokens(&self) -> Result<usize, StoreError> {
        self.backend.delete_expired_tokens(now_secs())
    }
}
