//! Idempotency keys for POST retries: the first request with a key claims it and stores its
//! answer in the same transaction as its write; a retry with the same body gets that answer
//! back, a retry with another body is refused.

use crate::StoreError;
use std::borrow::Cow;
use tokio_postgres::types::Type;
use warp_domain::storable::storable;

/// A request that carries an `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct IdempotentRequest {
    /// Who sent it (the token subject): keys are per principal.
    pub principal: String,
    pub key: String,
    /// A hash of what makes the request the same request (method, path, body).
    pub request_hash: String,
}

/// An answer as sent, kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What claiming a key found.
pub(crate) enum Claim {
    Claimed,
    Replay(StoredResponse),
}

/// Claims the key inside `transaction`. A concurrent claim of the same key waits for the first
/// transaction (the unique index), then sees its stored answer.
pub(crate) async fn claim(
    transaction: &tokio_postgres::Transaction<'_>,
    request: &IdempotentRequest,
) -> Result<Claim, StoreError> {
    let (principal, key) = stored_key(request);
    let inserted = transaction
        .query_typed_opt(
            "INSERT INTO idempotency_keys (principal, idempotency_key, request_hash) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING RETURNING 1",
            &[(&principal, Type::TEXT), (&key, Type::TEXT), (&request.request_hash, Type::TEXT)],
        )
        .await?;
    if inserted.is_some() {
        return Ok(Claim::Claimed);
    }
    let row = transaction
        .query_typed_opt(
            "SELECT request_hash, status_code, response_headers, response_body FROM idempotency_keys \
             WHERE principal = $1 AND idempotency_key = $2",
            &[(&principal, Type::TEXT), (&key, Type::TEXT)],
        )
        .await?
        .ok_or(StoreError::IdempotencyInProgress)?;
    let stored_hash: String = row.try_get(0)?;
    if stored_hash != request.request_hash {
        return Err(StoreError::IdempotencyKeyReused);
    }
    let status: Option<i16> = row.try_get(1)?;
    let Some(status) = status else {
        return Err(StoreError::IdempotencyInProgress);
    };
    let headers: Option<serde_json::Value> = row.try_get(2)?;
    let headers = headers
        .and_then(|h| serde_json::from_value::<Vec<(String, String)>>(h).ok())
        .unwrap_or_default();
    let body: Option<Vec<u8>> = row.try_get(3)?;
    Ok(Claim::Replay(StoredResponse {
        status: u16::try_from(status)
            .map_err(|_| StoreError::Other("stored status out of range".into()))?,
        headers,
        body: body.unwrap_or_default(),
    }))
}

/// The principal (a token subject: the identity provider's text) and key as stored, any NUL
/// replaced (`warp_domain::storable`): Postgres text cannot hold one.
fn stored_key(request: &IdempotentRequest) -> (Cow<'_, str>, Cow<'_, str>) {
    (storable(&request.principal), storable(&request.key))
}

/// Stores the answer for a claimed key, in the same transaction as the write.
pub(crate) async fn complete(
    transaction: &tokio_postgres::Transaction<'_>,
    request: &IdempotentRequest,
    response: &StoredResponse,
) -> Result<(), StoreError> {
    let status = i16::try_from(response.status)
        .map_err(|_| StoreError::Other("status out of range".into()))?;
    let headers =
        serde_json::to_value(&response.headers).map_err(|e| StoreError::Other(e.to_string()))?;
    let (principal, key) = stored_key(request);
    transaction
        .execute_typed(
            "UPDATE idempotency_keys SET status_code = $3, response_headers = $4, response_body = $5, completed_at = now() \
             WHERE principal = $1 AND idempotency_key = $2",
            &[
                (&principal, Type::TEXT),
                (&key, Type::TEXT),
                (&status, Type::INT2),
                (&headers, Type::JSONB),
                (&response.body, Type::BYTEA),
            ],
        )
        .await?;
    Ok(())
}
