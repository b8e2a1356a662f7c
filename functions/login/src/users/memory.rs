//! Users and sessions in maps, with the same conflict and expiry rules as DynamoDB.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Session, StoreError, User, UserStore};

/// In-memory users and sessions.
#[derive(Debug, Default)]
pub struct MemoryUserStore {
    users: Mutex<HashMap<String, User>>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl MemoryUserStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored sessions (expired ones included).
    pub fn session_count(&self) -> usize {
        self.sessions.lock().map(|s| s.len()).unwrap_or_default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn find_user(&self, email: &str) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.users).get(email).cloned())
    }

    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut users = lock(&self.users);
        if users.contains_key(&user.email) {
            return Err(StoreError::Conflict("user exists".into()));
        }
        users.insert(user.email.clone(), user.clone());
        Ok(())
    }

    async fn replace_password_hash(
        &self,
        email: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        let mut users = lock(&self.users);
        match users.get_mut(email) {
            Some(user) if user.password_hash == old_hash => {
                new_hash.clone_into(&mut user.password_hash);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut sessions = lock(&self.sessions);
        if sessions.contains_key(&session.token_sha256) {
            return Err(StoreError::Conflict("session exists".into()));
        }
        sessions.insert(session.token_sha256.clone(), session.clone());
        Ok(())
    }

    async fn find_session(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        Ok(lock(&self.sessions)
            .get(token_sha256)
            .filter(|s| s.expires_at > now)
            .cloned())
    }
}
