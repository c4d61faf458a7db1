//! Every secret the tokenizer uses, derived once at start from `TOKENIZER_SECRET` (aws-lc-rs only).
//!
//! HKDF-SHA256 (salt [`HKDF_SALT`]) expands the secret into independent keys, one per purpose, so a
//! leak or misuse of one (e.g. a session hash in a log) says nothing about the others:
//! - `key-wrap/v2`: a PRK from which each record's wrapping key is expanded **with the token**
//!   (HKDF-Expand, info `wrap:` ‖ token): the AES-256-GCM key that wraps the token's random 32-byte
//!   data key. Without the token there is no wrapping key, so the secret and a copy of the store
//!   (and of every blob) unwrap nothing: the token is part of the decryption key. Stored as
//!   `2` ‖ nonce ‖ ciphertext ‖ tag (61 bytes), AAD = `2` ‖ record key.
//! - `key-wrap`: the v1 wrapping key, from the secret alone, kept to read records written before
//!   v2 (exactly 60 bytes: nonce ‖ ciphertext ‖ tag, AAD = record key). Never used to write.
//! - `record-key`: HMAC key naming a token's record in the record store (the store never holds tokens).
//! - `object-key`: HMAC key naming a token's ciphertext object (S3 key / blob file; never the token).
//! - `session-hash`: HMAC key for session ids (grants are filed under it; `lunasec-session-hash`).
//! - `state-key`: HMAC key naming the record of a session `state`'s consumption.
//! - `state-mac/v2`: HMAC key authenticating a session `state` itself, so that issuing one stores
//!   nothing: `base64url(nonce(8) ‖ expiry(8, BE unix ms) ‖ HMAC(key, "state-v2" ‖ nonce ‖
//!   expiry)[..16])`, 32 bytes (43 characters, the length a state has always had).
//! - `blob-url`: HMAC key signing the embedded blob store's presigned URLs.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hkdf, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use lunasec_core::Token;
use md5::{Digest as _, Md5};

use crate::Headers;

/// HKDF salt: fixed and public (the input keying material is the secret).
pub const HKDF_SALT: &[u8] = b"lunasec-tokenizer/hkdf/v1";
/// Length of a data key (AES-256).
pub const DATA_KEY_LEN: usize = 32;
/// Version byte of a wrapped data key whose wrapping key is derived from the secret and the token.
pub const WRAP_V2: u8 = 2;
/// Length of a v1 (legacy) wrapped data key: nonce ‖ ciphertext ‖ tag, no version byte. Such a
/// record is told apart by its length.
pub const WRAPPED_KEY_V1_LEN: usize = NONCE_LEN + DATA_KEY_LEN + 16;
/// Length of a wrapped data key as written now: [`WRAP_V2`] ‖ nonce ‖ ciphertext ‖ tag.
pub const WRAPPED_KEY_LEN: usize = 1 + WRAPPED_KEY_V1_LEN;
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
    /// v2: each record's wrapping key is expanded from this PRK with the token.
    wrap_prk: hkdf::Prk,
    /// v1 (read only): one wrapping key for every record, from the secret alone.
    wrap_v1: LessSafeKey,
    record: hmac::Key,
    object: hmac::Key,
    session: hmac::Key,
    state: hmac::Key,
    state_mac: hmac::Key,
    blob: hmac::Key,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

/// Random bytes of a session `state` (with the expiry they make it unique).
pub const STATE_NONCE_LEN: usize = 8;
/// Bytes of HMAC-SHA256 a session `state` keeps (128 bits).
pub const STATE_MAC_LEN: usize = 16;
/// Length of a decoded session `state`: nonce ‖ expiry ‖ MAC.
pub const STATE_LEN: usize = STATE_NONCE_LEN + 8 + STATE_MAC_LEN;
const STATE_MAC_LABEL: &[u8] = b"state-v2";

/// Why a session `state` was refused by [`Secrets::check_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRefusal {
    /// Not one this tokenizer (this secret) issued: malformed, forged or tampered with.
    Unknown,
    /// Genuine but past its expiry.
    Expired,
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
        let wrap_v1 = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &expand(&prk, "key-wrap")).expect("a 32-byte AES-256 key is valid"),
        );
        let wrap_prk: hkdf::Prk = prk
            .expand(&[b"key-wrap/v2".as_slice()], hkdf::HKDF_SHA256)
            .expect("HKDF-SHA256 expand of 32 bytes cannot fail")
            .into();
        Self {
            wrap_prk,
            wrap_v1,
            record: hmac_key("record-key"),
            object: hmac_key("object-key"),
            session: hmac_key("session-hash"),
            state: hmac_key("state-key"),
            state_mac: hmac_key("state-mac/v2"),
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

    fn state_tag(&self, nonce_and_expiry: &[u8]) -> [u8; STATE_MAC_LEN] {
        let mut ctx = hmac::Context::with_key(&self.state_mac);
        ctx.update(STATE_MAC_LABEL);
        ctx.update(nonce_and_expiry);
        let mut out = [0u8; STATE_MAC_LEN];
        out.copy_from_slice(&ctx.sign().as_ref()[..STATE_MAC_LEN]);
        out
    }

    /// A new session `state` valid until `expires_ms` (unix ms), base64url without padding. Nothing
    /// is stored: [`Secrets::check_state`] recognises it by its MAC.
    #[must_use]
    pub fn issue_state(&self, expires_ms: u64) -> String {
        let mut raw = [0u8; STATE_LEN];
        raw[..STATE_NONCE_LEN].copy_from_slice(&random::<STATE_NONCE_LEN>());
        raw[STATE_NONCE_LEN..STATE_NONCE_LEN + 8].copy_from_slice(&expires_ms.to_be_bytes());
        let tag = self.state_tag(&raw[..STATE_NONCE_LEN + 8]);
        raw[STATE_NONCE_LEN + 8..].copy_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Checks a session `state`'s MAC (constant time) and then its expiry against `now_ms`
    /// (valid while `now_ms <= expiry`). Returns the expiry.
    ///
    /// # Errors
    /// [`StateRefusal::Unknown`] for anything this secret did not issue, [`StateRefusal::Expired`]
    /// for a genuine state past its expiry.
    pub fn check_state(&self, state: &str, now_ms: u64) -> Result<u64, StateRefusal> {
        let raw = URL_SAFE_NO_PAD.decode(state).map_err(|_| StateRefusal::Unknown)?;
        if raw.len() != STATE_LEN {
            return Err(StateRefusal::Unknown);
        }
        let (signed, tag) = raw.split_at(STATE_NONCE_LEN + 8);
        if !ct_eq(&self.state_tag(signed), tag) {
            return Err(StateRefusal::Unknown);
        }
        let mut exp = [0u8; 8];
        exp.copy_from_slice(&signed[STATE_NONCE_LEN..]);
        let expires_ms = u64::from_be_bytes(exp);
        if now_ms > expires_ms { Err(StateRefusal::Expired) } else { Ok(expires_ms) }
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

    /// The v2 wrapping key of `token`'s record: HKDF-Expand(`key-wrap/v2` PRK, `wrap:` ‖ token).
    fn token_wrap_key(&self, token: &Token) -> LessSafeKey {
        let mut key = [0u8; 32];
        self.wrap_prk
            .expand(&[b"wrap:".as_slice(), token.as_str().as_bytes()], Len(32))
            .and_then(|okm| okm.fill(&mut key))
            .expect("HKDF-SHA256 expand of 32 bytes cannot fail");
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("a 32-byte AES-256 key is valid"))
    }

    /// Wraps `token`'s data key (v2): AES-256-GCM under a key derived from the secret **and the
    /// token**, random nonce, AAD = version ‖ record key. Returns [`WRAPPED_KEY_LEN`] bytes.
    ///
    /// # Panics
    /// Never in practice: sealing 32 bytes with a valid key cannot fail.
    #[must_use]
    pub fn wrap_data_key(&self, token: &Token, data_key: &DataKey) -> Vec<u8> {
        let record_key = self.record_key(token);
        let mut aad = [0u8; 33];
        aad[0] = WRAP_V2;
        aad[1..].copy_from_slice(&record_key);
        let nonce_bytes: [u8; NONCE_LEN] = random();
        let mut buf = data_key.0.to_vec();
        self.token_wrap_key(token)
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(&aad[..]), &mut buf)
            .expect("AES-GCM seal of 32 bytes cannot fail");
        let mut out = Vec::with_capacity(WRAPPED_KEY_LEN);
        out.push(WRAP_V2);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buf);
        out
    }

    /// Unwraps `token`'s data key: a v2 record ([`WRAPPED_KEY_LEN`] bytes starting with
    /// [`WRAP_V2`]) with the token's key, a v1 record (exactly [`WRAPPED_KEY_V1_LEN`] bytes) with the
    /// legacy key; anything else is refused.
    pub fn unwrap_data_key(&self, token: &Token, wrapped: &[u8]) -> Result<DataKey, UnwrapError> {
        let record_key = self.record_key(token);
        match wrapped.len() {
            WRAPPED_KEY_LEN if wrapped[0] == WRAP_V2 => {
                let mut aad = [0u8; 33];
                aad[0] = WRAP_V2;
                aad[1..].copy_from_slice(&record_key);
                open(&self.token_wrap_key(token), &aad, &wrapped[1..])
            }
            WRAPPED_KEY_V1_LEN => open(&self.wrap_v1, &record_key, wrapped),
            _ => Err(UnwrapError),
        }
    }

    /// The v1 wrapping (secret-only key, AAD = record key, no version byte), as tokenizers before
    /// v2 wrote it. **Never used to write**: kept public only so tests and migration tooling can
    /// produce old-format records.
    #[doc(hidden)]
    #[must_use]
    pub fn wrap_data_key_v1(&self, record_key: &Hash32, data_key: &DataKey) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = random();
        let mut buf = data_key.0.to_vec();
        self.wrap_v1
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(&record_key[..]), &mut buf)
            .expect("AES-GCM seal of 32 bytes cannot fail");
        let mut out = Vec::with_capacity(WRAPPED_KEY_V1_LEN);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buf);
        out
    }
}

/// Opens nonce ‖ ciphertext ‖ tag (exactly one sealed data key).
fn open(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Result<DataKey, UnwrapError> {
    if sealed.len() != WRAPPED_KEY_V1_LEN {
        return Err(UnwrapError);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| UnwrapError)?;
    let mut buf = ct.to_vec();
    let plain = key.open_in_place(nonce, Aad::from(aad), &mut buf).map_err(|_| UnwrapError)?;
    let mut out = [0u8; DATA_KEY_LEN];
    out.copy_from_slice(plain);
    Ok(DataKey(out))
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
    fn states_are_authenticated_and_expire() {
        let a = Secrets::derive(&[7u8; 32]);
        let b = Secrets::derive(&[8u8; 32]);
        let st = a.issue_state(5_000);
        assert_eq!(st.len(), 43);
        assert_ne!(st, a.issue_state(5_000), "a fresh nonce each time");
        assert_eq!(a.check_state(&st, 4_999), Ok(5_000));
        assert_eq!(a.check_state(&st, 5_000), Ok(5_000), "valid at now == expiry");
        assert_eq!(a.check_state(&st, 5_001), Err(StateRefusal::Expired));
        assert_eq!(b.check_state(&st, 0), Err(StateRefusal::Unknown), "another secret");
        // Every single-bit change of the decoded state is refused (the expiry included).
        let raw = URL_SAFE_NO_PAD.decode(&st).unwrap();
        for i in 0..raw.len() * 8 {
            let mut t = raw.clone();
            t[i / 8] ^= 1 << (i % 8);
            assert_eq!(a.check_state(&URL_SAFE_NO_PAD.encode(&t), 0), Err(StateRefusal::Unknown), "bit {i}");
        }
        for bad in ["", "A", &"A".repeat(43), &st[..42], &format!("{st}A"), &format!("{st}=")] {
            assert_eq!(a.check_state(bad, 0), Err(StateRefusal::Unknown), "{bad:?}");
        }
    }

    #[test]
    fn wrap_round_trip_and_binding_to_the_token() {
        let s = Secrets::derive(b"0123456789abcdef0123456789abcdef");
        let k = DataKey::generate();
        let (t1, t2) = (Token::generate(), Token::generate());
        let w = s.wrap_data_key(&t1, &k);
        assert_eq!(w.len(), WRAPPED_KEY_LEN);
        assert_eq!(w[0], WRAP_V2);
        assert_eq!(s.unwrap_data_key(&t1, &w).unwrap(), k);
        assert_eq!(s.unwrap_data_key(&t2, &w), Err(UnwrapError), "swapped onto another token's record");
        let other = Secrets::derive(b"0123456789abcdef0123456789abcdeX");
        assert_eq!(other.unwrap_data_key(&t1, &w), Err(UnwrapError), "another secret");
        for i in 0..w.len() {
            let mut tampered = w.clone();
            tampered[i] ^= 1;
            assert_eq!(s.unwrap_data_key(&t1, &tampered), Err(UnwrapError), "byte {i} flipped");
        }
        assert_eq!(s.unwrap_data_key(&t1, &w[..60]), Err(UnwrapError), "truncated to the v1 length");
        assert_eq!(s.unwrap_data_key(&t1, &w[1..]), Err(UnwrapError), "version byte stripped");
        assert_eq!(s.unwrap_data_key(&t1, &[]), Err(UnwrapError));
        assert_ne!(s.wrap_data_key(&t1, &k), w, "fresh nonce each time");
    }

    #[test]
    fn the_secret_alone_unwraps_no_v2_record() {
        // Everything the secret gives, without the token: the v1 key (with either AAD), and the
        // per-token derivation fed the record key (which the store holds) instead of the token.
        let s = Secrets::derive(&[5u8; 32]);
        let t = Token::generate();
        let rk = s.record_key(&t);
        let w = s.wrap_data_key(&t, &DataKey::generate());
        let mut aad2 = vec![WRAP_V2];
        aad2.extend_from_slice(&rk);
        assert_eq!(open(&s.wrap_v1, &rk, &w[1..]), Err(UnwrapError));
        assert_eq!(open(&s.wrap_v1, &aad2, &w[1..]), Err(UnwrapError));
        let rk_hex = hex(&rk);
        for info in [&rk[..], rk_hex.as_bytes(), b""] {
            let mut key = [0u8; 32];
            s.wrap_prk.expand(&[b"wrap:".as_slice(), info], Len(32)).unwrap().fill(&mut key).unwrap();
            let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
            assert_eq!(open(&key, &aad2, &w[1..]), Err(UnwrapError));
        }
        assert_eq!(s.unwrap_data_key(&Token::generate(), &w), Err(UnwrapError), "a guessed token");
    }

    #[test]
    fn v1_records_still_unwrap() {
        let s = Secrets::derive(b"0123456789abcdef0123456789abcdef");
        let k = DataKey::generate();
        let t = Token::generate();
        let w1 = s.wrap_data_key_v1(&s.record_key(&t), &k);
        assert_eq!(w1.len(), WRAPPED_KEY_V1_LEN);
        assert_eq!(s.unwrap_data_key(&t, &w1).unwrap(), k);
        assert_eq!(s.unwrap_data_key(&Token::generate(), &w1), Err(UnwrapError), "bound to its record");
        // A v1 record with a version byte put in front is not a v2 record.
        let mut prefixed = vec![WRAP_V2];
        prefixed.extend_from_slice(&w1);
        assert_eq!(s.unwrap_data_key(&t, &prefixed), Err(UnwrapError));
    }

    /// Known answers, computed independently (Python `hmac` + `cryptography`'s AESGCM) from the
    /// construction documented at the top of this file: pins both formats, so a change that would
    /// orphan stored records fails here.
    #[test]
    fn known_answers_for_both_formats() {
        let s = Secrets::derive(b"0123456789abcdef0123456789abcdef");
        let t = Token::parse("lunasec-2f1b7c1e-8a3d-4c5e-9f60-7b8a9c0d1e2f").unwrap();
        let dk: [u8; 32] = std::array::from_fn(|i| u8::try_from(i).unwrap());
        assert_eq!(hex(&s.record_key(&t)), "aa014395f677099cd05f196c59015a0e3292e95ca4a4c9c5c25d94ad246fa989");
        let v2 = unhex::<61>(
            "02a0a1a2a3a4a5a6a7a8a9aaab0be9466499900b9c6b0a3aa1fbfd163f2cb205dce25cddd3767844482e332cdd38ad05aa9d8ac407e397111ed8b3a55e",
        )
        .unwrap();
        let v1 = unhex::<60>(
            "a0a1a2a3a4a5a6a7a8a9aaab6eb3e220249f2374659ebb162b1b9e1500193c4dae32b9b8075446932d15e7aeb80b6a70d7157e503a36c13794c9551e",
        )
        .unwrap();
        assert_eq!(s.unwrap_data_key(&t, &v2).unwrap(), DataKey(dk));
        assert_eq!(s.unwrap_data_key(&t, &v1).unwrap(), DataKey(dk));
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
