//! Core errors → JS errors, with the error code carried natively.
//!
//! Every error the addon throws or rejects with is a JS `Error` whose `code` property is the
//! stable `ERR_…` string of the core's error table (napi-rs custom status: `napi::Error<ErrorCode>`)
//! and whose message is the core's safe message, without any prefix. The JS layer
//! (`lib/errors.js`) maps `code` to a `LunaSecError` through the same table; it never parses
//! message text.
//!
//! - Sync functions return [`Result`] (`napi::Error<ErrorCode>`); napi-rs throws it with
//!   `code` set.
//! - Async work crosses threads as a plain core error and is turned into the JS error on the JS
//!   thread: [`spawn`] (futures, via napi's `AsyncBlock`) and [`reject`] (libuv `Task`s). Their
//!   rejection is the JS error object itself, so `code` survives (napi's own async path only
//!   knows `Status` codes).

use std::future::Future;

use lunasec_core::ErrorCode;
use napi::bindgen_prelude::{AsyncBlock, AsyncBlockBuilder, ToNapiValue};
use napi::{Env, JsError};

/// The result of a sync `#[napi]` function: errors carry their `ERR_…` code as the JS `code`.
pub type Result<T, E = napi::Error<ErrorCode>> = std::result::Result<T, E>;

pub fn to_napi(e: &lunasec_core::Error) -> napi::Error<ErrorCode> {
    napi::Error::new(e.code(), e.message())
}

/// A coded error (for arguments the binding itself refuses).
pub fn coded(code: ErrorCode, message: &str) -> napi::Error<ErrorCode> {
    napi::Error::new(code, message)
}

pub trait IntoNapi<T> {
    fn napi(self) -> Result<T>;
}

impl<T> IntoNapi<T> for std::result::Result<T, lunasec_core::Error> {
    fn napi(self) -> Result<T> {
        self.map_err(|e| to_napi(&e))
    }
}

/// The JS error object for a core error (on the JS thread), wrapped so that napi-rs rejects or
/// throws that very object.
pub fn reject(env: Env, e: &lunasec_core::Error) -> napi::Error {
    napi::Error::from(JsError::from(to_napi(e)).into_unknown(env))
}

/// Runs `fut` on napi's tokio runtime; its promise resolves with the value or rejects with the
/// coded JS error.
pub fn spawn<T, F>(env: Env, fut: F) -> napi::Result<AsyncBlock<T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = std::result::Result<T, lunasec_core::Error>> + Send + 'static,
{
    AsyncBlockBuilder::build_with_map(&env, async move { Ok(fut.await) }, |env, r| r.map_err(|e| reject(env, &e)))
}
