//! Embedded ciphertext mode: the tokenizer serves its own presigned blob URLs, so tokenize +
//! upload + detokenize + download work with no S3 at all.
//!
//! A URL is `<public url>/blob/<object key>?method=PUT|GET&expires=<unix secs>&signature=<hex>`,
//! where the signature is an HMAC (key `blob-url`) over method, object key, expiry and the MD5 of
//! the SSE-C customer key it was issued for. As with S3 SSE-C, the client must send the three
//! SSE-C headers: missing or malformed → 400, a key other than the one the URL was signed for (or
//! a key-MD5 that does not match the key) → 403, expired or tampered URL → 403.
//!
//! At rest each object is a file `blobs/<2 hex>/<object key>`, encrypted with AES-256-GCM under the
//! customer key in 64 KiB segments (the STREAM construction: nonce = 7 random bytes ‖ segment
//! counter ‖ last-segment flag; AAD = object key), so uploads and downloads stream with bounded
//! memory, truncation and reordering are detected, and a file only decrypts under its own name.
//! Uploads go to a temporary file that is renamed into place only when complete, then the directory
//! is synced: an interrupted or oversized upload leaves nothing behind (the temporary file is removed
//! even when the connection drops and the handler is cancelled mid-stream, and leftovers of a crash
//! are removed at the next start), and a partial upload reads as absent, never as truncated data.
//!
//! Tokens whose upload never happened: `/tokenize` leaves a marker `pending-uploads/<object key>` (beside
//! the blob directory) naming the
//! token's record and a deadline (the URL's expiry plus a minute). [`BlobStore::sweep_pending`]
//! deletes the record of every token whose deadline passed with no object and no upload in progress,
//! so signed-in callers cannot fill the record store with tokens that hold nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt as _, StreamExt as _};
use lunasec_core::jwt::now_secs;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{CiphertextError, CiphertextStore, Method, PRESIGN_TTL, Presigned};
use crate::crypto::{self, DataKey, Hash32, SSE_C_ALGORITHM, SSE_C_KEY, SSE_C_KEY_MD5, Secrets};
use crate::error::ApiError;
use crate::store::RecordStore;

const MAGIC: &[u8; 8] = b"LSBLOB1\0";
const PREFIX_LEN: usize = 7;
const HEADER_LEN: usize = MAGIC.len() + PREFIX_LEN;
/// Plaintext bytes per segment.
pub const SEGMENT: usize = 64 * 1024;
const TAG: usize = 16;

/// The embedded blob store.
pub struct BlobStore {
    dir: PathBuf,
    public_url: String,
    secrets: Arc<Secrets>,
    max_size: u64,
    /// Minimum upload rate: at least `.0` bytes in every `.1` (`.0 == 0`: no check).
    min_rate: (u64, std::time::Duration),
    /// Object keys with an upload in progress (and how many), so the sweep never purges a token
    /// whose upload started before its URL expired and is still running.
    uploading: Arc<Mutex<HashMap<String, usize>>>,
}

/// Extra time after a PUT URL's expiry before a token with no object is purged.
pub const PENDING_GRACE_SECS: u64 = 60;

/// A file under `tmp/`, removed when dropped unless [`TempFile::keep`] was called: an upload cut
/// off mid-stream drops the handler's future before any code after an `.await` runs.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            // One unlink: cheap enough to run where the future is dropped.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Marks an object key as being uploaded for as long as it lives.
struct Uploading {
    map: Arc<Mutex<HashMap<String, usize>>>,
    key: String,
}

impl Uploading {
    fn new(map: &Arc<Mutex<HashMap<String, usize>>>, key: &str) -> Self {
        *map.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(key.to_owned()).or_insert(0) += 1;
        Self { map: Arc::clone(map), key: key.to_owned() }
    }
}

impl Drop for Uploading {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

fn pending_dir_of(blob_dir: &Path) -> PathBuf {
    blob_dir.parent().unwrap_or(blob_dir).join("pending-uploads")
}

/// Makes a directory entry (a rename or a new file) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore").field("dir", &self.dir).field("max_size", &self.max_size).finish_non_exhaustive()
    }
}

fn blob_error(status: StatusCode, name: &'static str, message: &'static str) -> ApiError {
    ApiError::new(status, name, message)
}

fn segment_nonce(prefix: [u8; PREFIX_LEN], counter: u32, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..PREFIX_LEN].copy_from_slice(&prefix);
    n[PREFIX_LEN..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

fn aead_key(key: &DataKey) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key.0).expect("a 32-byte AES-256 key is valid"))
}

/// The object key from a URL path segment: exactly 64 lowercase hex characters (so it can never
/// name anything outside the blob directory).
fn valid_object_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The verified parts of a blob request.
struct Authorized {
    object_key: String,
    key: DataKey,
}

impl BlobStore {
    /// A blob store under `dir` (created if missing). Temporary files left by an earlier process
    /// (a crash mid-upload) are removed: nothing can be writing to them now.
    pub fn new(dir: PathBuf, public_url: String, secrets: Arc<Secrets>, max_size: u64) -> std::io::Result<Self> {
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(pending_dir_of(&dir))?;
        let mut stale = 0usize;
        for entry in std::fs::read_dir(&tmp)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::remove_file(entry.path())?;
                stale += 1;
            }
        }
        if stale > 0 {
            tracing::info!(files = stale, "blob store: removed temporary files of interrupted uploads");
        }
        Ok(Self {
            dir,
            public_url: public_url.trim_end_matches('/').to_owned(),
            secrets,
            max_size,
            min_rate: (0, std::time::Duration::from_secs(10)),
            uploading: Arc::default(),
        })
    }

    /// How many temporary (in-progress) upload files exist; for tests and the soak's leak checks.
    pub fn temp_files(&self) -> std::io::Result<usize> {
        Ok(std::fs::read_dir(self.dir.join("tmp"))?.count())
    }

    /// Markers live beside the blob directory (`<data dir>/pending-uploads/`), not in it: the blob
    /// directory holds objects and in-progress uploads only.
    fn pending_dir(&self) -> PathBuf {
        pending_dir_of(&self.dir)
    }

    fn pending_path(&self, object_key: &str) -> PathBuf {
        self.pending_dir().join(object_key)
    }

    /// Records that `record_key`'s object is expected at `object_key` by `url_expires` (unix
    /// seconds); [`Self::sweep_pending`] purges the record if it never arrives. Written before the
    /// record, so a failure in between leaves only a marker naming nothing.
    pub async fn expect_upload(&self, object_key: &str, record_key: &Hash32, url_expires: u64) -> std::io::Result<()> {
        if !valid_object_key(object_key) {
            return Err(std::io::Error::other("invalid object key"));
        }
        let deadline = url_expires.saturating_add(PENDING_GRACE_SECS);
        tokio::fs::write(self.pending_path(object_key), format!("{}\n{deadline}\n", crypto::hex(record_key))).await
    }

    /// Purges the records of tokens whose upload deadline passed with no object stored and no
    /// upload in progress, and drops the markers of tokens whose object arrived. Returns how many
    /// records were purged. A marker that cannot be read is left for a person to look at.
    pub async fn sweep_pending(&self, store: &dyn RecordStore, now_secs: u64) -> std::io::Result<u64> {
        let dir = self.pending_dir();
        let names = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<String>> {
            let mut names = Vec::new();
            for entry in std::fs::read_dir(dir)? {
                if let Some(name) = entry?.file_name().to_str().filter(|n| valid_object_key(n)) {
                    names.push(name.to_owned());
                }
            }
            Ok(names)
        })
        .await
        .map_err(std::io::Error::other)??;
        let mut purged = 0;
        for object_key in names {
            let marker = self.pending_path(&object_key);
            let Ok(text) = tokio::fs::read_to_string(&marker).await else { continue };
            let mut lines = text.lines();
            let (Some(record_key), Some(deadline)) =
                (lines.next().and_then(crypto::unhex::<32>), lines.next().and_then(|d| d.parse::<u64>().ok()))
            else {
                tracing::warn!("blob store: an unreadable upload marker was left in place");
                continue;
            };
            if deadline > now_secs
                || self.uploading.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(&object_key)
            {
                continue;
            }
            if !tokio::fs::try_exists(self.path_of(&object_key)).await? {
                match store.delete_token(record_key).await {
                    Ok(_) => purged += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "blob store: purging a token that was never uploaded failed");
                        continue;
                    }
                }
            }
            tokio::fs::remove_file(&marker).await?;
        }
        if purged > 0 {
            tracing::info!(tokens = purged, "purged tokens whose upload never completed");
        }
        Ok(purged)
    }

    /// Cuts off uploads during which fewer than `bytes` arrived in some `window` (a trickled
    /// upload would otherwise hold a socket and a temporary file for as long as its client likes).
    #[must_use]
    pub fn with_min_upload_rate(mut self, bytes: u64, window: std::time::Duration) -> Self {
        self.min_rate = (bytes, window);
        self
    }

    fn path_of(&self, object_key: &str) -> PathBuf {
        self.dir.join(&object_key[..2]).join(object_key)
    }

    /// The presigned URL (pure computation).
    #[must_use]
    pub fn presign_url(&self, method: Method, object_key: &str, key: &DataKey, expires: u64) -> String {
        let sig = self.secrets.blob_signature(method.as_str(), object_key, expires, &key.md5_base64());
        format!(
            "{}/blob/{object_key}?method={}&expires={expires}&signature={}",
            self.public_url,
            method.as_str(),
            crypto::hex(&sig)
        )
    }

    /// Checks URL signature, expiry and SSE-C headers, in S3's order of complaints.
    fn authorize(
        &self,
        method: Method,
        object_key: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Authorized, ApiError> {
        if !valid_object_key(object_key) {
            return Err(blob_error(StatusCode::NOT_FOUND, "noSuchKey", "no such object"));
        }
        let (mut m, mut exp, mut sig) = (None, None, None);
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*k {
                "method" => m = Some(v.into_owned()),
                "expires" => exp = v.parse::<u64>().ok(),
                "signature" => sig = crypto::unhex::<32>(&v),
                _ => {}
            }
        }
        let denied = || blob_error(StatusCode::FORBIDDEN, "accessDenied", "the URL's signature does not match");
        let (Some(m), Some(exp), Some(sig)) = (m, exp, sig) else { return Err(denied()) };
        if m != method.as_str() {
            return Err(denied());
        }
        if now_secs() > exp {
            return Err(blob_error(StatusCode::FORBIDDEN, "accessDenied", "the URL has expired"));
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let (Some(alg), Some(key_b64), Some(md5)) = (header(SSE_C_ALGORITHM), header(SSE_C_KEY), header(SSE_C_KEY_MD5))
        else {
            return Err(blob_error(
                StatusCode::BAD_REQUEST,
                "invalidRequest",
                "the object is encrypted with a customer key: send the three x-amz-server-side-encryption-customer-* headers",
            ));
        };
        if alg != "AES256" {
            return Err(blob_error(StatusCode::BAD_REQUEST, "invalidArgument", "the SSE-C algorithm must be AES256"));
        }
        let key: [u8; 32] = STANDARD.decode(key_b64).ok().and_then(|k| k.try_into().ok()).ok_or_else(|| {
            blob_error(StatusCode::BAD_REQUEST, "invalidArgument", "the SSE-C key must be 32 bytes, base64")
        })?;
        let key = DataKey(key);
        let actual_md5 = key.md5_base64();
        if !crypto::ct_eq(actual_md5.as_bytes(), md5.as_bytes()) {
            return Err(blob_error(StatusCode::FORBIDDEN, "accessDenied", "the SSE-C key MD5 does not match the key"));
        }
        if !self.secrets.verify_blob_signature(method.as_str(), object_key, exp, &actual_md5, &sig) {
            return Err(denied());
        }
        Ok(Authorized { object_key: object_key.to_owned(), key })
    }

    /// `PUT /blob/<key>`: streams the body, encrypted, into place.
    pub async fn put(&self, object_key: &str, query: Option<&str>, headers: &HeaderMap, body: Body) -> Response {
        match self.put_inner(object_key, query, headers, body).await {
            Ok(()) => {
                let mut r = StatusCode::OK.into_response();
                r.headers_mut().insert(SSE_C_ALGORITHM, HeaderValue::from_static("AES256"));
                r
            }
            Err(e) => e.into_response(),
        }
    }

    async fn put_inner(
        &self,
        object_key: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<(), ApiError> {
        let auth = self.authorize(Method::Put, object_key, query, headers)?;
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payloadTooLarge",
                "the object is larger than the blob size limit",
            )
        };
        if let Some(len) =
            headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
            && len > self.max_size
        {
            return Err(too_large());
        }
        let _uploading = Uploading::new(&self.uploading, &auth.object_key);
        let tmp = TempFile { path: self.dir.join("tmp").join(crypto::hex(&crypto::random::<16>())), armed: true };
        self.write_encrypted(&tmp.path, &auth, body, too_large).await?;
        let dest = self.path_of(&auth.object_key);
        let shard = dest.parent().unwrap_or(&self.dir).to_path_buf();
        let (dir, pending, from) = (self.dir.clone(), self.pending_path(&auth.object_key), tmp.path.clone());
        // Blocking file-system calls, in order: the shard directory (synced into its parent when
        // new), the rename, the directory sync that makes the rename durable, then the marker.
        let moved = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if !shard.is_dir() {
                std::fs::create_dir_all(&shard)?;
                sync_dir(&dir)?;
            }
            std::fs::rename(&from, &dest)?;
            sync_dir(&shard)?;
            // Best effort: a marker left behind is dropped by the sweep, which finds the object.
            let _ = std::fs::remove_file(&pending);
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        match moved {
            Ok(()) => {
                tmp.keep();
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "blob store: cannot move an upload into place");
                Err(ApiError::internal())
            }
        }
    }

    async fn write_encrypted(
        &self,
        tmp: &Path,
        auth: &Authorized,
        body: Body,
        too_large: impl Fn() -> ApiError,
    ) -> Result<(), ApiError> {
        let io_err = |e: std::io::Error| {
            tracing::error!(error = %e, "blob store: write failed");
            ApiError::internal()
        };
        let mut file = tokio::fs::OpenOptions::new().write(true).create_new(true).open(tmp).await.map_err(io_err)?;
        let prefix: [u8; PREFIX_LEN] = crypto::random();
        let mut head = Vec::with_capacity(HEADER_LEN);
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&prefix);
        file.write_all(&head).await.map_err(io_err)?;
        let cipher = aead_key(&auth.key);
        let object_name = auth.object_key.as_bytes();
        let mut counter: u32 = 0;
        let mut pending: Vec<u8> = Vec::with_capacity(SEGMENT * 2);
        let mut total: u64 = 0;
        let mut stream = body.into_data_stream();
        let (min_bytes, window) = self.min_rate;
        let mut window_end = tokio::time::Instant::now() + window;
        let mut in_window: u64 = 0;
        loop {
            let next = if min_bytes == 0 {
                stream.next().await
            } else {
                tokio::select! {
                    next = stream.next() => next,
                    () = tokio::time::sleep_until(window_end) => {
                        if in_window < min_bytes {
                            tracing::info!("blob store: an upload below the minimum rate was cut off");
                            return Err(ApiError::new(
                                StatusCode::REQUEST_TIMEOUT,
                                "uploadTooSlow",
                                "the upload was slower than the minimum rate",
                            ));
                        }
                        in_window = 0;
                        window_end += window;
                        continue;
                    }
                }
            };
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|_| ApiError::bad_request("incompleteBody", "the upload was interrupted"))?;
            total += chunk.len() as u64;
            in_window += chunk.len() as u64;
            if total > self.max_size {
                return Err(too_large());
            }
            pending.extend_from_slice(&chunk);
            // Seal full segments, always keeping at least one byte back: the last segment is only
            // known at the end of the stream.
            while pending.len() > SEGMENT {
                let mut seg: Vec<u8> = pending.drain(..SEGMENT).collect();
                seal(&cipher, prefix, counter, false, object_name, &mut seg)?;
                counter = counter.checked_add(1).ok_or_else(&too_large)?;
                file.write_all(&seg).await.map_err(io_err)?;
            }
        }
        seal(&cipher, prefix, counter, true, object_name, &mut pending)?;
        file.write_all(&pending).await.map_err(io_err)?;
        file.sync_all().await.map_err(io_err)?;
        Ok(())
    }

    /// `GET /blob/<key>`: checks, decrypts the first segment (so a bad key fails before any byte
    /// is sent), then streams the rest.
    pub async fn get(&self, object_key: &str, query: Option<&str>, headers: &HeaderMap) -> Response {
        match self.get_inner(object_key, query, headers).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        }
    }

    async fn get_inner(
        &self,
        object_key: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Response, ApiError> {
        let auth = self.authorize(Method::Get, object_key, query, headers)?;
        let path = self.path_of(&auth.object_key);
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(blob_error(StatusCode::NOT_FOUND, "noSuchKey", "no such object"));
            }
            Err(e) => {
                tracing::error!(error = %e, "blob store: open failed");
                return Err(ApiError::internal());
            }
        };
        let corrupt = || {
            tracing::error!("blob store: an object is corrupt or was encrypted under another key");
            ApiError::internal()
        };
        let file_len = file.metadata().await.map_err(|_| corrupt())?.len();
        let mut head = [0u8; HEADER_LEN];
        file.read_exact(&mut head).await.map_err(|_| corrupt())?;
        if &head[..MAGIC.len()] != MAGIC {
            return Err(corrupt());
        }
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&head[MAGIC.len()..]);
        let body_len = file_len.checked_sub(HEADER_LEN as u64).filter(|l| *l >= TAG as u64).ok_or_else(corrupt)?;
        let seg_disk = (SEGMENT + TAG) as u64;
        let segments = body_len.div_ceil(seg_disk);
        let plain_len = body_len - segments * TAG as u64;
        let segments = u32::try_from(segments).map_err(|_| corrupt())?;

        let reader = SegmentReader {
            file,
            aead: aead_key(&auth.key),
            prefix,
            aad: auth.object_key.into_bytes(),
            remaining: body_len,
            counter: 0,
            segments,
        };
        let (first, reader) = reader.next_segment().await.map_err(|()| {
            blob_error(StatusCode::FORBIDDEN, "accessDenied", "the object does not decrypt with this customer key")
        })?;
        let tail = futures_util::stream::unfold(Some(reader), |state| async move {
            let reader = state?;
            if reader.remaining == 0 {
                return None;
            }
            if let Ok((bytes, next)) = reader.next_segment().await {
                Some((Ok::<Bytes, std::io::Error>(bytes), Some(next)))
            } else {
                tracing::error!("blob store: a segment failed to decrypt mid-stream");
                Some((Err(std::io::Error::other("corrupt blob")), None))
            }
        });
        let stream = futures_util::stream::once(async move { Ok(first) }).chain(tail);
        let mut resp = Response::new(Body::from_stream(stream));
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(plain_len));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(SSE_C_ALGORITHM, HeaderValue::from_static("AES256"));
        if let Ok(v) = HeaderValue::from_str(&auth.key.md5_base64()) {
            h.insert(SSE_C_KEY_MD5, v);
        }
        Ok(resp)
    }
}

fn seal(
    cipher: &LessSafeKey,
    prefix: [u8; PREFIX_LEN],
    counter: u32,
    last: bool,
    object_name: &[u8],
    buf: &mut Vec<u8>,
) -> Result<(), ApiError> {
    cipher
        .seal_in_place_append_tag(segment_nonce(prefix, counter, last), Aad::from(object_name), buf)
        .map_err(|_| ApiError::internal())
}

struct SegmentReader {
    file: tokio::fs::File,
    aead: LessSafeKey,
    prefix: [u8; PREFIX_LEN],
    aad: Vec<u8>,
    remaining: u64,
    counter: u32,
    segments: u32,
}

impl SegmentReader {
    async fn next_segment(mut self) -> Result<(Bytes, Self), ()> {
        let seg_disk = (SEGMENT + TAG) as u64;
        let len = usize::try_from(self.remaining.min(seg_disk)).map_err(|_| ())?;
        let mut buf = vec![0u8; len];
        self.file.read_exact(&mut buf).await.map_err(|_| ())?;
        self.remaining -= len as u64;
        let last = self.counter + 1 == self.segments;
        let plain_len = self
            .aead
            .open_in_place(segment_nonce(self.prefix, self.counter, last), Aad::from(&self.aad[..]), &mut buf)
            .map_err(|_| ())?
            .len();
        buf.truncate(plain_len);
        self.counter += 1;
        Ok((Bytes::from(buf), self))
    }
}

impl CiphertextStore for BlobStore {
    fn presign<'a>(
        &'a self,
        method: Method,
        object_key: &'a str,
        key: &'a DataKey,
    ) -> BoxFuture<'a, Result<Presigned, CiphertextError>> {
        let expires = now_secs() + PRESIGN_TTL.as_secs();
        let url = self.presign_url(method, object_key, key, expires);
        async move { Ok(Presigned { url, headers: key.sse_c_headers() }) }.boxed()
    }

    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn browser_origin(&self) -> BoxFuture<'_, Option<String>> {
        std::future::ready(super::origin_of(&self.public_url)).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TokenRecord;
    use crate::store::embedded::EmbeddedStore;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lunasec-blob-{tag}-{}", crypto::hex(&crypto::random::<8>())));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn store_at(dir: &Path) -> BlobStore {
        let secrets = Arc::new(Secrets::derive(&[7u8; 32]));
        BlobStore::new(dir.join("blobs"), "http://127.0.0.1:1".into(), secrets, 1 << 20).unwrap()
    }

    fn put_request(store: &BlobStore, object_key: &str, key: &DataKey) -> (String, HeaderMap) {
        let url = store.presign_url(Method::Put, object_key, key, now_secs() + 60);
        let query = url.split_once('?').unwrap().1.to_owned();
        let mut headers = HeaderMap::new();
        for (k, v) in key.sse_c_headers() {
            headers.insert(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        (query, headers)
    }

    #[test]
    fn temporary_files_of_an_earlier_process_are_removed_at_start() {
        let dir = temp_dir("stale");
        let first = store_at(&dir);
        std::fs::write(dir.join("blobs/tmp/0123abcd"), b"half an upload").unwrap();
        assert_eq!(first.temp_files().unwrap(), 1);
        drop(first);
        let second = store_at(&dir);
        assert_eq!(second.temp_files().unwrap(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn an_upload_cut_off_mid_stream_leaves_no_temporary_file() {
        let dir = temp_dir("cut");
        let store = store_at(&dir);
        let object_key = crypto::hex(&crypto::random::<32>());
        let key = DataKey::generate();
        let (query, headers) = put_request(&store, &object_key, &key);
        // One chunk, then a body that never ends: the client stalls, then its connection drops
        // (the handler's future is dropped, as hyper does).
        let body = Body::from_stream(
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 100_000]))])
                .chain(futures_util::stream::pending()),
        );
        let put = store.put(&object_key, Some(&query), &headers, body);
        let cut = tokio::time::timeout(std::time::Duration::from_millis(200), put).await;
        assert!(cut.is_err(), "the upload must still be waiting for its body");
        assert_eq!(store.temp_files().unwrap(), 0, "the temporary file is removed when the upload is dropped");
        assert!(!store.path_of(&object_key).exists());
        assert!(store.uploading.lock().unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn tokens_never_uploaded_are_purged_after_their_deadline_and_no_other() {
        let dir = temp_dir("pending");
        let blobs = store_at(&dir);
        let records = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
        let record = || TokenRecord {
            wrapped_key: vec![2; 61],
            metadata: lunasec_core::protocol::Metadata::default(),
            created_ms: 1,
        };
        let now = now_secs();
        let (never, uploaded, fresh) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let (k_never, k_uploaded, k_fresh) =
            (crypto::hex(&[11u8; 32]), crypto::hex(&[12u8; 32]), crypto::hex(&[13u8; 32]));
        for (rk, ok, expires) in
            [(never, &k_never, now - 600), (uploaded, &k_uploaded, now - 600), (fresh, &k_fresh, now + 600)]
        {
            blobs.expect_upload(ok, &rk, expires).await.unwrap();
            records.put_token(rk, record(), Vec::new(), 0).await.unwrap();
        }
        // The uploaded one has its object (the marker is still there, as after a crash).
        let shard = blobs.path_of(&k_uploaded);
        std::fs::create_dir_all(shard.parent().unwrap()).unwrap();
        std::fs::write(&shard, b"ciphertext").unwrap();
        // An upload in progress past the deadline is not purged either.
        let in_progress = Uploading::new(&blobs.uploading, &k_never);
        assert_eq!(blobs.sweep_pending(&records, now).await.unwrap(), 0);
        assert!(records.get_token(never).await.unwrap().is_some());
        drop(in_progress);

        assert_eq!(blobs.sweep_pending(&records, now).await.unwrap(), 1);
        assert!(records.get_token(never).await.unwrap().is_none(), "never uploaded: purged");
        assert!(records.get_token(uploaded).await.unwrap().is_some(), "uploaded: kept");
        assert!(records.get_token(fresh).await.unwrap().is_some(), "URL still valid: kept");
        assert!(!blobs.pending_path(&k_never).exists());
        assert!(!blobs.pending_path(&k_uploaded).exists(), "the marker of an uploaded token is dropped");
        assert!(blobs.pending_path(&k_fresh).exists());
        // A second sweep finds nothing more to do.
        assert_eq!(blobs.sweep_pending(&records, now).await.unwrap(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
