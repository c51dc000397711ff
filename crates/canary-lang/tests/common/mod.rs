//! Shared by the accuracy test, the eval example and the root bench.
pub mod sets;
