//! The DynamoDB record store: one table with a string hash key `pk`, so several tokenizers (same
//! `TOKENIZER_SECRET`, same table) agree on everything. Reads are strongly consistent: a grant
//! set through one instance is seen at once by the others.
//!
//! Items (all keys are hex HMACs; see [`crate::crypto::Secrets`]):
//! - token  `t#<record key>`: `wk` (B, wrapped data key), `md` (S, metadata JSON), `ct` (N, created ms)
//! - state  `s#<state key>`: `used` (BOOL, true), `att` (S, attempt id), `exp_ms` (N), `ttl` (N,
//!   epoch seconds): only a state's *consumption* is recorded (issuing one stores nothing)
//! - grant  `g#<session hash>#<record key>#<type>`: `exp_ms` (N), `ttl` (N)
//!
//! `ttl` is the table's TTL attribute (cleanup only: expiry is always checked against `exp_ms`).
//! State consumption is one conditional `PutItem` (`attribute_not_exists(pk)`) carrying a random
//! attempt id: when the SDK retries a put whose response was lost, the retry's condition fails on
//! our own item, which the attempt id recognises as ours (so it is not taken for a replay). A token
//! and its grants are written in one `TransactWriteItems`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes, Put, PutRequest,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TransactWriteItem,
    WriteRequest,
};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use lunasec_core::backoff::Backoff;
use lunasec_core::protocol::Metadata;

use super::{GrantKey, RecordStore, StateConsume, StoreError, StoreResult, TokenRecord};
use crate::crypto::{Hash32, hex, random};

const BATCH_GET_MAX: usize = 100;
const BATCH_WRITE_MAX: usize = 25;
const UNPROCESSED_RETRIES: u32 = 8;
/// Between retries of unprocessed batch items: 50 ms doubling up to 800 ms (full jitter).
const UNPROCESSED_BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(800));
/// TTL deletion lags; keep items a minute past their expiry anyway (expiry is checked on read).
const TTL_SLACK_SECS: u64 = 60;

/// How often the table is probed once it has answered (`/ready`).
const RECHECK_EVERY: Duration = Duration::from_secs(30);
/// Checks while the table check fails: 250 ms doubling up to 15 s (full jitter).
const CHECK_BACKOFF: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(15));

/// The DynamoDB-backed store.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// The last table check succeeded (see [`DynamoStore::run`]).
    ready: Arc<AtomicBool>,
    /// The last table check failed (false until a check has failed).
    down: Arc<AtomicBool>,
}

fn map_err<E, R>(op: &str, e: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(format!("DynamoDB {op}: {}", DisplayErrorContext(e)))
        }
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("unknown");
            let msg = format!("DynamoDB {op}: {code}: {}", se.err().message().unwrap_or(""));
            match code {
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "TransactionConflictException" => StoreError::Unavailable(msg),
                _ => StoreError::Failed(msg),
            }
        }
        _ => StoreError::Failed(format!("DynamoDB {op}: {}", DisplayErrorContext(e))),
    }
}

fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Failed(format!("DynamoDB request could not be built: {e}"))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn token_pk(key: &Hash32) -> String {
    format!("t#{}", hex(key))
}

fn state_pk(key: &Hash32) -> String {
    format!("s#{}", hex(key))
}

fn grant_pk(g: &GrantKey) -> String {
    format!("g#{}#{}#{}", hex(&g.session), hex(&g.token), g.kind.as_str())
}

fn ttl_secs(expires_ms: u64) -> u64 {
    expires_ms.div_ceil(1000).saturating_add(TTL_SLACK_SECS)
}

fn grant_item(g: &GrantKey, expires_ms: u64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), s(grant_pk(g))),
        ("exp_ms".to_owned(), n(expires_ms)),
        ("ttl".to_owned(), n(ttl_secs(expires_ms))),
    ])
}

fn get_n(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

impl DynamoStore {
    /// [`RecordStore::consume_state`] with a given attempt id (each call of `consume_state` uses a
    /// fresh random one). Public so a test can replay an attempt, as the SDK's retry of a put whose
    /// response was lost does: the same attempt id is [`StateConsume::Consumed`] again, any other
    /// is [`StateConsume::AlreadyUsed`].
    #[doc(hidden)]
    pub async fn consume_state_attempt(
        &self,
        key: Hash32,
        expires_ms: u64,
        attempt: &str,
    ) -> StoreResult<StateConsume> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        let pk = state_pk(&key);
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk.as_str()))
            .item("used", AttributeValue::Bool(true))
            .item("att", s(attempt))
            .item("exp_ms", n(expires_ms))
            .item("ttl", n(ttl_secs(expires_ms)))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let Err(e) = res else { return Ok(StateConsume::Consumed) };
        let Some(PutItemError::ConditionalCheckFailedException(c)) = e.as_service_error() else {
            return Err(map_err("PutItem", &e));
        };
        let stored = match c.item() {
            Some(item) => item.get("att").and_then(|v| v.as_s().ok()).cloned(),
            // Not every DynamoDB implementation returns the old item: read it (strongly consistent).
            None => self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .consistent_read(true)
                .projection_expression("att")
                .send()
                .await
                .map_err(|e| map_err("GetItem", &e))?
                .item
                .and_then(|item| item.get("att").and_then(|v| v.as_s().ok()).cloned()),
        };
        Ok(if stored.as_deref() == Some(attempt) { StateConsume::Consumed } else { StateConsume::AlreadyUsed })
    }

    #[must_use]
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table, ready: Arc::new(AtomicBool::new(false)), down: Arc::new(AtomicBool::new(false)) }
    }

    /// A `GetItem` of a key that never exists: the table is there and these credentials can read
    /// it (the permission the tokenizer needs anyway; no `DescribeTable` needed).
    pub async fn probe(&self) -> StoreResult<()> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", s("ready#probe"))
            .projection_expression("pk")
            .send()
            .await
            .map_err(|e| map_err("GetItem", &e))?;
        Ok(())
    }

    /// Background loop for `/ready`: with `create_table`, [`DynamoStore::ensure_table`] until it
    /// works; then [`DynamoStore::probe`] every 30 s (with backoff while it fails). Requests are
    /// served whatever the flag says; only `/ready` reads it.
    pub async fn run(self, create_table: bool) {
        let mut table_done = !create_table;
        let mut backoff = CHECK_BACKOFF;
        loop {
            let result = if table_done {
                self.probe().await
            } else {
                let r = self.ensure_table().await;
                table_done = r.is_ok();
                r
            };
            let was = self.ready.swap(result.is_ok(), Ordering::Relaxed);
            self.down.store(result.is_err(), Ordering::Relaxed);
            match result {
                Ok(()) => {
                    if !was {
                        tracing::info!(table = %self.table, "DynamoDB table ready");
                    }
                    backoff.reset();
                    tokio::time::sleep(RECHECK_EVERY).await;
                }
                Err(e) => {
                    tracing::warn!(table = %self.table, error = %e, "DynamoDB table check failed; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }

    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on-demand billing, TTL on `ttl`) if it does not exist, and waits until it
    /// is active.
    pub async fn ensure_table(&self) -> StoreResult<()> {
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_err)?,
            )
            .key_schema(
                KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().map_err(build_err)?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error().is_some_and(
                    aws_sdk_dynamodb::operation::create_table::CreateTableError::is_resource_in_use_exception,
                ) => {}
            Err(e) => return Err(map_err("CreateTable", &e)),
        }
        for _ in 0..60 {
            let d = self.client.describe_table().table_name(&self.table).send().await;
            match d {
                Ok(out) if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                Err(e) => return Err(map_err("DescribeTable", &e)),
            }
        }
        let ttl = self
            .client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().attribute_name("ttl").enabled(true).build().map_err(build_err)?,
            )
            .send()
            .await;
        match ttl {
            Ok(_) => Ok(()),
            // "TimeToLive is already enabled" comes back as a ValidationException.
            Err(e) if e.code() == Some("ValidationException") => Ok(()),
            Err(e) => Err(map_err("UpdateTimeToLive", &e)),
        }
    }

    async fn batch_write(&self, mut requests: Vec<WriteRequest>) -> StoreResult<()> {
        while !requests.is_empty() {
            let rest = requests.split_off(requests.len().min(BATCH_WRITE_MAX));
            let mut pending = requests;
            requests = rest;
            let mut backoff = UNPROCESSED_BACKOFF;
            for attempt in 0..=UNPROCESSED_RETRIES {
                if pending.is_empty() {
                    break;
                }
                if attempt == UNPROCESSED_RETRIES {
                    return Err(StoreError::Unavailable("DynamoDB BatchWriteItem: items left unprocessed".into()));
                }
                if attempt > 0 {
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| map_err("BatchWriteItem", &e))?;
                pending = out.unprocessed_items.and_then(|mut m| m.remove(&self.table)).unwrap_or_default();
            }
        }
        Ok(())
    }
}

impl RecordStore for DynamoStore {
    fn put_token(
        &self,
        key: Hash32,
        record: TokenRecord,
        grants: Vec<GrantKey>,
        grant_expires_ms: u64,
    ) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            let md = serde_json::to_string(&record.metadata).map_err(build_err)?;
            let token_put = Put::builder()
                .table_name(&self.table)
                .item("pk", s(token_pk(&key)))
                .item("wk", AttributeValue::B(Blob::new(record.wrapped_key)))
                .item("md", s(md))
                .item("ct", n(record.created_ms))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_err)?;
            let mut items = vec![TransactWriteItem::builder().put(token_put).build()];
            for g in &grants {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(grant_item(g, grant_expires_ms)))
                    .build()
                    .map_err(build_err)?;
                items.push(TransactWriteItem::builder().put(put).build());
            }
            self.client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
                .map_err(|e| map_err("TransactWriteItems", &e))?;
            Ok(())
        }
        .boxed()
    }

    fn get_token(&self, key: Hash32) -> BoxFuture<'_, StoreResult<Option<TokenRecord>>> {
        async move {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(token_pk(&key)))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| map_err("GetItem", &e))?;
            let Some(item) = out.item else { return Ok(None) };
            let corrupt = || StoreError::Failed("DynamoDB: a token record is corrupt".into());
            let wrapped_key = item.get("wk").and_then(|v| v.as_b().ok()).ok_or_else(corrupt)?.as_ref().to_vec();
            let metadata: Metadata = match item.get("md").and_then(|v| v.as_s().ok()) {
                Some(text) => serde_json::from_str(text).map_err(|_| corrupt())?,
                None => Metadata::new(),
            };
            let created_ms = get_n(&item, "ct").unwrap_or(0);
            Ok(Some(TokenRecord { wrapped_key, metadata, created_ms }))
        }
        .boxed()
    }

    fn delete_token(&self, key: Hash32) -> BoxFuture<'_, StoreResult<bool>> {
        async move {
            let out = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(token_pk(&key)))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
                .send()
                .await
                .map_err(|e| map_err("DeleteItem", &e))?;
            Ok(out.attributes.is_some_and(|a| !a.is_empty()))
        }
        .boxed()
    }

    fn set_metadata(&self, key: Hash32, metadata: Metadata) -> BoxFuture<'_, StoreResult<bool>> {
        async move {
            let md = serde_json::to_string(&metadata).map_err(build_err)?;
            let res = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(token_pk(&key)))
                .update_expression("SET md = :md")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":md", s(md))
                .send()
                .await;
            match res {
                Ok(_) => Ok(true),
                Err(e) if e.as_service_error().is_some_and(aws_sdk_dynamodb::operation::update_item::UpdateItemError::is_conditional_check_failed_exception) => {
                    Ok(false)
                }
                Err(e) => Err(map_err("UpdateItem", &e)),
            }
        }
        .boxed()
    }

    fn consume_state(&self, key: Hash32, expires_ms: u64) -> BoxFuture<'_, StoreResult<StateConsume>> {
        async move { self.consume_state_attempt(key, expires_ms, &hex(&random::<16>())).await }.boxed()
    }

    fn set_grants(&self, grants: Vec<GrantKey>, expires_ms: u64) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            // BatchWriteItem refuses duplicate keys in one request.
            let unique: HashSet<GrantKey> = grants.into_iter().collect();
            let mut requests = Vec::with_capacity(unique.len());
            for g in &unique {
                let put = PutRequest::builder().set_item(Some(grant_item(g, expires_ms))).build().map_err(build_err)?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            self.batch_write(requests).await
        }
        .boxed()
    }

    fn grant_expiries(&self, grants: Vec<GrantKey>) -> BoxFuture<'_, StoreResult<Vec<Option<u64>>>> {
        async move {
            let pks: Vec<String> = grants.iter().map(grant_pk).collect();
            let mut unique: Vec<&String> = pks.iter().collect::<HashSet<_>>().into_iter().collect();
            unique.sort_unstable();
            let mut found: HashMap<String, u64> = HashMap::with_capacity(unique.len());
            for chunk in unique.chunks(BATCH_GET_MAX) {
                let keys: Vec<HashMap<String, AttributeValue>> =
                    chunk.iter().map(|pk| HashMap::from([("pk".to_owned(), s(pk.as_str()))])).collect();
                let mut pending = Some(
                    KeysAndAttributes::builder()
                        .set_keys(Some(keys))
                        .consistent_read(true)
                        .projection_expression("pk, exp_ms")
                        .build()
                        .map_err(build_err)?,
                );
                let mut attempt = 0u32;
                let mut backoff = UNPROCESSED_BACKOFF;
                while let Some(request) = pending.take() {
                    if attempt == UNPROCESSED_RETRIES {
                        return Err(StoreError::Unavailable("DynamoDB BatchGetItem: keys left unprocessed".into()));
                    }
                    if attempt > 0 {
                        tokio::time::sleep(backoff.next_delay()).await;
                    }
                    attempt += 1;
                    let out = self
                        .client
                        .batch_get_item()
                        .request_items(&self.table, request)
                        .send()
                        .await
                        .map_err(|e| map_err("BatchGetItem", &e))?;
                    for item in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                        if let (Some(pk), Some(exp)) =
                            (item.get("pk").and_then(|v| v.as_s().ok()), get_n(&item, "exp_ms"))
                        {
                            found.insert(pk.clone(), exp);
                        }
                    }
                    pending =
                        out.unprocessed_keys.and_then(|mut m| m.remove(&self.table)).filter(|k| !k.keys().is_empty());
                }
            }
            Ok(pks.iter().map(|pk| found.get(pk).copied()).collect())
        }
        .boxed()
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    fn known_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    fn purge_expired(&self, _now_ms: u64) -> BoxFuture<'_, StoreResult<u64>> {
        // DynamoDB's TTL deletes expired items; expiry is enforced on read regardless.
        async { Ok(0) }.boxed()
    }
}
