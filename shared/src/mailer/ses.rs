//! Mailer on Amazon SES v2.

use async_trait::async_trait;
use std::time::Duration;

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::config::timeout::TimeoutConfig;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use super::{Mailer, OutgoingEmail, SendError, SendFailure, SentEmail};
use crate::error::ErrorClass;
use crate::timeout::{Budget, within};

/// How long opening a connection to SES may take. It is the only timeout the SDK client
/// enforces itself, so an SDK timeout always means "never connected, nothing sent".
pub const SES_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends through SES v2 `SendEmail`.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    budget: Budget,
}

impl SesMailer {
    /// A mailer on `client` (its retry and timeout settings are the caller's).
    pub fn new(client: Client) -> Self {
        Self {
            client,
            budget: Budget::SES,
        }
    }

    /// A mailer from the shared AWS config with the SDK's retries off (a resend inside one
    /// attempt could repeat an email SES already accepted: every retry of a send is ours,
    /// through the email queue) and [`SES_CONNECT_TIMEOUT`] as the SDK's only timeout (the
    /// whole call is bounded by [`Budget::SES`]).
    pub fn from_aws(aws: &aws_config::SdkConfig) -> Self {
        let config = aws_sdk_sesv2::config::Builder::from(aws)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(SES_CONNECT_TIMEOUT)
                    .build(),
            )
            .build();
        Self::new(Client::from_conf(config))
    }

    /// Overrides the per-send time budget.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }
}

fn content(data: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::new(SendFailure::Permanent, format!("build: {e}")))
}

/// Classifies an SES `SendEmail` failure from its typed variant and error kind.
pub fn classify_send_error(err: &SdkError<SendEmailError, HttpResponse>) -> SendFailure {
    match err {
        SdkError::ServiceError(ctx) => match ctx.err() {
            SendEmailError::MessageRejected(_)
            | SendEmailError::MailFromDomainNotVerifiedException(_)
            | SendEmailError::BadRequestException(_)
            | SendEmailError::NotFoundException(_) => SendFailure::Permanent,
            SendEmailError::AccountSuspendedException(_)
            | SendEmailError::SendingPausedException(_) => SendFailure::AccountPaused,
            SendEmailError::TooManyRequestsException(_)
            | SendEmailError::LimitExceededException(_) => SendFailure::Retryable,
            other => {
                match crate::aws::classify_service(other.code(), ctx.raw().status().as_u16()) {
                    ErrorClass::Permanent | ErrorClass::Validation => SendFailure::Permanent,
                    _ => SendFailure::Retryable,
                }
            }
        },
        // The request may have been received: we cannot know whether SES sent it.
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => SendFailure::Ambiguous,
        // The connect timeout is the only timeout the client enforces (`from_aws`): no
        // connection, nothing sent. Connection refused and other dispatch errors likewise.
        SdkError::DispatchFailure(_) => SendFailure::Retryable,
        SdkError::ConstructionFailure(_) => SendFailure::Permanent,
        _ => SendFailure::Retryable,
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<SentEmail, SendError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(
                Body::builder()
                    .text(content(&email.text)?)
                    .html(content(&email.html)?)
                    .build(),
            )
            .build();
        let request = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build());
        match within(self.budget, request.send()).await {
            Err(timed_out) => Err(SendError::new(
                SendFailure::Ambiguous,
                timed_out.to_string(),
            )),
            Ok(Ok(out)) => Ok(SentEmail {
                message_id: out.message_id().unwrap_or_default().to_owned(),
            }),
            Ok(Err(err)) => {
                let kind = classify_send_error(&err);
                let code = err
                    .as_service_error()
                    .and_then(|e| e.code())
                    .unwrap_or("no-code");
                Err(SendError::new(kind, code.to_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::types::error::{
        AccountSuspendedException, MessageRejected, SendingPausedException,
        TooManyRequestsException,
    };
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    fn service(err: SendEmailError, status: u16) -> SdkError<SendEmailError, HttpResponse> {
        let raw = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    #[test]
    fn ses_errors_are_classified_from_typed_variants() {
        let cases = [
            (
                SendEmailError::MessageRejected(MessageRejected::builder().build()),
                400,
                SendFailure::Permanent,
            ),
            (
                SendEmailError::TooManyRequestsException(
                    TooManyRequestsException::builder().build(),
                ),
                429,
                SendFailure::Retryable,
            ),
            (
                SendEmailError::SendingPausedException(SendingPausedException::builder().build()),
                400,
                SendFailure::AccountPaused,
            ),
            (
                SendEmailError::AccountSuspendedException(
                    AccountSuspendedException::builder().build(),
                ),
                400,
                SendFailure::AccountPaused,
            ),
        ];
        for (err, status, expected) in cases {
            assert_eq!(classify_send_error(&service(err, status)), expected);
        }
        let unhandled = SendEmailError::generic(
            aws_sdk_sesv2::error::ErrorMetadata::builder()
                .code("InternalFailure")
                .build(),
        );
        assert_eq!(
            classify_send_error(&service(unhandled, 500)),
            SendFailure::Retryable
        );
        let timeout: SdkError<SendEmailError, HttpResponse> = SdkError::timeout_error("slow");
        assert_eq!(classify_send_error(&timeout), SendFailure::Ambiguous);
        let connect: SdkError<SendEmailError, HttpResponse> = SdkError::dispatch_failure(
            aws_smithy_runtime_api::client::result::ConnectorError::timeout("connect".into()),
        );
        assert_eq!(
            classify_send_error(&connect),
            SendFailure::Retryable,
            "a connect timeout sent nothing"
        );
    }
}
