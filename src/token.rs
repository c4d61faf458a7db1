//! Token format and durations.

use napi_derive::napi;

use crate::error::{IntoNapi, Result};

/// Whether `value` looks like a LunaSec token (`lunasec-` + UUID).
#[napi]
#[must_use]
pub fn is_token(value: String) -> bool {
    lunasec_core::is_token(&value)
}

/// A fresh random token.
#[napi]
#[must_use]
pub fn generate_token() -> String {
    lunasec_core::Token::generate().as_str().to_owned()
}

/// Parses a Go-style duration (`45s`, `30m`, `1h10m30s`, `1.5h`, `300ms`) into milliseconds.
#[napi]
pub fn parse_duration_ms(value: String) -> Result<f64> {
    let d = lunasec_core::parse_go_duration(&value).napi()?;
    Ok(d.as_secs_f64() * 1000.0)
}
