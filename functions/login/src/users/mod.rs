//! The users & sessions store port (DynamoDB `UsersTable`; pk `user#<email>` and
//! `session#<sha256 hex of the token>`), with an in-memory adapter of the same behaviour.

mod dynamo;
mod memory;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use self::dynamo::DynamoUserStore;
pub use self::memory::MemoryUserStore;
pub use shared::store_error::StoreError;

/// A registered user, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id.
    pub id: String,
    /// Normalised email (trimmed, lower-case).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Argon2id PHC string (or bcrypt for users imported from the replaced system, until
    /// their first sign-in).
    pub password_hash: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &shared::telemetry::log_hash(&self.email))
            .field("password_hash", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A session: only the SHA-256 of its token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Hex SHA-256 of the bearer token.
    pub token_sha256: String,
    /// Whose session it is.
    pub user_id: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops being valid (also the DynamoDB TTL attribute).
    pub expires_at: DateTime<Utc>,
}

/// The users & sessions port.
#[async_trait]
pub trait UserStore: Send + Sync + fmt::Debug {
    /// The user with this (normalised) email; `Ok(None)` only when there is none.
    async fn find_user(&self, email: &str) -> Result<Option<User>, StoreError>;

    /// Registers a user; `Conflict` if the email is taken.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;

    /// Replaces the user's password hash with `new_hash` only if it is still `old_hash`
    /// (a conditional write: of concurrent rehashes exactly one wins). `Ok(false)` when the
    /// hash had already changed or the user is gone.
    async fn replace_password_hash(
        &self,
        email: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError>;

    /// Stores a new session; `Conflict` if the hash already exists.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;

    /// A live session by token hash (an expired one is `None` even if not yet deleted).
    async fn find_session(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError>;
}

/// Partition key of a user item.
pub fn user_pk(email: &str) -> String {
    format!("user#{email}")
}

/// Partition key of a session item.
pub fn session_pk(token_sha256: &str) -> String {
    format!("session#{token_sha256}")
}
