//! Every secret the tokenizer uses, derived once at start from `TOKENIZER_SECRET` (aws-lc-rs only).
//!
//! HKDF-SHA256 (salt [`HKDF_SALT`]) expands the secret into independent keys, one per purpose, so a
//! leak or misuse of one (e.g. a session hash in a log) says nothing about the others:
//! - `key-wrap`: AES-256-GCM key that wraps each token's random 32-byte data key. The AAD is the
//!   token's record key, so a wrapped key copied onto another record does not unwrap.
//! - `record-key`: HMAC key naming a token's record in the record store (the store never holds tokens).
//! - `object-key`: HMAC key naming a token's ciphertext object (S3 key / blob file; never the token).
//! - `session-hash`: HMAC key for session ids (grants are filed under it; `lunasec-session-hash`).
//! - `state-key`: HMAC key naming session `state` records.
//! - `blob-url`: HMAC key signing the embedded blob store's presigned URLs.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hkdf, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lunasec_core::Token;
use md5::{Digest as _, Md5};

use crate::Headers;

/// HKDF salt: fixed and public (the input keying material is the secret).
pub const HKDF_SALT: &[u8] = b"lunasec-tokenizer/hkdf/v1";
/// Length of a data key (AES-256).
pub const DATA_KEY_LEN: usize = 32;
/// Length of a wrapped data key: nonce ‖ ciphertext ‖ tag.
pub const WRAPPED_KEY_LEN: usize = NONCE_LEN + DATA_KEY_LEN + 16;
/// Shortest accepted `TOKENIZER_SECRET`, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The SSE-C headers (names as S3 defines them).
pub const SSE_C_ALGORITHM: &str = "x-amz-server-side-encryption-customer-algorithm";
pub const SSE_C_KEY: &str = "x-amz-server-side-encryption-customer-key";
pub const SSE_C_KEY_MD5: &str = "x-amz-server-side-encryption-customer-key-md5";

/// A 32-byte key that names a record (HMAC output).
pub type Hash32 = [u8; 32];

/// Fills a fresh array from the system CSPRNG.
///
/// # Panics
/// If the operating system's random source fails, which leaves nothing safe to do.
#[must_use]
pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).expect("the system random source failed");
    out
}

/// Lowercase hex.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Parses lowercase or uppercase hex of exactly `N` bytes.
#[must_use]
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Constant-time equality of two byte strings.
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &hkdf::Prk, label: &str) -> [u8; 32] {
    let info = [label.as_bytes()];
    let mut out = [0u8; 32];
    prk.expand(&info, Len(32)).and_then(|okm| okm.fill(&mut out)).expect("HKDF-SHA256 expand of 32 bytes cannot fail");
    out
}

/// The keys derived from the tokenizer secret.
pub struct Secrets {
    wrap: LessSafeKey,
    record: hmac::Key,
    object: hmac::Key,
    session: hmac::Key,
    state: hmac::Key,
    blob: hmac::Key,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

/// A wrapped data key did not unwrap (wrong secret, tampered or swapped record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the token's data key could not be unwrapped (wrong TOKENIZER_SECRET or a tampered record)")]
pub struct UnwrapError;

impl Secrets {
    /// Derives every key from the secret (at least [`MIN_SECRET_LEN`] bytes; checked by the config).
    ///
    /// # Panics
    /// Never in practice: AES-256 and HMAC keys of 32 bytes are always accepted.
    #[must_use]
    pub fn derive(secret: &[u8]) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(secret);
        let hmac_key = |label| hmac::Key::new(hmac::HMAC_SHA256, &expand(&prk, label));
        let wrap = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &expand(&prk, "key-wrap")).expect("a 32-byte AES-256 key is valid"),
        );
        Self {
            wrap,
            record: hmac_key("record-key"),
            object: hmac_key("object-key"),
            session: hmac_key("session-hash"),
            state: hmac_key("state-key"),
            blob: hmac_key("blob-url"),
        }
    }

    fn mac(key: &hmac::Key, parts: &[&[u8]]) -> Hash32 {
        let mut ctx = hmac::Context::with_key(key);
        for p in parts {
            // Length-prefix each part so that ("ab","c") and ("a","bc") differ.
            ctx.update(&(p.len() as u64).to_be_bytes());
            ctx.update(p);
        }
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// The key a token's record is stored under.
    #[must_use]
    pub fn record_key(&self, token: &Token) -> Hash32 {
        Self::mac(&self.record, &[token.as_str().as_bytes()])
    }

    /// The name of a token's ciphertext object (64 hex characters).
    #[must_use]
    pub fn object_key(&self, token: &Token) -> String {
        hex(&Self::mac(&self.object, &[token.as_str().as_bytes()]))
    }

    /// The hash grants are filed under and `lunasec-session-hash` carries (hex of it).
    #[must_use]
    pub fn session_hash(&self, session_id: &str) -> Hash32 {
        Self::mac(&self.session, &[session_id.as_bytes()])
    }

    /// The key a session `state` is recorded under.
    #[must_use]
    pub fn state_key(&self, state: &str) -> Hash32 {
        Self::mac(&self.state, &[state.as_bytes()])
    }

    /// The signature of an embedded blob URL: binds method, object, expiry and the SSE-C key's MD5
    /// (so the URL only works with the key it was issued for, as S3 signs the SSE-C headers).
    #[must_use]
    pub fn blob_signature(&self, method: &str, object_key: &str, expires: u64, key_md5_b64: &str) -> Hash32 {
        Self::mac(
            &self.blob,
            &[method.as_bytes(), object_key.as_bytes(), &expires.to_be_bytes(), key_md5_b64.as_bytes()],
        )
    }

    /// Verifies a blob URL signature in constant time.
    #[must_use]
    pub fn verify_blob_signature(
        &self,
        method: &str,
        object_key: &str,
        expires: u64,
        key_md5_b64: &str,
        signature: &[u8],
    ) -> bool {
        ct_eq(&self.blob_signature(method, object_key, expires, key_md5_b64), signature)
    }

    /// Wraps a data key for the record `record_key` (AES-256-GCM, random nonce, AAD = record key).
    ///
    /// # Panics
    /// Never in practice: sealing 32 bytes with a valid key cannot fail.
    #[must_use]
    pub fn wrap_data_key(&self, record_key: &Hash32, data_key: &DataKey) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = random();
        let mut buf = data_key.0.to_vec();
        self.wrap
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(&record_key[..]), &mut buf)
            .expect("AES-GCM seal of 32 bytes cannot fail");
        let mut out = Vec::with_capacity(WRAPPED_KEY_LEN);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buf);
        out
    }

    /// Unwraps a data key stored with the record `record_key`.
    pub fn unwrap_data_key(&self, record_key: &Hash32, wrapped: &[u8]) -> Result<DataKey, UnwrapError> {
        if wrapped.len() != WRAPPED_KEY_LEN {
            return Err(UnwrapError);
        }
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| UnwrapError)?;
        let mut buf = sealed.to_vec();
        let plain = self.wrap.open_in_place(nonce, Aad::from(&record_key[..]), &mut buf).map_err(|_| UnwrapError)?;
        let mut key = [0u8; DATA_KEY_LEN];
        key.copy_from_slice(plain);
        Ok(DataKey(key))
    }
}

/// A token's data key: the SSE-C customer key of its ciphertext. Debug output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey(pub [u8; DATA_KEY_LEN]);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    /// A fresh random data key.
    #[must_use]
    pub fn generate() -> Self {
        Self(random())
    }

    /// base64 of the key (the SSE-C key header value).
    #[must_use]
    pub fn base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// base64 of the key's MD5 (the SSE-C key-MD5 header value).
    #[must_use]
    pub fn md5_base64(&self) -> String {
        md5_base64(&self.0)
    }

    /// The three SSE-C headers a client sends with a presigned URL.
    #[must_use]
    pub fn sse_c_headers(&self) -> Headers {
        Headers::from([
            (SSE_C_ALGORITHM.to_owned(), "AES256".to_owned()),
            (SSE_C_KEY.to_owned(), self.base64()),
            (SSE_C_KEY_MD5.to_owned(), self.md5_base64()),
        ])
    }
}

/// base64 of MD5(`bytes`).
#[must_use]
pub fn md5_base64(bytes: &[u8]) -> String {
    STANDARD.encode(Md5::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_separated_by_purpose_and_secret() {
        let a = Secrets::derive(&[7u8; 32]);
        let b = Secrets::derive(&[8u8; 32]);
        let t = Token::generate();
        assert_ne!(a.record_key(&t), b.record_key(&t));
        assert_ne!(hex(&a.record_key(&t)), a.object_key(&t));
        assert_eq!(a.object_key(&t).len(), 64);
        assert!(!a.object_key(&t).contains(&t.as_str()[8..]));
        assert_ne!(a.session_hash("s"), a.state_key("s"));
        assert_eq!(a.session_hash("s"), Secrets::derive(&[7u8; 32]).session_hash("s"));
    }

    #[test]
    fn wrap_round_trip_and_binding_to_the_record() {
        let s = Secrets::derive(b"0123456789abcdef0123456789abcdef");
        let k = DataKey::generate();
        let r1 = s.record_key(&Token::generate());
        let r2 = s.record_key(&Token::generate());
        let w = s.wrap_data_key(&r1, &k);
        assert_eq!(w.len(), WRAPPED_KEY_LEN);
        assert_eq!(s.unwrap_data_key(&r1, &w).unwrap(), k);
        assert_eq!(s.unwrap_data_key(&r2, &w), Err(UnwrapError), "swapped onto another record");
        let other = Secrets::derive(b"0123456789abcdef0123456789abcdeX");
        assert_eq!(other.unwrap_data_key(&r1, &w), Err(UnwrapError), "another secret");
        let mut tampered = w.clone();
        tampered[20] ^= 1;
        assert_eq!(s.unwrap_data_key(&r1, &tampered), Err(UnwrapError));
        assert_ne!(s.wrap_data_key(&r1, &k), w, "fresh nonce each time");
    }

    #[test]
    fn hex_and_md5() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(unhex::<3>("00ABff"), Some([0, 0xab, 0xff]));
        assert_eq!(unhex::<3>("00abf"), None);
        assert_eq!(unhex::<1>("zz"), None);
        // RFC 1321 test vector: MD5("abc").
        assert_eq!(
            md5_base64(b"abc"),
            STANDARD.encode([
                0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1, 0x7f, 0x72
            ])
        );
        let k = DataKey([1; 32]);
        let h = k.sse_c_headers();
        assert_eq!(h[SSE_C_ALGORITHM], "AES256");
        assert_eq!(STANDARD.decode(&h[SSE_C_KEY]).unwrap(), [1; 32]);
        assert_eq!(format!("{k:?}"), "DataKey(<redacted>)");
    }

    #[test]
    fn blob_signatures_bind_every_field() {
        let s = Secrets::derive(&[1u8; 32]);
        let sig = s.blob_signature("GET", "ab", 10, "md5");
        assert!(s.verify_blob_signature("GET", "ab", 10, "md5", &sig));
        assert!(!s.verify_blob_signature("PUT", "ab", 10, "md5", &sig));
        assert!(!s.verify_blob_signature("GET", "ac", 10, "md5", &sig));
        assert!(!s.verify_blob_signature("GET", "ab", 11, "md5", &sig));
        assert!(!s.verify_blob_signature("GET", "ab", 10, "md6", &sig));
        assert!(!s.verify_blob_signature("GET", "ab", 10, "md5", &sig[..31]));
    }
}
