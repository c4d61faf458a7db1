//! The tokenizer's integration tests, in one test binary (one link instead of five).

mod common;
mod frame;
mod garage;
mod limits;
mod localstack;
mod order;
mod ready;
mod refusals;
mod robustness;
mod session;
mod state;
mod stolen;
mod tokens;
