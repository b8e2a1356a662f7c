//! AWS SDK plumbing: one shared config per cold start, and error classification.

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use base64::Engine as _;

use crate::error::ErrorClass;
use crate::store_error::StoreError;

/// Loads the SDK configuration once (region, credentials, and `AWS_ENDPOINT_URL` for moto),
/// with [`https_client`].
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The root certificates AWS service endpoints chain to: Amazon Trust Services' roots (Amazon
/// Root CA 1-4 and the Starfield Services G2 root they are cross-signed by).
const AWS_ROOT_NAMES: [&[u8]; 2] = [
    b"Amazon Root CA ",
    b"Starfield Services Root Certificate Authority - G2",
];

/// The Amazon Trust Services roots among the Mozilla roots compiled in (`webpki-root-certs`).
fn aws_roots() -> impl Iterator<Item = &'static [u8]> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|cert| cert.as_ref())
        .filter(|der| {
            // A root's issuer (its own name) comes early in its DER encoding: searching the
            // head only keeps this to a few microseconds.
            let head = der.get(..512).unwrap_or(der);
            AWS_ROOT_NAMES.iter().any(|name| {
                head.windows(name.len())
                    .any(|w| w.first() == name.first() && w == *name)
            })
        })
}

fn pem(der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// The SDK's HTTPS client: rustls with ring (as async-stripe's), trusting only the Amazon Trust
/// Services roots, compiled into the binary, that every AWS service endpoint chains to. The
/// SDK's default client reads the system's whole certificate store, and a full root store costs
/// milliseconds of every cold start (docs/PERFORMANCE.md, "Cold start"). Falls back to the
/// system's roots if these do not load.
pub fn https_client() -> SharedHttpClient {
    let mut trust = TrustStore::empty().with_native_roots(false);
    for der in aws_roots() {
        trust.add_pem_certificate(pem(der).into_bytes());
    }
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default();
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(context)
        .build_https()
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

    /// The trust store is built at the first HTTPS call: every root parses (a root rustls
    /// refused would panic there), and the call then fails only to connect.
    #[tokio::test]
    async fn the_compiled_in_roots_load_and_an_https_call_gets_to_connecting() {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        assert_eq!(
            aws_roots().count(),
            5,
            "Amazon Root CA 1-4 and Starfield Services G2"
        );
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("t", "t", None, None, "test"))
            .endpoint_url("https://127.0.0.1:9")
            .http_client(https_client())
            .build();
        let err = aws_sdk_dynamodb::Client::from_conf(config)
            .list_tables()
            .send()
            .await
            .unwrap_err();
        assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
    }

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
