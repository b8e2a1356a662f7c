//! Scenario and runtime tests live in `tests/tests/`; this library holds what they and the
//! `samples` command (used by infra/scripts/lambda-smoke.sh) share: a Lambda Runtime API
//! emulator, the resources a run of the binaries needs, and the preparation of the sample
//! events.

pub mod emulator;
pub mod roundtrips;
pub mod samples;
pub mod stack;
