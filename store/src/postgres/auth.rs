//! Users, grants, tokens and the logon throttle on PostgreSQL.

use super::PgStore;
use crate::backend::{ThrottleUpdate, UserSql};
use crate::error::StoreError;
use crate::throttle::ThrottleState;
use crate::User;
use postgres::Row;

fn user_from(r: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        is_admin: r.try_get(2)?,
    })
}

fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl UserSql for PgStore {
    fn insert_user(
        &self,
        name: &str,
        password_hash: &str,
        is_admin: bool,
        now: &str,
    ) -> Result<Option<i64>, StoreError> {
        self.with(|c| {
            Ok(c.client
                .query_opt(
                    "INSERT INTO users (name, password_hash, is_admin, created_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id",
                    &[&name, &password_hash, &is_admin, &now],
                )?
                .map(|r| r.get(0)))
        })
    }

    fn count_users(&self) -> Result<i64, StoreError> {
        self.with(|c| {
            Ok(c.client
                .query_one("SELECT count(*) FROM users", &[])?
                .get(0))
        })
    }

    fn set_password_hash(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        // One statement, so one transaction: the new hash and the end of the old tokens.
        self.with(|c| {
            Ok(c.client
                .query_one(
                    "WITH changed AS (
                         UPDATE users SET password_hash = $2 WHERE name = $1 RETURNING id
                     ), ended AS (
                         DELETE FROM tokens WHERE user_id IN (SELECT id FROM changed)
                     )
                     SELECT count(*) FROM changed",
                    &[&name, &password_hash],
                )?
                .get::<_, i64>(0)
                > 0)
        })
    }

    fn set_disabled(&self, name: &str, disabled: bool) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.client
                .query_one(
                    "WITH changed AS (
                         UPDATE users SET disabled = $2 WHERE name = $1 RETURNING id
                     ), ended AS (
                         DELETE FROM tokens WHERE $2 AND user_id IN (SELECT id FROM changed)
                     )
                     SELECT count(*) FROM changed",
                    &[&name, &disabled],
                )?
                .get::<_, i64>(0)
                > 0)
        })
    }

    fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        // Grants and tokens go with it (ON DELETE CASCADE); sessions and the audit trail
        // name users as text and keep the name.
        self.with(|c| {
            Ok(c.client
                .execute("DELETE FROM users WHERE name = $1", &[&name])?
                > 0)
        })
    }

    fn count_active_admins(&self) -> Result<i64, StoreError> {
        self.with(|c| {
            Ok(c.client
                .query_one(
                    "SELECT count(*) FROM users WHERE is_admin AND NOT disabled",
                    &[],
                )?
                .get(0))
        })
    }

    fn set_admin(&self, name: &str, is_admin: bool) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.client.execute(
                "UPDATE users SET is_admin = $2 WHERE name = $1",
                &[&name, &is_admin],
            )? > 0)
        })
    }

    fn credentials(&self, name: &str) -> Result<Option<(User, String)>, StoreError> {
        self.with(|c| {
            let statement = PgStore::statement(
                c,
                "SELECT id, name, is_admin, password_hash FROM users WHERE name = $1 AND NOT disabled",
            )?;
            c.client
                .query_opt(&statement, &[&name])?
                .map(|r| Ok((user_from(&r)?, r.try_get(3)?)))
                .transpose()
        })
    }

    fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        self.with(|c| {
            c.client
                .query_opt(
                    "SELECT id, name, is_admin FROM users WHERE name = $1",
                    &[&name],
                )?
                .map(|r| user_from(&r))
                .transpose()
        })
    }

    fn list_users(&self) -> Result<Vec<(User, bool)>, StoreError> {
        self.with(|c| {
            c.client
                .query(
                    "SELECT id, name, is_admin, disabled FROM users ORDER BY name",
                    &[],
                )?
                .iter()
                .map(|r| Ok((user_from(r)?, r.try_get(3)?)))
                .collect()
        })
    }

    fn grant(&self, user: &str, customer: &str, role: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.client.execute(
                "INSERT INTO grants (user_id, customer, role)
                 SELECT id, $2, $3 FROM users WHERE name = $1
                 ON CONFLICT (user_id, customer) DO UPDATE SET role = excluded.role",
                &[&user, &customer, &role],
            )? > 0)
        })
    }

    fn revoke(&self, user: &str, customer: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.client.execute(
                "DELETE FROM grants WHERE customer = $2
                 AND user_id = (SELECT id FROM users WHERE name = $1)",
                &[&user, &customer],
            )? > 0)
        })
    }

    fn grants(&self, user_id: i64) -> Result<Vec<(String, String)>, StoreError> {
        self.with(|c| {
            Ok(c.client
                .query(
                    "SELECT customer, role FROM grants WHERE user_id = $1 ORDER BY customer",
                    &[&user_id],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn role_of(&self, user_id: i64, customer: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            let statement = PgStore::statement(
                c,
                "SELECT role FROM grants WHERE user_id = $1 AND customer = $2",
            )?;
            Ok(c.client
                .query_opt(&statement, &[&user_id, &customer])?
                .map(|r| r.get(0)))
        })
    }

    fn insert_token(
        &self,
        hash: &str,
        user_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let mut tx = c.client.transaction()?;
            // Logons are rare next to requests: a good moment to drop this user's dead tokens.
            tx.execute(
                "DELETE FROM tokens WHERE user_id = $1 AND expires_at <= $2",
                &[&user_id, &now],
            )?;
            tx.execute(
                "INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[&hash, &user_id, &now, &expires_at],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn user_for_token(&self, hash: &str, now: i64) -> Result<Option<User>, StoreError> {
        self.with(|c| {
            let statement = PgStore::statement(
                c,
                "SELECT u.id, u.name, u.is_admin FROM tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.hash = $1 AND t.expires_at > $2 AND NOT u.disabled",
            )?;
            c.client
                .query_opt(&statement, &[&hash, &now])?
                .map(|r| user_from(&r))
                .transpose()
        })
    }

    fn delete_token(&self, hash: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.client
                .execute("DELETE FROM tokens WHERE hash = $1", &[&hash])?
                > 0)
        })
    }

    fn delete_user_tokens(&self, name: &str) -> Result<usize, StoreError> {
        self.with(|c| {
            Ok(count(c.client.execute(
                "DELETE FROM tokens WHERE user_id = (SELECT id FROM users WHERE name = $1)",
                &[&name],
            )?))
        })
    }

    fn delete_expired_tokens(&self, now: i64) -> Result<usize, StoreError> {
        self.with(|c| {
            Ok(count(c.client.execute(
                "DELETE FROM tokens WHERE expires_at <= $1",
                &[&now],
            )?))
        })
    }

    /// The rows are created if missing and then locked (`FOR UPDATE`, in key order, so two
    /// updaters cannot deadlock): any other node's update of these keys waits for this one.
    fn update_throttle(
        &self,
        keys: &[String],
        update: &mut ThrottleUpdate<'_>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let mut tx = c.client.transaction()?;
            let mut sorted: Vec<&String> = keys.iter().collect();
            sorted.sort();
            tx.execute(
                "INSERT INTO logon_throttle (key, failures, locked_until, last_at)
                 SELECT k, 0, 0, 0 FROM unnest($1::text[]) AS k ORDER BY k
                 ON CONFLICT DO NOTHING",
                &[&sorted],
            )?;
            let rows = tx.query(
                "SELECT key, failures, locked_until, last_at FROM logon_throttle
                 WHERE key = ANY($1) ORDER BY key FOR UPDATE",
                &[&sorted],
            )?;
            let mut states = vec![None; keys.len()];
            for r in rows {
                let key: &str = r.try_get(0)?;
                let failures: i32 = r.try_get(1)?;
                let state = ThrottleState {
                    failures: u32::try_from(failures).unwrap_or(0),
                    locked_until: r.try_get(2)?,
                    last_at: r.try_get(3)?,
                };
                // A row made just now to be locked is no counter yet.
                let fresh = state.failures == 0 && state.last_at == 0;
                if let Some(i) = keys.iter().position(|k| k == key) {
                    states[i] = (!fresh).then_some(state);
                }
            }
            let new = update(&states);
            for (key, state) in keys.iter().zip(new.unwrap_or_else(|| states.clone())) {
                match state {
                    Some(s) => {
                        let failures = i32::try_from(s.failures).unwrap_or(i32::MAX);
                        tx.execute(
                            "UPDATE logon_throttle SET failures = $2, locked_until = $3,
                             last_at = $4 WHERE key = $1",
                            &[key, &failures, &s.locked_until, &s.last_at],
                        )?;
                    }
                    None => {
                        tx.execute("DELETE FROM logon_throttle WHERE key = $1", &[key])?;
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn prune_throttle(&self, before: i64) -> Result<usize, StoreError> {
        self.with(|c| {
            Ok(count(c.client.execute(
                "DELETE FROM logon_throttle WHERE last_at < $1",
                &[&before],
            )?))
        })
    }
}
