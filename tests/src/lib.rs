//! Scenario and runtime tests live in `tests/tests/`; this library holds what they and the
//! `samples` command (used by infra/scripts/lambda-smoke.sh) share: a Lambda Runtime API
//! emulator and the preparation of the sample events.

pub mod emulator;
pub mod samples;
