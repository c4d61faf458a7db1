//! Core errors → JS errors.
//!
//! Every error thrown by the addon has a message of the form `ERR_CODE: human text`; the JS layer
//! (`lib/errors.js`) turns that into a `LunaSecError` with `errorCode`, `name` and `statusCode`.
//! One format for sync calls and async tasks alike (napi tasks can only reject with a `Status`).

use napi::{Error, Status};

pub fn to_napi(e: &lunasec_core::Error) -> Error {
    Error::new(Status::GenericFailure, format!("{}: {}", e.code(), e.message()))
}

pub trait IntoNapi<T> {
    fn napi(self) -> napi::Result<T>;
}

impl<T> IntoNapi<T> for Result<T, lunasec_core::Error> {
    fn napi(self) -> napi::Result<T> {
        self.map_err(|e| to_napi(&e))
    }
}
