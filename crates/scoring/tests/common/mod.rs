//! Code shared by the integration tests (and, through `#[path]`, the benchmarks).

pub(crate) mod ladder;
