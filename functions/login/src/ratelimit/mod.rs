//! Rate limiting for sign-in: the DynamoDB fallback counter, the Redis → DynamoDB → 503
//! chain, and the login policy (which counters, what keys, what headers).

mod dynamo;
mod fallback;
mod policy;

pub use self::dynamo::DynamoRateLimiter;
pub use self::fallback::{FallbackRateLimiter, warm_up};
pub use self::policy::{
    LoginLimits, Principal, rate_limit_headers, retry_after as policy_retry_after,
};
