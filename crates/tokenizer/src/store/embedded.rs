//! The embedded record store: one redb file in the data directory. Every operation is one redb
//! transaction (run on the blocking pool); a state's consumption (insert if absent) and grant
//! writes happen inside write transactions, which redb serializes, so they are atomic. Commits are durable
//! (`Durability::Immediate`). An expiry index makes the periodic sweep proportional to what expired.

use std::path::Path;
use std::sync::Arc;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use lunasec_core::protocol::Metadata;
use redb::{Database, Durability, ReadableDatabase as _, ReadableTable as _, TableDefinition, WriteTransaction};

use super::{GrantKey, PURGE_BATCH, RecordStore, StateConsume, StoreError, StoreResult, TokenRecord};
use crate::crypto::Hash32;

const TOKENS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tokens");
/// state key → `[expires_ms: u64 BE][used: u8 = 1]`: only *used* states are recorded (issuing one
/// stores nothing), until their expiry.
const STATES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("states");
/// session hash ‖ record key ‖ grant kind code → `expires_ms`
const GRANTS: TableDefinition<&[u8], u64> = TableDefinition::new("grants");
/// tag (`g` grant, `s` state) ‖ `expires_ms` (big-endian) ‖ key → ()
const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("expiry");

const RECORD_VERSION: u8 = 1;

/// The redb-backed store.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmbeddedStore")
    }
}

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Failed(format!("embedded store: {e}"))
}

fn grant_key_bytes(g: &GrantKey) -> [u8; 65] {
    let mut k = [0u8; 65];
    k[..32].copy_from_slice(&g.session);
    k[32..64].copy_from_slice(&g.token);
    k[64] = g.kind.code();
    k
}

fn expiry_key(tag: u8, expires_ms: u64, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + key.len());
    k.push(tag);
    k.extend_from_slice(&expires_ms.to_be_bytes());
    k.extend_from_slice(key);
    k
}

fn encode_record(r: &TokenRecord) -> StoreResult<Vec<u8>> {
    let meta = serde_json::to_vec(&r.metadata).map_err(failed)?;
    let wk_len = u16::try_from(r.wrapped_key.len()).map_err(failed)?;
    let mut out = Vec::with_capacity(11 + r.wrapped_key.len() + meta.len());
    out.push(RECORD_VERSION);
    out.extend_from_slice(&r.created_ms.to_be_bytes());
    out.extend_from_slice(&wk_len.to_be_bytes());
    out.extend_from_slice(&r.wrapped_key);
    out.extend_from_slice(&meta);
    Ok(out)
}

fn decode_record(b: &[u8]) -> StoreResult<TokenRecord> {
    let bad = || failed("a token record is corrupt");
    if b.len() < 11 || b[0] != RECORD_VERSION {
        return Err(bad());
    }
    let created_ms = u64::from_be_bytes(b[1..9].try_into().map_err(|_| bad())?);
    let wk_len = usize::from(u16::from_be_bytes([b[9], b[10]]));
    let rest = &b[11..];
    if rest.len() < wk_len {
        return Err(bad());
    }
    let (wk, meta) = rest.split_at(wk_len);
    let metadata: Metadata = serde_json::from_slice(meta).map_err(|_| bad())?;
    Ok(TokenRecord { wrapped_key: wk.to_vec(), metadata, created_ms })
}

fn write_grant(txn: &WriteTransaction, g: &GrantKey, expires_ms: u64) -> Result<(), redb::Error> {
    let key = grant_key_bytes(g);
    let mut grants = txn.open_table(GRANTS)?;
    let mut expiry = txn.open_table(EXPIRY)?;
    let old = grants.insert(&key[..], expires_ms)?.map(|v| v.value());
    if let Some(old) = old {
        expiry.remove(&expiry_key(b'g', old, &key)[..])?;
    }
    expiry.insert(&expiry_key(b'g', expires_ms, &key)[..], ())?;
    Ok(())
}

impl EmbeddedStore {
    /// Opens (or creates) the store file. Fails when another process holds it.
    pub fn open(path: &Path) -> Result<Self, String> {
        let db = Database::builder().set_cache_size(64 << 20).create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => format!(
                "the embedded store {} is in use by another process (one tokenizer per data directory; use STORAGE_BACKEND=dynamodb to run several)",
                path.display()
            ),
            other => format!("cannot open the embedded store {}: {other}", path.display()),
        })?;
        let store = Self { db: Arc::new(db) };
        store
            .write(|txn| {
                txn.open_table(TOKENS)?;
                txn.open_table(STATES)?;
                txn.open_table(GRANTS)?;
                txn.open_table(EXPIRY)?;
                Ok(())
            })
            .map_err(|e| format!("cannot initialise the embedded store {}: {e}", path.display()))?;
        Ok(store)
    }

    /// Numbers of token records, states and grants (expired ones included until swept).
    pub fn counts(&self) -> StoreResult<(u64, u64, u64)> {
        use redb::ReadableTableMetadata as _;
        let txn = self.db.begin_read().map_err(failed)?;
        let tokens = txn.open_table(TOKENS).map_err(failed)?.len().map_err(failed)?;
        let states = txn.open_table(STATES).map_err(failed)?.len().map_err(failed)?;
        let grants = txn.open_table(GRANTS).map_err(failed)?.len().map_err(failed)?;
        Ok((tokens, states, grants))
    }

    /// Every token record with its record key, in key order. **For audits and tests** (e.g.
    /// showing that no record's data key unwraps without its token); the server never lists.
    #[doc(hidden)]
    pub fn token_records(&self) -> StoreResult<Vec<(Hash32, TokenRecord)>> {
        let txn = self.db.begin_read().map_err(failed)?;
        let tokens = txn.open_table(TOKENS).map_err(failed)?;
        tokens
            .iter()
            .map_err(failed)?
            .map(|entry| {
                let (k, v) = entry.map_err(failed)?;
                let key: Hash32 = k.value().try_into().map_err(|_| failed("a token record key is corrupt"))?;
                Ok((key, decode_record(v.value())?))
            })
            .collect()
    }

    /// Runs `f` in a durable write transaction and commits it if `f` returns `Ok`.
    fn write<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T, redb::Error>) -> StoreResult<T> {
        let mut txn = self.db.begin_write().map_err(failed)?;
        txn.set_durability(Durability::Immediate).map_err(failed)?;
        let out = f(&txn).map_err(failed)?;
        txn.commit().map_err(failed)?;
        Ok(out)
    }

    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Self) -> StoreResult<T> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<T>> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this))
            .map(|r| r.unwrap_or_else(|e| Err(failed(format!("store task failed: {e}")))))
            .boxed()
    }
}

impl RecordStore for EmbeddedStore {
    fn put_token(
        &self,
        key: Hash32,
        record: TokenRecord,
        grants: Vec<GrantKey>,
        grant_expires_ms: u64,
    ) -> BoxFuture<'_, StoreResult<()>> {
        self.blocking(move |s| {
            let bytes = encode_record(&record)?;
            let mut collision = false;
            s.write(|txn| {
                let mut tokens = txn.open_table(TOKENS)?;
                if tokens.get(&key[..])?.is_some() {
                    collision = true;
                    return Ok(());
                }
                tokens.insert(&key[..], &bytes[..])?;
                drop(tokens);
                for g in &grants {
                    write_grant(txn, g, grant_expires_ms)?;
                }
                Ok(())
            })?;
            if collision { Err(failed("token record already exists")) } else { Ok(()) }
        })
    }

    fn get_token(&self, key: Hash32) -> BoxFuture<'_, StoreResult<Option<TokenRecord>>> {
        self.blocking(move |s| {
            let txn = s.db.begin_read().map_err(failed)?;
            let tokens = txn.open_table(TOKENS).map_err(failed)?;
            let found = tokens.get(&key[..]).map_err(failed)?;
            found.map(|v| decode_record(v.value())).transpose()
        })
    }

    fn delete_token(&self, key: Hash32) -> BoxFuture<'_, StoreResult<bool>> {
        self.blocking(move |s| {
            s.write(|txn| {
                let mut tokens = txn.open_table(TOKENS)?;
                Ok(tokens.remove(&key[..])?.is_some())
            })
        })
    }

    fn set_metadata(&self, key: Hash32, metadata: Metadata) -> BoxFuture<'_, StoreResult<bool>> {
        self.blocking(move |s| {
            let mut txn = s.db.begin_write().map_err(failed)?;
            txn.set_durability(Durability::Immediate).map_err(failed)?;
            let updated = {
                let mut tokens = txn.open_table(TOKENS).map_err(failed)?;
                let old = tokens.get(&key[..]).map_err(failed)?.map(|v| decode_record(v.value())).transpose()?;
                match old {
                    None => false,
                    Some(mut rec) => {
                        rec.metadata = metadata;
                        let bytes = encode_record(&rec)?;
                        tokens.insert(&key[..], &bytes[..]).map_err(failed)?;
                        true
                    }
                }
            };
            if updated {
                txn.commit().map_err(failed)?;
            } else {
                txn.abort().map_err(failed)?;
            }
            Ok(updated)
        })
    }

    fn consume_state(&self, key: Hash32, expires_ms: u64) -> BoxFuture<'_, StoreResult<StateConsume>> {
        self.blocking(move |s| {
            let mut txn = s.db.begin_write().map_err(failed)?;
            txn.set_durability(Durability::Immediate).map_err(failed)?;
            let fresh = {
                let mut states = txn.open_table(STATES).map_err(failed)?;
                if states.get(&key[..]).map_err(failed)?.is_some() {
                    false
                } else {
                    let mut value = [1u8; 9];
                    value[..8].copy_from_slice(&expires_ms.to_be_bytes());
                    states.insert(&key[..], &value[..]).map_err(failed)?;
                    let mut expiry = txn.open_table(EXPIRY).map_err(failed)?;
                    expiry.insert(&expiry_key(b's', expires_ms, &key)[..], ()).map_err(failed)?;
                    true
                }
            };
            if fresh {
                txn.commit().map_err(failed)?;
                Ok(StateConsume::Consumed)
            } else {
                txn.abort().map_err(failed)?;
                Ok(StateConsume::AlreadyUsed)
            }
        })
    }

    fn set_grants(&self, grants: Vec<GrantKey>, expires_ms: u64) -> BoxFuture<'_, StoreResult<()>> {
        self.blocking(move |s| {
            s.write(|txn| {
                for g in &grants {
                    write_grant(txn, g, expires_ms)?;
                }
                Ok(())
            })
        })
    }

    fn grant_expiries(&self, grants: Vec<GrantKey>) -> BoxFuture<'_, StoreResult<Vec<Option<u64>>>> {
        self.blocking(move |s| {
            let txn = s.db.begin_read().map_err(failed)?;
            let table = txn.open_table(GRANTS).map_err(failed)?;
            grants.iter().map(|g| Ok(table.get(&grant_key_bytes(g)[..]).map_err(failed)?.map(|v| v.value()))).collect()
        })
    }

    fn purge_expired(&self, now_ms: u64) -> BoxFuture<'_, StoreResult<u64>> {
        self.blocking(move |s| {
            // A read first: with nothing expired, no write transaction (no lock, no fsync).
            let due = {
                let txn = s.db.begin_read().map_err(failed)?;
                let expiry = txn.open_table(EXPIRY).map_err(failed)?;
                let mut due = false;
                for tag in [b'g', b's'] {
                    let (start, end) = (expiry_key(tag, 0, &[]), expiry_key(tag, now_ms, &[]));
                    due |= expiry.range(&start[..]..&end[..]).map_err(failed)?.next().is_some();
                }
                due
            };
            if !due {
                return Ok(0);
            }
            s.write(|txn| {
                let mut expiry = txn.open_table(EXPIRY)?;
                let mut grants = txn.open_table(GRANTS)?;
                let mut states = txn.open_table(STATES)?;
                let mut n = 0u64;
                let mut budget = PURGE_BATCH;
                for tag in [b'g', b's'] {
                    // Strictly before now: a grant is still valid at `now == expiry`.
                    let start = expiry_key(tag, 0, &[]);
                    let end = expiry_key(tag, now_ms, &[]);
                    let doomed: Vec<Vec<u8>> = expiry
                        .range(&start[..]..&end[..])?
                        .take(budget)
                        .map(|r| r.map(|(k, _)| k.value().to_vec()))
                        .collect::<Result<_, _>>()?;
                    budget -= doomed.len();
                    for k in doomed {
                        expiry.remove(&k[..])?;
                        let exp = u64::from_be_bytes(k[1..9].try_into().unwrap_or_default());
                        let main_key = &k[9..];
                        if tag == b'g' {
                            // Only delete if it was not replaced by a later expiry meanwhile.
                            let current = grants.get(main_key)?.map(|v| v.value());
                            if current == Some(exp) {
                                grants.remove(main_key)?;
                            }
                        } else {
                            states.remove(main_key)?;
                        }
                        n += 1;
                    }
                }
                Ok(n)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::GrantKind;
    use super::*;

    fn temp_store() -> (EmbeddedStore, std::path::PathBuf) {
        let dir = std::env::temp_dir()
            .join(format!("lunasec-embedded-{}", crate::crypto::hex(&crate::crypto::random::<8>())));
        std::fs::create_dir_all(&dir).unwrap();
        (EmbeddedStore::open(&dir.join("store.redb")).unwrap(), dir)
    }

    #[tokio::test]
    async fn records_states_grants_and_purge() {
        let (s, dir) = temp_store();
        let key = [1u8; 32];
        let mut meta = Metadata::new();
        meta.insert("dataType".into(), "string".into());
        let rec = TokenRecord { wrapped_key: vec![9; 60], metadata: meta.clone(), created_ms: 5 };
        let g = GrantKey { session: [2; 32], token: key, kind: GrantKind::ReadToken };
        s.put_token(key, rec.clone(), vec![g], 1_000).await.unwrap();
        assert_eq!(s.get_token(key).await.unwrap(), Some(rec.clone()));
        assert!(s.put_token(key, rec, vec![], 0).await.is_err(), "no overwrite");
        assert_eq!(s.get_token([3; 32]).await.unwrap(), None);
        assert!(!s.set_metadata([3; 32], Metadata::new()).await.unwrap());
        assert!(s.set_metadata(key, Metadata::new()).await.unwrap());
        assert!(s.get_token(key).await.unwrap().unwrap().metadata.is_empty());

        assert_eq!(s.grant_expiries(vec![g]).await.unwrap(), vec![Some(1_000)]);
        s.set_grants(vec![g], 5_000).await.unwrap();
        assert_eq!(s.grant_expiries(vec![g]).await.unwrap(), vec![Some(5_000)]);

        assert_eq!(s.consume_state([7; 32], 2_000).await.unwrap(), StateConsume::Consumed);
        assert_eq!(s.consume_state([7; 32], 2_000).await.unwrap(), StateConsume::AlreadyUsed);
        assert_eq!(s.counts().unwrap(), (1, 1, 1));

        // At 3_000: the state (2_000) goes, the replaced grant (now 5_000) stays.
        assert_eq!(s.purge_expired(3_000).await.unwrap(), 1);
        assert_eq!(s.grant_expiries(vec![g]).await.unwrap(), vec![Some(5_000)]);
        assert_eq!(s.counts().unwrap(), (1, 0, 1));
        assert_eq!(s.purge_expired(5_000).await.unwrap(), 0, "valid at now == expiry");
        assert_eq!(s.purge_expired(5_001).await.unwrap(), 1);
        assert_eq!(s.grant_expiries(vec![g]).await.unwrap(), vec![None]);
        drop(s);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn state_consume_is_single_use_under_concurrency() {
        let (s, dir) = temp_store();
        let tries: Vec<_> = (0..16).map(|_| s.consume_state([4; 32], u64::MAX)).collect();
        let results = futures_util::future::join_all(tries).await;
        let consumed = results.iter().filter(|r| **r == Ok(StateConsume::Consumed)).count();
        assert_eq!(consumed, 1);
        assert!(results.iter().all(|r| matches!(r, Ok(StateConsume::Consumed | StateConsume::AlreadyUsed))));
        drop(s);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn purge_deletes_in_bounded_batches() {
        let (s, dir) = temp_store();
        let total = PURGE_BATCH + PURGE_BATCH / 2;
        s.write(|txn| {
            let mut states = txn.open_table(STATES)?;
            let mut expiry = txn.open_table(EXPIRY)?;
            for i in 0..total {
                let mut key = [0u8; 32];
                key[..8].copy_from_slice(&u64::try_from(i).unwrap().to_be_bytes());
                states.insert(&key[..], &[1u8; 9][..])?;
                expiry.insert(&expiry_key(b's', 10, &key)[..], ())?;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(s.purge_expired(11).await.unwrap(), u64::try_from(PURGE_BATCH).unwrap(), "a full batch");
        assert_eq!(s.purge_expired(11).await.unwrap(), u64::try_from(total - PURGE_BATCH).unwrap(), "a short one");
        assert_eq!(s.purge_expired(11).await.unwrap(), 0);
        assert_eq!(s.counts().unwrap(), (0, 0, 0));
        drop(s);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
