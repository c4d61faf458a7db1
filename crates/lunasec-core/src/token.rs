//! `LunaSec` tokens: `lunasec-` followed by a v4 UUID (44 characters in all).

use std::fmt;

use crate::error::{Error, ErrorCode, Result};

/// The prefix every token starts with.
pub const TOKEN_PREFIX: &str = "lunasec-";
/// Length of a token in bytes.
pub const TOKEN_LEN: usize = 44;

/// Whether `s` is a token: `^lunasec-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`.
/// Tokens are canonical lowercase: they are generated so and compared byte for byte (they name
/// records and objects), so an uppercase spelling is refused rather than folded.
#[must_use]
pub fn is_token(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != TOKEN_LEN || !s.starts_with(TOKEN_PREFIX) {
        return false;
    }
    b[TOKEN_PREFIX.len()..].iter().enumerate().all(|(i, &c)| match i {
        8 | 13 | 18 | 23 => c == b'-',
        _ => matches!(c, b'0'..=b'9' | b'a'..=b'f'),
    })
}

/// A validated token. Its `Debug` form is redacted so it cannot leak through `{:?}` in logs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(String);

impl Token {
    /// A fresh random token (v4 UUID, lowercase).
    #[must_use]
    pub fn generate() -> Self {
        Self(format!("{TOKEN_PREFIX}{}", uuid::Uuid::new_v4().hyphenated()))
    }

    /// Parses a token; the error never repeats the input.
    pub fn parse(s: &str) -> Result<Self> {
        if is_token(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::new(ErrorCode::BadToken, "value is not a LunaSec token (expected lunasec-<uuid>)"))
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl AsRef<str> for Token {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_tokens_and_unique() {
        let a = Token::generate();
        let b = Token::generate();
        assert!(is_token(a.as_str()));
        assert_eq!(a.as_str().len(), TOKEN_LEN);
        assert_ne!(a, b);
        assert_eq!(a.as_str(), a.as_str().to_ascii_lowercase());
    }

    #[test]
    fn recognises_the_spec_example_and_refuses_uppercase_hex() {
        assert!(is_token("lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c"));
        for s in ["lunasec-351D1033-0E9F-4A1B-BBB6-ADEC04837A5C", "lunasec-351d1033-0e9f-4a1b-bbb6-adec04837A5c"] {
            assert!(!is_token(s), "{s}");
            assert_eq!(Token::parse(s).unwrap_err().code(), ErrorCode::BadToken);
        }
    }

    #[test]
    fn rejects_near_misses() {
        for s in [
            "",
            "lunasec-",
            "lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5",   // short
            "lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5cc", // long
            "LUNASEC-351d1033-0e9f-4a1b-bbb6-adec04837a5c",  // prefix case
            "lunasec-351d1033x0e9f-4a1b-bbb6-adec04837a5c",  // separator
            "lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5g",  // non-hex
            "lunasec_351d1033-0e9f-4a1b-bbb6-adec04837a5c",
            "351d1033-0e9f-4a1b-bbb6-adec04837a5c",
            "lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5\u{e9}", // non-ASCII, same byte length trick
        ] {
            assert!(!is_token(s), "{s:?} must not be a token");
        }
    }

    #[test]
    fn parse_error_does_not_echo_input() {
        let err = Token::parse("secret-card-4111111111111111").unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadToken);
        assert!(!err.message().contains("4111"));
        assert_eq!(format!("{:?}", Token::generate()), "Token(<redacted>)");
    }
}
