//! Finished calls in the chaos run (issue 21): the telephony platform posts calls to the API
//! (ingest role) while everything else runs, under the same faults and worker kills, some
//! batches repeating a call already sent. Each call dials a user of its customer by the phone
//! WARP holds, once the user's contact is in HubSpot (it carries the phone, unless a person or
//! a later change altered it there). At the end no call is lost (every one logged, or skipped
//! with its reason) and none doubled (one engagement per call id in HubSpot, as many as WARP
//! logged).

use anyhow::{Context, ensure};
use rand::Rng;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::{Run, all_records};

/// Calls one request carries at most.
const PER_REQUEST: usize = 10;

/// What the calls check found.
#[derive(Default)]
pub struct CallVerdict {
    pub sent: usize,
    pub repeats_sent: usize,
    pub logged: i64,
    pub skipped: i64,
    pub engagements: usize,
    pub failures: Vec<String>,
}

/// Posts `count` calls in requests of up to ten, every fifth request repeating a call sent
/// before; answers the call ids sent and how many repeats went with them.
pub fn spawn_caller(
    run: &Arc<Run>,
    token: String,
    count: usize,
) -> tokio::task::JoinHandle<anyhow::Result<(BTreeSet<String>, usize)>> {
    let run = run.clone();
    tokio::spawn(async move {
        let mut sent: BTreeSet<String> = BTreeSet::new();
        let mut repeats = 0;
        let mut request = 0;
        while sent.len() < count {
            run.left("sending finished calls")?;
            let dialled = users_to_dial(&run).await?;
            if dialled.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let mut calls = Vec::new();
            for _ in 0..PER_REQUEST.min(count - sent.len()) {
                let (customer, phone) = &dialled[rand::rng().random_range(0..dialled.len())];
                let call_id = format!("chaos-call-{}", sent.len() + calls.len());
                calls.push(call(&call_id, customer, phone));
            }
            request += 1;
            if request % 5 == 0
                && let Some(earlier) = sent.iter().next().cloned()
            {
                let (customer, phone) = &dialled[0];
                calls.push(call(&earlier, customer, phone));
                repeats += 1;
            }
            let ids: Vec<String> = calls
                .iter()
                .map(|c| c["call_id"].as_str().unwrap_or_default().to_owned())
                .collect();
            post(&run, &token, &json!({ "calls": calls })).await?;
            sent.extend(ids);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok((sent, repeats))
    })
}

/// Users with a phone whose contact is in HubSpot already, and their customer: customers
/// without a portal of their own, so every call goes to the home portal (a call to a portal
/// that is disconnected waits a minute per re-check, which the run would wait out; the call
/// logging tests cover that case).
async fn users_to_dial(run: &Run) -> anyhow::Result<Vec<(String, String)>> {
    let client = run.database.client().await?;
    Ok(client
        .query(
            "SELECT u.customer_id::text, u.phone FROM users u \
                 JOIN customers c ON c.id = u.customer_id AND c.deleted_at IS NULL \
                 JOIN hubspot_links l ON l.local_id = u.id AND l.object_type = 'contacts' \
                     AND l.unlinked_at IS NULL \
             WHERE u.phone IS NOT NULL AND u.status <> 'disabled' \
               AND NOT EXISTS (SELECT 1 FROM hubspot_installations i \
                               WHERE i.customer_id = u.customer_id) \
             ORDER BY random() LIMIT 50",
            &[],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

fn call(call_id: &str, customer: &str, phone: &str) -> Value {
    let started = chrono::Utc::now() - chrono::Duration::minutes(2);
    json!({"call_id": call_id, "customer_id": customer, "direction": "OUTBOUND",
           "from": "+14155550100", "to": phone, "started_at": started.to_rfc3339(),
           "duration_ms": 61_000, "outcome": "COMPLETED",
           "summary": format!("Chaos call {call_id}")})
}

/// Posts a batch until the API answers it (a repeat is harmless: calls are stored once).
async fn post(run: &Run, token: &str, body: &Value) -> anyhow::Result<()> {
    let mut last = String::new();
    for attempt in 0..10u64 {
        run.left("posting finished calls")?;
        let answer = run
            .http
            .post(format!("{}/v1/calls", run.args.api))
            .bearer_auth(token)
            .json(body)
            .send()
            .await;
        match answer {
            Ok(answer) if answer.status() == 202 => return Ok(()),
            Ok(answer) if answer.status().is_server_error() => {
                last = answer.status().to_string();
            }
            Ok(answer) => {
                let status = answer.status();
                let text = answer.text().await.unwrap_or_default();
                anyhow::bail!("POST /v1/calls answered {status}: {text}");
            }
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
    }
    anyhow::bail!("POST /v1/calls kept failing: {last}")
}

/// Calls not logged, skipped or refused yet (the run settles until there are none).
pub async fn calls_left(run: &Run) -> anyhow::Result<i64> {
    run.scalar("SELECT count(*) FROM calls WHERE status = 'pending'")
        .await
}

/// Every call sent stored once and logged or skipped; one engagement per call id in the home
/// portal, as many as logged there.
pub async fn verify_calls(
    run: &Run,
    sent: &BTreeSet<String>,
    repeats_sent: usize,
) -> anyhow::Result<CallVerdict> {
    let mut verdict = CallVerdict {
        sent: sent.len(),
        repeats_sent,
        ..CallVerdict::default()
    };
    let by_status: BTreeMap<String, i64> = run
        .grouped("SELECT status, count(*) FROM calls GROUP BY 1")
        .await?;
    let stored: i64 = by_status.values().sum();
    verdict.logged = by_status.get("success").copied().unwrap_or(0);
    verdict.skipped = by_status.get("skipped").copied().unwrap_or(0);
    if stored != sent.len() as i64 {
        verdict.failures.push(format!(
            "{} calls sent, {stored} stored (each once by its id)",
            sent.len()
        ));
    }
    for (status, count) in &by_status {
        if status != "success" && status != "skipped" {
            let reasons = run
                .grouped(&format!(
                    "SELECT coalesce(reason, '?'), count(*) FROM calls WHERE status = '{status}' \
                     GROUP BY 1 ORDER BY 2 DESC LIMIT 3"
                ))
                .await?;
            verdict
                .failures
                .push(format!("{count} calls ended {status} (lost): {reasons:?}"));
        }
    }
    let skipped_for = run
        .scalar(
            "SELECT count(*) FROM calls WHERE status = 'skipped' \
             AND reason NOT LIKE 'no HubSpot contact has the number %'",
        )
        .await?;
    if skipped_for > 0 {
        verdict.failures.push(format!(
            "{skipped_for} calls skipped for another reason than a number no contact has"
        ));
    }
    let engagements = all_records(run, "calls", &["warp_call_id".to_owned()]).await?;
    verdict.engagements = engagements.len();
    let mut per_call: BTreeMap<String, usize> = BTreeMap::new();
    for (_, properties) in &engagements {
        let id = properties
            .get("warp_call_id")
            .cloned()
            .flatten()
            .context("an engagement without its warp_call_id")?;
        *per_call.entry(id).or_default() += 1;
    }
    let doubled: Vec<&String> = per_call
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    if !doubled.is_empty() {
        verdict.failures.push(format!(
            "{} calls have more than one engagement in HubSpot: {:?}",
            doubled.len(),
            doubled.iter().take(5).collect::<Vec<_>>()
        ));
    }
    // The home portal holds the calls of customers without a portal of their own.
    let logged_home = run
        .scalar(&format!(
            "SELECT count(*) FROM calls WHERE status = 'success' AND portal_id = {}",
            run.args.portal_id
        ))
        .await?;
    if per_call.len() as i64 != logged_home {
        verdict.failures.push(format!(
            "WARP logged {logged_home} calls in the home portal, HubSpot holds {} call ids",
            per_call.len()
        ));
    }
    ensure!(
        verdict.sent > 0 || sent.is_empty(),
        "no call was sent though some were asked for"
    );
    Ok(verdict)
}
