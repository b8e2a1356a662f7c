//! The real adapters' setup for the contract suites (see `shared::testing::fixtures`).

#![allow(unused_imports)]

pub use shared::testing::fixtures::{moto as aws, queue, redis as redis_url, table};
