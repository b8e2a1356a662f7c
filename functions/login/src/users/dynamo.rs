//! Users and sessions in DynamoDB (`UsersTable`, pk only; TTL attribute `expires_at` on
//! sessions). Creates are conditional; expiry is checked on read (TTL deletion lags).

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use chrono::{DateTime, Utc};
use shared::aws::store_error;
use shared::dynamo_item::{Item, get_millis, get_s, get_secs, n, s};
use shared::timeout::{Budget, within};

use super::{Session, StoreError, User, UserStore, session_pk, user_pk};

const DEP: &str = "dynamodb";

/// Users and sessions in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoUserStore {
    client: Client,
    table: String,
    budget: Budget,
}

impl DynamoUserStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            budget: Budget::DYNAMODB,
        }
    }

    async fn get(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let get = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true);
        let out = within(self.budget, get.send())
            .await?
            .map_err(|e| store_error(DEP, e))?;
        Ok(out.item().cloned())
    }

    async fn put_new(&self, item: Item, what: &str) -> Result<(), StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)");
        match within(self.budget, put.send()).await? {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(StoreError::Conflict(format!("{what} exists")))
            }
            Err(e) => Err(store_error(DEP, e)),
        }
    }
}

fn user_from(item: &Item) -> Result<User, StoreError> {
    Ok(User {
        id: get_s(item, "id")?,
        email: get_s(item, "email")?,
        name: get_s(item, "name")?,
        password_hash: get_s(item, "password_hash")?,
        created_at: get_millis(item, "created_at")?,
    })
}

fn session_from(item: &Item) -> Result<Session, StoreError> {
    Ok(Session {
        token_sha256: get_s(item, "token_sha256")?,
        user_id: get_s(item, "user_id")?,
        created_at: get_millis(item, "created_at")?,
        expires_at: get_secs(item, "expires_at")?,
    })
}

#[async_trait]
impl UserStore for DynamoUserStore {
    async fn find_user(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.get(user_pk(email))
            .await?
            .as_ref()
            .map(user_from)
            .transpose()
    }

    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".to_owned(), s(user_pk(&user.email))),
            ("id".to_owned(), s(&user.id)),
            ("email".to_owned(), s(&user.email)),
            ("name".to_owned(), s(&user.name)),
            ("password_hash".to_owned(), s(&user.password_hash)),
            (
                "created_at".to_owned(),
                n(user.created_at.timestamp_millis()),
            ),
        ]);
        self.put_new(item, "user").await
    }

    async fn replace_password_hash(
        &self,
        email: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(email)))
            .update_expression("SET #h = :new")
            .condition_expression("attribute_exists(pk) AND #h = :old")
            .expression_attribute_names("#h", "password_hash")
            .expression_attribute_values(":new", s(new_hash))
            .expression_attribute_values(":old", s(old_hash));
        match within(self.budget, update.send()).await? {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(store_error(DEP, e)),
        }
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".to_owned(), s(session_pk(&session.token_sha256))),
            ("token_sha256".to_owned(), s(&session.token_sha256)),
            ("user_id".to_owned(), s(&session.user_id)),
            (
                "created_at".to_owned(),
                n(session.created_at.timestamp_millis()),
            ),
            ("expires_at".to_owned(), n(session.expires_at.timestamp())),
        ]);
        self.put_new(item, "session").await
    }

    async fn find_session(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let Some(item) = self.get(session_pk(token_sha256)).await? else {
            return Ok(None);
        };
        let session = session_from(&item)?;
        Ok((session.expires_at > now).then_some(session))
    }
}
