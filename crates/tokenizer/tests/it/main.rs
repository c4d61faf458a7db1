//! The tokenizer's integration tests, in one test binary (one link instead of five).

mod common;
mod frame;
mod localstack;
mod refusals;
mod robustness;
mod session;
mod tokens;
