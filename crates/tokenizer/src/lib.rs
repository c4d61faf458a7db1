//! The `LunaSec` Dedicated Tokenizer: a server speaking the `LunaSec` protocol
//! (`shared/spec/protocol.md`), with records in an embedded redb file or DynamoDB and ciphertext
//! in S3 (SSE-C) or the tokenizer's own embedded blob store.
//!
//! The binary (`src/main.rs`) is a thin shell over [`start`]; tests start servers in-process.

pub mod ciphertext;
pub mod config;
pub mod crypto;
pub mod error;
pub mod frame;
pub mod http;
pub mod keys;
pub mod limits;
pub mod ratelimit;
pub mod server;
pub mod store;

pub use config::{Args, Config};
pub use server::{StartError, Tokenizer, start};

/// Headers a client must send with a presigned URL (name → value).
pub type Headers = lunasec_core::protocol::Headers;
