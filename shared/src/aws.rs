//! AWS SDK plumbing: one shared config per cold start, and error classification.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::error::ErrorClass;
use crate::store_error::StoreError;

/// Loads the SDK configuration once (region, credentials, and `AWS_ENDPOINT_URL` for moto).
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// AWS error codes that mean "slow down / try again" (the SDK's standard retry set).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// AWS error codes for transient server-side faults.
const TRANSIENT_CODES: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
];

/// Classifies an SDK error from its typed parts: the error kind (timeout, dispatch, response,
/// service), the HTTP status and the structured AWS error code; never from message text.
pub fn classify<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> ErrorClass {
    match err {
        SdkError::ConstructionFailure(_) => ErrorClass::Config,
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => ErrorClass::Transient,
        SdkError::DispatchFailure(d) if d.is_timeout() => ErrorClass::Transient,
        SdkError::DispatchFailure(d) if d.is_user() => ErrorClass::Config,
        SdkError::DispatchFailure(_) => ErrorClass::DependencyDown,
        SdkError::ServiceError(ctx) => {
            classify_service(ctx.err().code(), ctx.raw().status().as_u16())
        }
        _ => ErrorClass::Transient,
    }
}

/// Classifies a service error from its AWS error code and HTTP status.
pub fn classify_service(code: Option<&str>, status: u16) -> ErrorClass {
    match code {
        Some(c) if THROTTLING_CODES.contains(&c) || TRANSIENT_CODES.contains(&c) => {
            ErrorClass::Transient
        }
        Some(
            "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ResourceNotFoundException"
            | "AWS.SimpleQueueService.NonExistentQueue"
            | "QueueDoesNotExist",
        ) => ErrorClass::Config,
        _ => ErrorClass::from_http_status(status),
    }
}

/// Wraps an SDK error as a [`StoreError`] with its class.
pub fn store_error<E>(dependency: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let class = classify(&err);
    StoreError::backend(dependency, class, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_codes_and_statuses_are_classified() {
        assert_eq!(
            classify_service(Some("ProvisionedThroughputExceededException"), 400),
            ErrorClass::Transient
        );
        assert_eq!(
            classify_service(Some("ThrottlingException"), 400),
            ErrorClass::Transient
        );
        assert_eq!(
            classify_service(Some("ResourceNotFoundException"), 400),
            ErrorClass::Config
        );
        assert_eq!(
            classify_service(Some("ValidationException"), 400),
            ErrorClass::Permanent
        );
        assert_eq!(classify_service(None, 500), ErrorClass::Transient);
        assert_eq!(classify_service(None, 503), ErrorClass::Transient);
    }

    #[test]
    fn sdk_timeouts_and_dispatch_failures_are_classified() {
        use aws_sdk_dynamodb::error::ConnectorError;
        use aws_sdk_dynamodb::operation::get_item::GetItemError;
        let timeout: SdkError<GetItemError, HttpResponse> =
            SdkError::timeout_error("slow".to_owned());
        assert_eq!(classify(&timeout), ErrorClass::Transient);
        let io = ConnectorError::io(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        let refused: SdkError<GetItemError, HttpResponse> = SdkError::dispatch_failure(io);
        assert_eq!(classify(&refused), ErrorClass::DependencyDown);
    }
}
