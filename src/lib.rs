// Under `cfg(test)` the #[napi] registrations compile away, leaving the exported fns "unused".
#![cfg_attr(test, allow(dead_code))]

//! Node binding of `lunasec-core`: conversions and `#[napi]` items only. All logic lives in the
//! core crate; the JS layer in `lib/` wraps these exports in the public `LunaSec` API.

mod client;
mod error;
mod keys;
mod presign;
mod token;
mod verify;
