//! Users, grants, tokens and the logon throttle on SQLite.

use super::SqliteStore;
use crate::backend::{ThrottleUpdate, UserSql};
use crate::error::StoreError;
use crate::throttle::ThrottleState;
use crate::User;
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

fn user_from(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        is_admin: r.get(2)?,
    })
}

impl UserSql for SqliteStore {
    fn insert_user(
        &self,
        name: &str,
        password_hash: &str,
        is_admin: bool,
        now: &str,
    ) -> Result<Option<i64>, StoreError> {
        let added = self.conn.execute(
            "INSERT INTO users (name, password_hash, is_admin, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![name, password_hash, is_admin, now],
        )?;
        Ok((added > 0).then(|| self.conn.last_insert_rowid()))
    }

    fn count_users(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))?)
    }

    fn set_password_hash(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let changed = tx.execute(
            "UPDATE users SET password_hash = ?2 WHERE name = ?1",
            params![name, password_hash],
        )? > 0;
        tx.execute(
            "DELETE FROM tokens WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
            [name],
        )?;
        tx.commit()?;
        Ok(changed)
    }

    fn set_disabled(&self, name: &str, disabled: bool) -> Result<bool, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let changed = tx.execute(
            "UPDATE users SET disabled = ?2 WHERE name = ?1",
            params![name, disabled],
        )? > 0;
        if disabled {
            tx.execute(
                "DELETE FROM tokens WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
                [name],
            )?;
        }
        tx.commit()?;
        Ok(changed)
    }

    fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        // Grants and tokens go with it (ON DELETE CASCADE); sessions and the audit trail
        // name users as text and keep the name.
        Ok(self
            .conn
            .execute("DELETE FROM users WHERE name = ?1", [name])?
            > 0)
    }

    fn count_active_admins(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM users WHERE is_admin = 1 AND disabled = 0",
            [],
            |r| r.get(0),
        )?)
    }

    fn set_admin(&self, name: &str, is_admin: bool) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE users SET is_admin = ?2 WHERE name = ?1",
            params![name, is_admin],
        )? > 0)
    }

    fn credentials(&self, name: &str) -> Result<Option<(User, String)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, name, is_admin, password_hash FROM users WHERE name = ?1 AND disabled = 0")?
            .query_row([name], |r| Ok((user_from(r)?, r.get(3)?)))
            .optional()?)
    }

    fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, name, is_admin FROM users WHERE name = ?1")?
            .query_row([name], user_from)
            .optional()?)
    }

    fn list_users(&self) -> Result<Vec<(User, bool)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, name, is_admin, disabled FROM users ORDER BY name")?
            .query_map([], |r| Ok((user_from(r)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?)
    }

    fn grant(&self, user: &str, customer: &str, role: &str) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "INSERT INTO grants (user_id, customer, role)
             SELECT id, ?2, ?3 FROM users WHERE name = ?1
             ON CONFLICT (user_id, customer) DO UPDATE SET role = excluded.role",
            params![user, customer, role],
        )? > 0)
    }

    fn revoke(&self, user: &str, customer: &str) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM grants WHERE customer = ?2
             AND user_id = (SELECT id FROM users WHERE name = ?1)",
            params![user, customer],
        )? > 0)
    }

    fn grants(&self, user_id: i64) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT customer, role FROM grants WHERE user_id = ?1 ORDER BY customer",
            )?
            .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?)
    }

    fn role_of(&self, user_id: i64, customer: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT role FROM grants WHERE user_id = ?1 AND customer = ?2")?
            .query_row(params![user_id, customer], |r| r.get(0))
            .optional()?)
    }

    fn insert_token(
        &self,
        hash: &str,
        user_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        // Logons are rare next to requests: a good moment to drop this user's dead tokens.
        self.conn
            .prepare_cached("DELETE FROM tokens WHERE user_id = ?1 AND expires_at <= ?2")?
            .execute(params![user_id, now])?;
        self.conn
            .prepare_cached(
                "INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![hash, user_id, now, expires_at])?;
        Ok(())
    }

    fn user_for_token(&self, hash: &str, now: i64) -> Result<Option<User>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT u.id, u.name, u.is_admin FROM tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.hash = ?1 AND t.expires_at > ?2 AND u.disabled = 0",
            )?
            .query_row(params![hash, now], user_from)
            .optional()?)
    }

    fn delete_token(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM tokens WHERE hash = ?1", [hash])?
            > 0)
    }

    fn delete_user_tokens(&self, name: &str) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM tokens WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
            [name],
        )?)
    }

    fn delete_expired_tokens(&self, now: i64) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM tokens WHERE expires_at <= ?1", [now])?)
    }

    /// IMMEDIATE takes SQLite's one write lock first: no other connection (of this process or
    /// another) can read-modify-write a counter in between.
    fn update_throttle(
        &self,
        keys: &[String],
        update: &mut ThrottleUpdate<'_>,
    ) -> Result<(), StoreError> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let mut states = Vec::with_capacity(keys.len());
        {
            let mut read = tx.prepare_cached(
                "SELECT failures, locked_until, last_at FROM logon_throttle WHERE key = ?1",
            )?;
            for key in keys {
                states.push(
                    read.query_row([key], |r| {
                        Ok(ThrottleState {
                            failures: r.get(0)?,
                            locked_until: r.get(1)?,
                            last_at: r.get(2)?,
                        })
                    })
                    .optional()?,
                );
            }
        }
        let Some(new) = update(&states) else {
            return Ok(());
        };
        for (key, state) in keys.iter().zip(new) {
            match state {
                Some(s) => {
                    tx.prepare_cached(
                        "INSERT INTO logon_throttle (key, failures, locked_until, last_at)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
                         locked_until = excluded.locked_until, last_at = excluded.last_at",
                    )?
                    .execute(params![
                        key,
                        s.failures,
                        s.locked_until,
                        s.last_at
                    ])?;
                }
                None => {
                    tx.prepare_cached("DELETE FROM logon_throttle WHERE key = ?1")?
                        .execute([key])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn prune_throttle(&self, before: i64) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM logon_throttle WHERE last_at < ?1", [before])?)
    }
}
