//! Wire types of the Dedicated Tokenizer's HTTP API (protocol §5), shared by the server and the
//! SDK's client so the two cannot drift. Field names are the original's (camelCase).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Header that binds a response to a session (a hash of the session id).
pub const SESSION_HASH_HEADER: &str = "lunasec-session-hash";
/// Cookie carrying the user JWT on the tokenizer's origin. The `__Host-` prefix makes the browser
/// accept it only from this origin, `Secure`, `Path=/` and without `Domain`, so a sibling subdomain
/// cannot plant one.
pub const ACCESS_TOKEN_COOKIE: &str = "__Host-access_token";
/// Cookie carrying the single-use session `state` (`__Host-`, as [`ACCESS_TOKEN_COOKIE`]).
pub const STATE_COOKIE: &str = "__Host-state";
/// The name older tokenizers gave [`ACCESS_TOKEN_COOKIE`]: still read, the prefixed one winning.
pub const LEGACY_ACCESS_TOKEN_COOKIE: &str = "access_token";
/// The name older tokenizers gave [`STATE_COOKIE`]: still read, the prefixed one winning.
pub const LEGACY_STATE_COOKIE: &str = "state";
/// Most bytes a browser keeps for one cookie, counting its `Set-Cookie` line's name, value and
/// attributes (a larger cookie is dropped without an error).
pub const MAX_COOKIE_LEN: usize = 4096;
/// The attributes of the tokenizer's cookies, before and after the `Max-Age` value: what a
/// cross-site frame's cookie needs (CHIPS: `Partitioned`, `SameSite=None`, `Secure`), and `Path=/`,
/// `Secure` and no `Domain`, as `__Host-` requires.
const COOKIE_ATTRIBUTES: (&str, &str) = ("; HttpOnly; Path=/; Max-Age=", "; SameSite=None; Secure; Partitioned");

/// The `Set-Cookie` value the tokenizer sends for cookie `name`.
#[must_use]
pub fn set_cookie_line(name: &str, value: &str, max_age: u64) -> String {
    format!("{name}={value}{}{max_age}{}", COOKIE_ATTRIBUTES.0, COOKIE_ATTRIBUTES.1)
}

/// The bytes of a [`set_cookie_line`] besides its value, for a `Max-Age` of `max_age_digits` digits.
#[must_use]
pub const fn cookie_overhead(name: &str, max_age_digits: usize) -> usize {
    name.len() + 1 + COOKIE_ATTRIBUTES.0.len() + max_age_digits + COOKIE_ATTRIBUTES.1.len()
}

/// `{"success":true,"data":…}` or `{"success":false,"error":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Envelope<T> {
    Success { success: True, data: T },
    Failure { success: False, error: ErrorBody },
}

/// Serde helper: the literal `true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct True;
/// Serde helper: the literal `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct False;

macro_rules! bool_literal {
    ($ty:ident, $v:literal) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bool($v)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if bool::deserialize(d)? == $v {
                    Ok($ty)
                } else {
                    Err(serde::de::Error::custom(concat!("expected ", $v)))
                }
            }
        }
    };
}
bool_literal!(True, true);
bool_literal!(False, false);

impl<T> Envelope<T> {
    pub fn ok(data: T) -> Self {
        Self::Success { success: True, data }
    }

    pub fn err(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Failure { success: False, error: ErrorBody { name: name.into(), message: message.into() } }
    }
}

/// The error object of a failure envelope (`error.name`, `error.message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub name: String,
    pub message: String,
}

/// Kinds of grant. **[compat]** `token_full_access` (the newest original) counts as both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    StoreToken,
    ReadToken,
    TokenFullAccess,
}

impl GrantType {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StoreToken => "store_token",
            Self::ReadToken => "read_token",
            Self::TokenFullAccess => "token_full_access",
        }
    }
}

/// Free-form token metadata (`{"dataType":"string"}` etc.).
pub type Metadata = serde_json::Map<String, Value>;

/// Headers a client must send with a presigned URL.
pub type Headers = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenizeRequest {
    #[serde(default)]
    pub metadata: Metadata,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenizeResponse {
    pub token_id: String,
    pub upload_url: String,
    pub headers: Headers,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenIdRequest {
    pub token_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetokenizeResponse {
    pub download_url: String,
    pub headers: Headers,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataResponse {
    pub metadata: Metadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetMetadataRequest {
    pub token_id: String,
    pub metadata: Metadata,
}

/// `POST /grant/set` and `/grant/verify`: one `tokenId` or **[new]** a batch of `tokenIds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantRequest {
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<GrantType>,
}

/// `/grant/verify` answer; for a batch, `results` holds one entry per `tokenIds` item, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantVerifyResponse {
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<bool>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_wire_format() {
        let ok: Envelope<GrantVerifyResponse> = Envelope::ok(GrantVerifyResponse { valid: true, results: None });
        assert_eq!(serde_json::to_value(&ok).unwrap(), json!({"success":true,"data":{"valid":true}}));
        let err: Envelope<()> = Envelope::err("invalidGrant", "no valid grant");
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"success":false,"error":{"name":"invalidGrant","message":"no valid grant"}})
        );
        let back: Envelope<GrantVerifyResponse> =
            serde_json::from_value(json!({"success":false,"error":{"name":"x","message":"y"}})).unwrap();
        assert!(matches!(back, Envelope::Failure { .. }));
        let back: Envelope<TokenizeResponse> =
            serde_json::from_value(json!({"success":true,"data":{"tokenId":"t","uploadUrl":"u","headers":{"a":"b"}}}))
                .unwrap();
        assert!(matches!(back, Envelope::Success { .. }));
    }

    #[test]
    fn grant_request_names() {
        let r: GrantRequest = serde_json::from_value(
            json!({"sessionId":"s","tokenIds":["a"],"grantType":"token_full_access","customDuration":"1h"}),
        )
        .unwrap();
        assert_eq!(r.grant_type, Some(GrantType::TokenFullAccess));
        assert_eq!(r.token_ids.as_deref(), Some(&["a".to_owned()][..]));
        assert!(serde_json::from_value::<GrantRequest>(json!({"sessionId":"s","grantType":"admin"})).is_err());
    }
}
