//! A stolen tokenizer reveals nothing without the tokens (issue 12, item 7): given the secret, a
//! copy of the store and every blob, no record's data key unwraps; with a record's token it does;
//! and records written the old way (v1, secret-only wrapping) still detokenize after an upgrade.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use lunasec_core::Token;
use lunasec_core::jwt::now_secs;
use lunasec_tokenizer::ciphertext::Method;
use lunasec_tokenizer::ciphertext::blob::BlobStore;
use lunasec_tokenizer::crypto::{self, DataKey, Hash32, Secrets, WRAP_V2, WRAPPED_KEY_LEN, WRAPPED_KEY_V1_LEN};
use lunasec_tokenizer::store::embedded::EmbeddedStore;
use lunasec_tokenizer::store::{GrantKey, GrantKind, RecordStore as _, TokenRecord, now_ms};
use serde_json::json;

/// Every key the secret alone yields for wrapping, derived here from the documented construction
/// (not through the crate): the v1 key, and the v2 per-record key fed what the store does hold
/// (the record key, raw or hex) in place of the token.
fn secret_only_keys(secret: &[u8], record_key: &Hash32) -> Vec<LessSafeKey> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, crypto::HKDF_SALT).extract(secret);
    let expand = |prk: &hkdf::Prk, info: &[&[u8]]| {
        let mut k = [0u8; 32];
        prk.expand(info, hkdf::HKDF_SHA256).unwrap().fill(&mut k).unwrap();
        k
    };
    let v1 = expand(&prk, &[b"key-wrap"]);
    let v2_prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &expand(&prk, &[b"key-wrap/v2"]));
    let rk_hex = crypto::hex(record_key);
    [v1, expand(&v2_prk, &[b"wrap:", record_key]), expand(&v2_prk, &[b"wrap:", rk_hex.as_bytes()])]
        .iter()
        .map(|k| LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k).unwrap()))
        .collect()
}

/// What an attacker holding the secret and the record (but not its token) can try: each
/// secret-only key, on the record with and without its version byte, under each AAD it could have.
fn unwrap_without_token(secret: &[u8], record_key: &Hash32, wrapped: &[u8]) -> Option<[u8; 32]> {
    let mut v2_aad = vec![WRAP_V2];
    v2_aad.extend_from_slice(record_key);
    let bodies: Vec<&[u8]> =
        [wrapped, wrapped.get(1..).unwrap_or_default()].into_iter().filter(|b| b.len() == WRAPPED_KEY_V1_LEN).collect();
    assert!(!bodies.is_empty(), "a wrapped key of {} bytes", wrapped.len());
    for key in secret_only_keys(secret, record_key) {
        for body in &bodies {
            for aad in [&record_key[..], &v2_aad[..], &b""[..]] {
                let (nonce, sealed) = body.split_at(NONCE_LEN);
                let mut buf = sealed.to_vec();
                let nonce = Nonce::try_assume_unique_for_key(nonce).unwrap();
                if let Ok(plain) = key.open_in_place(nonce, Aad::from(aad), &mut buf) {
                    return Some(plain.try_into().unwrap());
                }
            }
        }
    }
    None
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(files(&p)) } else { out.push(p) }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() { copy_dir(&p, &target) } else { std::fs::copy(&p, &target).map(|_| ()).unwrap() }
    }
}

/// Reads a blob from a copied blob directory, in-process, with `key` (as the tokenizer would serve it).
async fn read_blob(blob_dir: &Path, secrets: Arc<Secrets>, object_key: &str, key: &DataKey) -> (u16, Vec<u8>) {
    let blobs = BlobStore::new(blob_dir.to_owned(), "http://copy.invalid".into(), secrets, 1 << 20).unwrap();
    let url = blobs.presign_url(Method::Get, object_key, key, now_secs() + 60);
    let query = url.split_once('?').unwrap().1;
    let mut headers = HeaderMap::new();
    for (k, v) in key.sse_c_headers() {
        headers.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(&v).unwrap());
    }
    let resp = blobs.get(object_key, Some(query), &headers).await;
    let status = resp.status().as_u16();
    (status, axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec())
}

fn sse_key(headers: &[(String, String)]) -> [u8; 32] {
    let b64 = &headers.iter().find(|(k, _)| k == crypto::SSE_C_KEY).unwrap().1;
    STANDARD.decode(b64).unwrap().try_into().unwrap()
}

#[tokio::test]
async fn the_secret_and_a_copy_of_everything_unwrap_nothing_without_the_tokens() {
    let mut h = Harness::embedded().await;
    let user = h.user_jwt("victim");
    let mut issued = Vec::new(); // (token, data key handed out, plaintext)
    for i in 0..5 {
        let jwt = if i % 2 == 0 { user.clone() } else { h.app_jwt() };
        let (token, url, headers) = h.tokenize(&jwt, json!({"dataType":"string"})).await;
        let plain = format!("4111 1111 1111 {i:04} card number {i}").into_bytes();
        assert_eq!(upload(&h.client, &url, &headers, plain.clone()).await, 200);
        issued.push((Token::parse(&token).unwrap(), sse_key(&headers), plain));
    }
    h.shutdown().await;

    // One record the way tokenizers before v2 wrote it (secret-only wrapping), as a control: the
    // attack below must be able to unwrap that one, or it proves nothing.
    let secrets = Arc::new(Secrets::derive(SECRET));
    let legacy_token = Token::generate();
    let legacy_key = DataKey::generate();
    {
        let store = EmbeddedStore::open(&h.dir.join("store.redb")).unwrap();
        let rk = secrets.record_key(&legacy_token);
        let record = TokenRecord {
            wrapped_key: secrets.wrap_data_key_v1(&rk, &legacy_key),
            metadata: lunasec_core::protocol::Metadata::new(),
            created_ms: now_ms(),
        };
        store.put_token(rk, record, vec![], 0).await.unwrap();
    }

    // The theft: the data directory (store file and blobs) is copied; the attacker has the secret.
    let copy = temp_dir("stolen");
    copy_dir(&h.dir, &copy);
    let stolen_files = files(&copy);
    assert!(stolen_files.len() > issued.len(), "the store and the blobs were copied");
    for f in &stolen_files {
        let bytes = std::fs::read(f).unwrap();
        for (token, _, plain) in &issued {
            assert!(!contains(&bytes, token.as_str().as_bytes()), "a token is stored in {}", f.display());
            let uuid_hex: String = token.as_str()[8..].chars().filter(|c| *c != '-').collect();
            assert!(!contains(&bytes, uuid_hex.as_bytes()), "a token's UUID is stored in {}", f.display());
            assert!(!contains(&bytes, plain), "plaintext is stored in {}", f.display());
        }
    }
    let store = EmbeddedStore::open(&copy.join("store.redb")).unwrap();
    let records = store.token_records().unwrap();
    assert_eq!(records.len(), issued.len() + 1, "every record is listed");

    // Without the tokens: try every record with everything the secret yields.
    let mut unwrapped = Vec::new();
    for (rk, record) in &records {
        if record.wrapped_key.len() == WRAPPED_KEY_LEN {
            assert_eq!(record.wrapped_key[0], WRAP_V2, "new records are written as v2");
        } else {
            assert_eq!(record.wrapped_key.len(), WRAPPED_KEY_V1_LEN);
        }
        if let Some(k) = unwrap_without_token(SECRET, rk, &record.wrapped_key) {
            unwrapped.push((*rk, k));
        }
        // Guessing tokens does not help either.
        for _ in 0..3 {
            assert!(secrets.unwrap_data_key(&Token::generate(), &record.wrapped_key).is_err());
        }
    }
    assert_eq!(
        unwrapped,
        vec![(secrets.record_key(&legacy_token), legacy_key.0)],
        "the secret alone unwraps the v1 control record and nothing written by this version"
    );

    // With a token, its record (found by its record key) unwraps to the key the client was given,
    // and that key reads the stolen blob; the key of one token does not read another's blob.
    for (i, (token, handed_out, plain)) in issued.iter().enumerate() {
        let (_, record) = records.iter().find(|(rk, _)| *rk == secrets.record_key(token)).unwrap();
        let key = secrets.unwrap_data_key(token, &record.wrapped_key).unwrap();
        assert_eq!(&key.0, handed_out);
        let (status, got) =
            read_blob(&copy.join("blobs"), Arc::clone(&secrets), &secrets.object_key(token), &key).await;
        assert_eq!((status, &got), (200, plain));
        let (other, _, _) = &issued[(i + 1) % issued.len()];
        let (status, got) =
            read_blob(&copy.join("blobs"), Arc::clone(&secrets), &secrets.object_key(other), &key).await;
        assert_eq!(status, 403, "another token's blob under this key");
        assert!(!contains(&got, plain));
    }
    drop(store);
    let _ = std::fs::remove_dir_all(copy);
}

#[tokio::test]
async fn an_old_format_record_still_detokenizes_after_a_restart() {
    let keys = default_keyset();
    let jwks = JwksServer::start(keys.jwks_json()).await;
    let parent = temp_dir("v1-upgrade");
    let dir = parent.join("data");
    let config = embedded_config(dir.clone(), &jwks.url());
    // A tokenizer runs on the data dir and stops (a v2 record as a control).
    let mut h1 = Harness::start(config.clone(), default_keyset(), None, temp_dir("unused")).await;
    let (v2_token, url, headers) = h1.tokenize(&h1.app_jwt(), json!({"dataType":"string"})).await;
    assert_eq!(upload(&h1.client, &url, &headers, b"written as v2".to_vec()).await, 200);
    h1.shutdown().await;

    // A record as an earlier version wrote it: v1 wrapping, a read grant for a user session.
    let secrets = Arc::new(Secrets::derive(SECRET));
    let token = Token::generate();
    let data_key = DataKey::generate();
    let rk = secrets.record_key(&token);
    {
        let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
        let mut metadata = lunasec_core::protocol::Metadata::new();
        metadata.insert("dataType".into(), "string".into());
        let wrapped_key = secrets.wrap_data_key_v1(&rk, &data_key);
        assert_eq!(wrapped_key.len(), WRAPPED_KEY_V1_LEN);
        let record = TokenRecord { wrapped_key, metadata, created_ms: now_ms() };
        let grant = GrantKey { session: secrets.session_hash("old-user"), token: rk, kind: GrantKind::ReadToken };
        store.put_token(rk, record, vec![grant], now_ms() + 3_600_000).await.unwrap();
    }

    // Restart on the same data dir.
    let h2 = Harness::start(config, default_keyset(), None, parent).await;
    // The old record's ciphertext, uploaded with a URL the old tokenizer would have issued.
    let blobs = BlobStore::new(dir.join("blobs"), h2.base.clone(), Arc::clone(&secrets), 1 << 20).unwrap();
    let put_url = blobs.presign_url(Method::Put, &secrets.object_key(&token), &data_key, now_secs() + 600);
    let put_headers: Vec<(String, String)> = data_key.sse_c_headers().into_iter().collect();
    assert_eq!(upload(&h2.client, &put_url, &put_headers, b"written before v2".to_vec()).await, 200);

    for jwt in [h2.app_jwt(), h2.user_jwt("old-user")] {
        let r = h2.detokenize(&jwt, token.as_str()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let dl_headers = headers_of(&r.body["data"]["headers"]);
        assert_eq!(sse_key(&dl_headers), data_key.0, "the v1 record's own data key");
        let (status, got) = download(&h2.client, r.body["data"]["downloadUrl"].as_str().unwrap(), &dl_headers).await;
        assert_eq!((status, got), (200, b"written before v2".to_vec()));
    }
    let r = h2.post("/metadata/get", Some(&h2.user_jwt("old-user")), &json!({"tokenId": token.as_str()})).await;
    assert_eq!(r.body["data"]["metadata"], json!({"dataType":"string"}));
    assert_eq!(h2.detokenize(&h2.user_jwt("someone-else"), token.as_str()).await.status, 403);
    // The v2 record beside it, and a new one, work as usual.
    let r = h2.detokenize(&h2.app_jwt(), &v2_token).await;
    let (status, got) =
        download(&h2.client, r.body["data"]["downloadUrl"].as_str().unwrap(), &headers_of(&r.body["data"]["headers"]))
            .await;
    assert_eq!((status, got), (200, b"written as v2".to_vec()));
    let (new_token, _, _) = h2.tokenize(&h2.app_jwt(), json!({})).await;
    assert_eq!(h2.detokenize(&h2.app_jwt(), &new_token).await.status, 200);
    drop(jwks);
}
