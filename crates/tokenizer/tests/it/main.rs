//! The tokenizer's integration tests, in one test binary (one link instead of five).

mod common;
mod frame;
mod localstack;
mod ready;
mod refusals;
mod robustness;
mod session;
mod stolen;
mod tokens;
