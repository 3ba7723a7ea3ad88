//! The chaos run (issue 9, item 1): drives a running `warp dev` (started with
//! `DEV_OUTBOUND=false`) and its sandbox under injected faults, owns the outbound worker as a
//! child process so it can SIGKILL it mid-batch, then turns the faults off, reconciles once and
//! checks DESIGN §4's guarantees end to end. `infra/scripts/chaos.sh` starts everything.
//!
//! Every wait is bounded by `--timeout-secs`; on failure it says what it was waiting for.

use anyhow::{Context, bail, ensure};
use clap::Parser;
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use uuid::Uuid;
use warp_domain::sync::{ConflictRule, FieldMap, WarpField, canonical_opt, customer_field_values};
use warp_store::Database;
use warp_store::customers::CustomerStore;

#[path = "../chaos/calls.rs"]
mod calls;
#[path = "../chaos/deals.rs"]
mod deals;
#[path = "../chaos/portals.rs"]
mod portals;
#[path = "../chaos/services.rs"]
mod services;
#[path = "../chaos/users.rs"]
mod users;

/// The sandbox's token for a person editing in HubSpot's UI: never faulted, never limited.
const USER_TOKEN: &str = "sandbox-user-token";
/// API writes in flight at once during the change phase.
const WRITERS: usize = 16;
/// HubSpot UI edits in flight at once.
const EDITORS: usize = 4;
/// How long the system must show no activity before it counts as settled.
const QUIET_FOR: Duration = Duration::from_secs(3);
/// How long a kill waits for the worker to hold claimed rows.
const KILL_WAIT: Duration = Duration::from_secs(60);

#[derive(Parser, Debug)]
#[command(about = "Chaos end-to-end run against a local `warp dev` and `warp worker`")]
struct Args {
    /// Base URL of `warp dev` (API and webhooks).
    #[arg(long, env = "CHAOS_API_URL")]
    api: String,
    /// Base URL of the HubSpot sandbox.
    #[arg(long, env = "CHAOS_SANDBOX_URL")]
    sandbox: String,
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The `warp` binary: started as `warp worker`, and `warp token` for the admin token.
    #[arg(long, default_value = "target/debug/warp")]
    warp_bin: String,
    /// Where the worker processes' output is appended.
    #[arg(long, default_value = "target/chaos/worker.log")]
    worker_log: String,
    #[arg(long, env = "HUBSPOT_PORTAL_ID", default_value_t = 62515)]
    portal_id: i64,
    #[arg(long, default_value_t = 1_000)]
    customers: usize,
    /// API writes in all, the creates included.
    #[arg(long, default_value_t = 10_000)]
    changes: usize,
    #[arg(long, default_value_t = 2_000)]
    hubspot_edits: usize,
    /// User API writes in all (a quarter creates, the rest updates), beside the customers'.
    #[arg(long, default_value_t = 2_000)]
    user_writes: usize,
    /// HubSpot UI edits of the users' contacts.
    #[arg(long, default_value_t = 500)]
    contact_edits: usize,
    /// Deals salespeople work through the pipeline in HubSpot (three in five end won).
    #[arg(long, default_value_t = 200)]
    deals: usize,
    /// Finished calls the telephony platform posts during the run (some batches repeat one).
    #[arg(long, default_value_t = 1_000)]
    calls: usize,
    /// Trunk and number writes through the API (creates, changes, moves, releases).
    #[arg(long, default_value_t = 2_000)]
    service_writes: usize,
    /// HubSpot UI edits of the trunk and number records WARP pushed.
    #[arg(long, default_value_t = 200)]
    service_edits: usize,
    /// Company rows queued for two customer portals (one uninstalled mid-run and reconnected).
    #[arg(long, default_value_t = 1_000)]
    portal_rows: usize,
    /// The app's HubSpot requests the faulty phase must see (0: not checked). Batching hides
    /// the faults from a run with few calls; `OUTBOX_BATCH_SIZE` makes more.
    #[arg(long, default_value_t = 0)]
    min_faulty_requests: u64,
    /// Injected 429s, 5xx and timeouts, each, the faulty phase must see (0: not checked).
    #[arg(long, default_value_t = 0)]
    min_faults_each: u64,
    /// SIGKILLs of the worker while it holds claimed rows.
    #[arg(long, default_value_t = 2)]
    kills: usize,
    /// The whole run must finish within this.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    /// Faults injected during the run (the sandbox's `POST /_sandbox/faults` body).
    #[arg(
        long,
        default_value = r#"{"rate_429":0.1,"rate_5xx":0.05,"rate_timeout":0.02,"duplicate_webhooks":0.05,"reorder_webhooks":0.2}"#
    )]
    faults: String,
}

/// What the API acknowledged for one customer's WARP_WINS fields, as sent (raw).
#[derive(Clone, Debug, Default)]
struct Written {
    values: BTreeMap<WarpField, Option<String>>,
}

struct Customer {
    id: Uuid,
    ban: String,
    written: Mutex<Written>,
}

#[derive(Default)]
struct Counters {
    creates: AtomicUsize,
    patches: AtomicUsize,
    api_rejected: AtomicUsize,
    api_unavailable_retried: AtomicUsize,
    /// API writes with no answer within the client's timeout: committed or not, unknown.
    api_timed_out: AtomicUsize,
    edits: AtomicUsize,
    edits_by_rule: Mutex<BTreeMap<&'static str, usize>>,
    user_creates: AtomicUsize,
    user_patches: AtomicUsize,
    /// User PATCHes answered 200 that changed nothing (no new version, no outbox row).
    user_patches_unchanged: AtomicUsize,
    contact_edits: AtomicUsize,
}

struct Run {
    args: Args,
    http: reqwest::Client,
    token: String,
    /// The telephony platform's token (`ingest`).
    ingest_token: String,
    database: Database,
    deadline: Instant,
    counters: Counters,
}

impl Run {
    fn left(&self, what: &str) -> anyhow::Result<()> {
        if Instant::now() > self.deadline {
            bail!("timed out after {} s while {what}", self.args.timeout_secs);
        }
        Ok(())
    }

    fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.args.api))
            .bearer_auth(&self.token)
    }

    async fn scalar(&self, sql: &str) -> anyhow::Result<i64> {
        let client = self.database.client().await?;
        Ok(client.query_one(sql, &[]).await?.get(0))
    }

    async fn grouped(&self, sql: &str) -> anyhow::Result<BTreeMap<String, i64>> {
        let client = self.database.client().await?;
        let rows = client.query(sql, &[]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn set_faults(&self, faults: &Value) -> anyhow::Result<()> {
        let answer = self
            .http
            .post(format!("{}/_sandbox/faults", self.args.sandbox))
            .json(faults)
            .send()
            .await?;
        ensure!(
            answer.status().is_success(),
            "setting sandbox faults: {}",
            answer.status()
        );
        Ok(())
    }

    async fn sandbox_stats(&self) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}/_sandbox/stats", self.args.sandbox))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let token = token_for(&args.warp_bin, "admin")?;
    let ingest_token = token_for(&args.warp_bin, "ingest")?;
    let database = Database::connect(&args.database_url, 4).context("connecting to Postgres")?;
    let run = Arc::new(Run {
        deadline: started + Duration::from_secs(args.timeout_secs),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        token,
        ingest_token,
        database,
        counters: Counters::default(),
        args,
    });
    match chaos(&run, started).await {
        Ok(report) => {
            print!("{report}");
            println!("chaos: PASSED in {:.1} s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Err(error) => {
            eprintln!(
                "chaos: FAILED after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Err(error)
        }
    }
}

async fn chaos(run: &Arc<Run>, started: Instant) -> anyhow::Result<String> {
    let args = &run.args;
    ensure!(
        args.changes >= args.customers && args.customers > 0,
        "--changes counts the creates: it must be at least --customers (> 0)"
    );
    wait_healthy(run).await?;
    // Two customers connect their own HubSpot before the faults start: connecting is not what
    // this run stresses, and their portals then take rows beside the home traffic.
    let mut customers = Vec::new();
    for _ in 0..portals::PORTALS.len() {
        customers.push(create_one(run).await?);
    }
    let portals = Arc::new(portals::CustomerPortals::connect_all(run, &customers).await?);
    let faults: Value = serde_json::from_str(&args.faults).context("--faults is not JSON")?;
    run.set_faults(&faults).await?;
    let mut worker = Worker::start(run)?;

    let already = customers.len();
    customers.extend(create_customers(run, already).await?);
    let customers = Arc::new(customers);
    let portal_queuer = portals.spawn_queuer(run, &customers, args.portal_rows);
    let user_creates = (args.user_writes / 4).max(usize::from(args.user_writes > 0));
    let users = Arc::new(users::create_users(run, &customers, user_creates).await?);
    let user_patches = args.user_writes.saturating_sub(users.len());
    let patches = args.changes - customers.len();
    let progress = Arc::new(AtomicUsize::new(0));
    let writers = spawn_patchers(run, &customers, patches, &progress);
    let editors = spawn_editors(run, &customers, patches, &progress);
    let user_writers = users::spawn_user_patchers(run, &users, user_patches);
    let contact_editors = users::spawn_contact_editors(run, args.contact_edits, 2);
    let deal_counters = Arc::new(deals::DealCounters::default());
    let deal_workers = deals::spawn_deal_workers(run, &customers, args.deals, &deal_counters);
    let caller = calls::spawn_caller(run, run.ingest_token.clone(), args.calls);
    let service_counters = Arc::new(services::ServiceCounters::default());
    let service_writers =
        services::spawn_service_writers(run, &customers, args.service_writes, &service_counters);
    let service_editors = services::spawn_hubspot_editors(
        run,
        edits_of(args),
        args.service_writes,
        &service_counters,
    );
    let mut kills = Vec::new();
    for kill in 0..args.kills {
        let due = patches * (kill + 1) / (args.kills + 1);
        while progress.load(Ordering::Relaxed) < due && !writers.iter().all(|w| w.is_finished()) {
            run.left("waiting for the change phase to reach the next kill")?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        kills.push(worker.kill_mid_batch(run).await?);
        worker = Worker::start(run)?;
    }
    for writer in writers {
        writer.await??;
    }
    for task in editors
        .into_iter()
        .chain(user_writers)
        .chain(contact_editors)
        .chain(service_writers)
        .chain([portal_queuer, service_editors])
    {
        task.await??;
    }
    let worked_deals = deal_workers.await??;
    let (calls_sent, call_repeats) = caller.await??;
    let writes_done = started.elapsed();

    // The backlog drains under the same faults; only then is HubSpot healthy again.
    settle(run, "the outbox and webhooks drain under faults").await?;
    let stats_under_faults = run.sandbox_stats().await?;
    run.set_faults(&json!({})).await?;
    settle(run, "the system settles after the faults").await?;
    let (conflicts, resolution_rows) = resolve_conflicts(run).await?;
    if conflicts > 0 {
        settle(run, "conflict resolutions are pushed").await?;
    }
    let repair = reconcile(run, false).await?;
    settle(run, "the reconciliation's repairs are pushed").await?;
    let check = reconcile(run, true).await?;
    // Customers' last values (HubSpot edits, resolutions and repairs included) reach their
    // portals as a producer would queue them.
    portals.queue_latest(run).await?;
    settle(run, "the customer portals take WARP's latest values").await?;
    let verdict = verify(run, &customers, &resolution_rows).await?;
    let contacts = users::verify_contacts(run, &users).await?;
    let portal_verdict = portals.verify(run).await?;
    let deal_verdict = deals::verify_deals(run, &worked_deals).await?;
    let call_verdict = calls::verify_calls(run, &calls_sent, call_repeats).await?;
    let service_verdict = services::verify_services(run).await?;
    worker.stop();

    let stats = run.sandbox_stats().await?;
    let outbox = run
        .grouped("SELECT operation || ' ' || status, count(*) FROM hubspot_sync_queue GROUP BY 1 ORDER BY 1")
        .await?;
    let events = run
        .grouped("SELECT status, count(*) FROM hubspot_webhook_events GROUP BY 1 ORDER BY 1")
        .await?;

    let mut failures = verdict.failures.clone();
    failures.extend(contacts.failures.iter().cloned());
    failures.extend(portal_verdict.failures.iter().cloned());
    failures.extend(deal_verdict.failures.iter().cloned());
    failures.extend(call_verdict.failures.iter().cloned());
    failures.extend(service_verdict.failures.iter().cloned());
    failures.extend(fault_coverage(args, &stats_under_faults));
    let drift_left = check["drift_found"].as_i64().unwrap_or(-1);
    if drift_left != 0 {
        failures.push(format!(
            "the dry-run reconciliation after the repair found {drift_left} drift (expected 0); \
             the repair run's errors: {}; what is left: {}",
            repair["details"]["error_reasons"], check["details"]["records"]
        ));
    }

    let mut out = String::new();
    let c = &run.counters;
    let row = |out: &mut String, name: &str, value: String| {
        let _ = writeln!(out, "| {name:<44} | {value:>14} |");
    };
    let _ = writeln!(out, "\n| chaos run{:<36} | {:>14} |", "", "count");
    let _ = writeln!(out, "|{:-<46}|{:-<16}|", "", "");
    row(
        &mut out,
        "customers created (API)",
        c.creates.load(Ordering::Relaxed).to_string(),
    );
    row(
        &mut out,
        "customer updates (API PATCH)",
        c.patches.load(Ordering::Relaxed).to_string(),
    );
    row(
        &mut out,
        "API writes refused (4xx)",
        c.api_rejected.load(Ordering::Relaxed).to_string(),
    );
    row(
        &mut out,
        "API 503s retried (database refused the write)",
        c.api_unavailable_retried
            .load(Ordering::Relaxed)
            .to_string(),
    );
    row(
        &mut out,
        "API writes unanswered within 30 s",
        c.api_timed_out.load(Ordering::Relaxed).to_string(),
    );
    row(
        &mut out,
        "users created (API)",
        c.user_creates.load(Ordering::Relaxed).to_string(),
    );
    row(
        &mut out,
        "user updates (API PATCH)",
        c.user_patches.load(Ordering::Relaxed).to_string(),
    );
    row(
        &mut out,
        "  user PATCHes that changed nothing",
        c.user_patches_unchanged.load(Ordering::Relaxed).to_string(),
    );
    row(
        &mut out,
        "HubSpot UI edits (user token)",
        c.edits.load(Ordering::Relaxed).to_string(),
    );
    row(
        &mut out,
        "  of which contact edits",
        c.contact_edits.load(Ordering::Relaxed).to_string(),
    );
    for (rule, n) in c.edits_by_rule.lock().await.iter() {
        row(
            &mut out,
            &format!("  of which on {rule} fields"),
            n.to_string(),
        );
    }
    for (i, in_flight) in kills.iter().enumerate() {
        row(
            &mut out,
            &format!("worker SIGKILL {} (rows IN_FLIGHT then)", i + 1),
            in_flight.to_string(),
        );
    }
    row(
        &mut out,
        "app requests to HubSpot while faulty",
        stats_under_faults["requests_by_token"]["app"].to_string(),
    );
    for (name, key) in [
        ("sandbox 429 injected", "rate_limited_injected"),
        ("sandbox 429 real (rate limit)", "rate_limited_real"),
        ("sandbox 5xx injected", "server_errors_injected"),
        ("sandbox timeouts injected", "timeouts_injected"),
        ("webhook events duplicated", "webhook_events_duplicated"),
    ] {
        row(&mut out, name, stats_under_faults[key].to_string());
    }
    for (name, key) in [
        ("sandbox API requests (whole run)", "requests_total"),
        (
            "webhook events delivered (whole run)",
            "webhook_events_delivered",
        ),
        ("HubSpot companies", "companies"),
        ("HubSpot contacts", "contacts"),
    ] {
        row(&mut out, name, stats[key].to_string());
    }
    for (key, n) in &outbox {
        row(&mut out, &format!("outbox {key}"), n.to_string());
    }
    for (key, n) in &events {
        row(&mut out, &format!("webhook events {key}"), n.to_string());
    }
    row(
        &mut out,
        "conflicts resolved before reconciling",
        conflicts.to_string(),
    );
    row(
        &mut out,
        "reconciliation: drift found",
        repair["drift_found"].to_string(),
    );
    row(
        &mut out,
        "reconciliation: drift fixed",
        repair["drift_fixed"].to_string(),
    );
    // Which kinds the repair found, per object type ("contacts VALUE_DIFFERS 1").
    if let Some(by_type) = repair["details"]["by_object_type"].as_object() {
        for (object_type, tally) in by_type {
            for (kind, counts) in tally["by_kind"].as_object().into_iter().flatten() {
                row(
                    &mut out,
                    &format!("  {object_type} {kind}"),
                    format!("{} / {}", counts["found"], counts["fixed"]),
                );
            }
        }
    }
    row(
        &mut out,
        "dry-run reconciliation after: drift found",
        check["drift_found"].to_string(),
    );
    row(
        &mut out,
        "customers with exactly one company",
        verdict.one_company.to_string(),
    );
    row(
        &mut out,
        "fields compared (customers x mapped fields)",
        verdict.fields_compared.to_string(),
    );
    row(&mut out, "field mismatches", verdict.mismatches.to_string());
    row(
        &mut out,
        "users with exactly one contact",
        contacts.one_contact.to_string(),
    );
    row(
        &mut out,
        "contact fields compared (users x mapped)",
        contacts.fields_compared.to_string(),
    );
    row(
        &mut out,
        "contact field mismatches",
        contacts.mismatches.to_string(),
    );
    row(
        &mut out,
        "customer-portal rows queued (2 portals)",
        portals.rows_queued.load(Ordering::Relaxed).to_string(),
    );
    row(
        &mut out,
        &format!("  portal {} rows waiting at reconnect", portals::REVOKED),
        portals
            .waiting_at_reconnect
            .load(Ordering::Relaxed)
            .to_string(),
    );
    row(
        &mut out,
        "customer-portal companies checked",
        portal_verdict.companies_checked.to_string(),
    );
    row(
        &mut out,
        "customer-portal field mismatches",
        portal_verdict.mismatches.to_string(),
    );
    for (portal, calls) in stats["requests_by_portal"]
        .as_object()
        .into_iter()
        .flatten()
    {
        row(
            &mut out,
            &format!("app requests to portal {portal}"),
            calls.to_string(),
        );
    }
    row(
        &mut out,
        "deals worked in HubSpot (stage moves)",
        format!(
            "{} ({})",
            worked_deals.len(),
            deal_counters.stage_moves.load(Ordering::Relaxed)
        ),
    );
    row(
        &mut out,
        "  companies created in HubSpot for deals",
        deal_counters
            .companies_created
            .load(Ordering::Relaxed)
            .to_string(),
    );
    row(&mut out, "  deals won", deal_verdict.won.to_string());
    row(
        &mut out,
        "  won deals onboarded exactly once",
        deal_verdict.onboarded_once.to_string(),
    );
    row(
        &mut out,
        "  customers made from won deals",
        deal_verdict.customers_made.to_string(),
    );
    row(
        &mut out,
        "  account-created notes",
        deal_verdict.notes.to_string(),
    );
    row(
        &mut out,
        "finished calls posted (+ repeats)",
        format!("{} (+{})", call_verdict.sent, call_verdict.repeats_sent),
    );
    row(
        &mut out,
        "  logged / skipped (no contact)",
        format!("{} / {}", call_verdict.logged, call_verdict.skipped),
    );
    row(
        &mut out,
        "  call engagements in the home portal",
        call_verdict.engagements.to_string(),
    );
    let counted = |n: &AtomicUsize| n.load(Ordering::Relaxed).to_string();
    row(
        &mut out,
        "trunks created / numbers added (API)",
        format!(
            "{} / {}",
            counted(&service_counters.trunks_created),
            counted(&service_counters.numbers_added)
        ),
    );
    row(
        &mut out,
        "  trunk and number updates / releases",
        format!(
            "{} / {}",
            counted(&service_counters.updates),
            counted(&service_counters.releases)
        ),
    );
    row(
        &mut out,
        "  refused by the API's rules (409/422)",
        counted(&service_counters.refused),
    );
    row(
        &mut out,
        "  trunk and number records edited in HubSpot",
        counted(&service_counters.hubspot_edits),
    );
    row(
        &mut out,
        "  trunks / numbers checked, one record each",
        format!("{} / {}", service_verdict.trunks, service_verdict.numbers),
    );
    row(
        &mut out,
        "  their associations checked",
        service_verdict.associations_checked.to_string(),
    );
    if let Some(read_back) = repair["details"]["service_objects"].as_object() {
        row(
            &mut out,
            "  read-back: records read / put back",
            format!(
                "{} / {}",
                read_back["read"], read_back["overridden"]["fixed"]
            ),
        );
    }
    row(
        &mut out,
        "writes done after (s)",
        format!("{:.1}", writes_done.as_secs_f64()),
    );
    row(
        &mut out,
        "total (s)",
        format!("{:.1}", started.elapsed().as_secs_f64()),
    );
    if failures.is_empty() {
        Ok(out)
    } else {
        print!("{out}");
        for failure in failures.iter().take(30) {
            eprintln!("chaos: {failure}");
        }
        bail!("{} check(s) failed", failures.len())
    }
}

/// Whether the faulty phase met enough requests and faults of each kind to mean something.
fn fault_coverage(args: &Args, stats: &Value) -> Vec<String> {
    let mut short = Vec::new();
    let requests = stats["requests_by_token"]["app"].as_u64().unwrap_or(0);
    if requests < args.min_faulty_requests {
        short.push(format!(
            "the faulty phase saw {requests} app requests to HubSpot (at least {} wanted)",
            args.min_faulty_requests
        ));
    }
    for key in [
        "rate_limited_injected",
        "server_errors_injected",
        "timeouts_injected",
    ] {
        let seen = stats[key].as_u64().unwrap_or(0);
        if seen < args.min_faults_each {
            short.push(format!(
                "the faulty phase saw {seen} {key} (at least {} wanted)",
                args.min_faults_each
            ));
        }
    }
    short
}

/// Sends an API write, retrying a 503 (the database refused the transaction, e.g. as a
/// deadlock victim: nothing was committed) as a client following the problem's "retry later".
/// `None`: no answer within the client's timeout (counted; the write may or may not commit).
async fn send_write(
    run: &Run,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> anyhow::Result<Option<reqwest::Response>> {
    let mut delay = Duration::from_millis(50);
    for _ in 0..8 {
        let answer = match request().send().await {
            Ok(answer) => answer,
            Err(error) if error.is_timeout() => {
                run.counters.api_timed_out.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
            Err(error) => {
                return Err(anyhow::Error::from(error).context("API write not answered"));
            }
        };
        if answer.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Ok(Some(answer));
        }
        run.counters
            .api_unavailable_retried
            .fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    bail!("the API answered 503 eight times in a row")
}

fn token_for(warp_bin: &str, role: &str) -> anyhow::Result<String> {
    let output = Command::new(warp_bin)
        .args([
            "token",
            "--role",
            role,
            "--subject",
            "chaos",
            "--ttl",
            "7200",
        ])
        .output()
        .with_context(|| format!("running {warp_bin} token"))?;
    ensure!(
        output.status.success(),
        "{warp_bin} token failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

async fn wait_healthy(run: &Run) -> anyhow::Result<()> {
    loop {
        let health = run
            .http
            .get(format!("{}/health", run.args.api))
            .send()
            .await;
        if health.is_ok_and(|answer| answer.status().is_success()) {
            return Ok(());
        }
        run.left("waiting for the API's /health")?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The outbound worker process (`warp worker`), killed for real.
struct Worker {
    child: Child,
}

impl Drop for Worker {
    /// A failed run must not leave a worker behind (a no-op once it has exited).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Worker {
    fn start(run: &Run) -> anyhow::Result<Self> {
        let log_path = std::path::Path::new(&run.args.worker_log);
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)?;
        let child = Command::new(&run.args.warp_bin)
            .arg("worker")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} worker", run.args.warp_bin))?;
        // chaos.sh's cleanup kills these if this driver dies without dropping its worker.
        let mut pids = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(format!("{}.pids", run.args.worker_log))?;
        std::io::Write::write_all(&mut pids, format!("{}\n", child.id()).as_bytes())?;
        Ok(Worker { child })
    }

    /// Waits until the worker holds claimed rows (a pass in progress), then SIGKILLs it; returns
    /// how many rows were IN_FLIGHT under a live lease just before the kill.
    async fn kill_mid_batch(&mut self, run: &Run) -> anyhow::Result<i64> {
        let until = Instant::now() + KILL_WAIT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the worker exited by itself ({status}); see {}",
                    run.args.worker_log
                );
            }
            let in_flight = run
                .scalar("SELECT count(*) FROM hubspot_sync_queue WHERE status = 'IN_FLIGHT' AND lease_until > now()")
                .await?;
            if in_flight > 0 {
                self.child.kill()?;
                self.child.wait()?;
                return Ok(in_flight);
            }
            run.left("waiting for the worker to hold rows to kill it")?;
            ensure!(
                Instant::now() < until,
                "the worker held no claimed rows for {} s: no batch to kill it in",
                KILL_WAIT.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn stop(&mut self) {
        // SIGTERM lets it finish; it is idle by now.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn name(rng: &mut impl Rng, tag: &str) -> String {
    format!("Chaos {tag} {}", rng.random_range(100_000..999_999))
}

fn phone(rng: &mut impl Rng) -> String {
    format!("+1415{}", rng.random_range(1_000_000..9_999_999))
}

fn email(rng: &mut impl Rng) -> String {
    format!("billing{}@chaos.example", rng.random_range(1_000..9_999))
}

fn money(rng: &mut impl Rng, max: u32) -> String {
    format!(
        "{}.{:02}",
        rng.random_range(0..max),
        rng.random_range(0..100)
    )
}

fn services(rng: &mut impl Rng) -> (Value, [bool; 3]) {
    let flags = [
        rng.random_bool(0.5),
        rng.random_bool(0.5),
        rng.random_bool(0.5),
    ];
    (
        json!({"voice": {"enabled": flags[0]}, "messaging": {"enabled": flags[1]}, "data": {"enabled": flags[2]}}),
        flags,
    )
}

fn record_services(written: &mut Written, flags: [bool; 3]) {
    for (field, flag) in [
        WarpField::ServicesVoice,
        WarpField::ServicesMessaging,
        WarpField::ServicesData,
    ]
    .into_iter()
    .zip(flags)
    {
        written.values.insert(field, Some(flag.to_string()));
    }
}

/// Creates the rest of the run's customers, `already` being made.
async fn create_customers(run: &Arc<Run>, already: usize) -> anyhow::Result<Vec<Customer>> {
    let next = Arc::new(AtomicUsize::new(already));
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (run, next) = (run.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < run.args.customers {
                run.left("creating customers")?;
                made.push(create_one(&run).await?);
            }
            anyhow::Ok(made)
        }));
    }
    let mut customers = Vec::new();
    for task in tasks {
        customers.extend(task.await??);
    }
    Ok(customers)
}

async fn create_one(run: &Run) -> anyhow::Result<Customer> {
    let (body, written) = {
        let mut rng = rand::rng();
        let (services, flags) = services(&mut rng);
        let customer_type = *["PREPAID", "POSTPAID", "RESELLER"]
            .choose(&mut rng)
            .unwrap();
        let (email, phone, balance) = (email(&mut rng), phone(&mut rng), money(&mut rng, 500));
        let body = json!({
            "company_name": name(&mut rng, "Co"),
            "customer_type": customer_type,
            "credit_limit": money(&mut rng, 10_000),
            "current_balance": balance,
            "domain": format!("c{}.chaos.example", rng.random_range(0..1_000_000)),
            "contact": {"name": "Chaos Contact", "email": email, "phone": phone},
            "services": services,
        });
        let mut written = Written::default();
        written
            .values
            .insert(WarpField::Status, Some("ACTIVE".into()));
        written
            .values
            .insert(WarpField::CustomerType, Some(customer_type.into()));
        written
            .values
            .insert(WarpField::CurrentBalance, Some(balance));
        written.values.insert(WarpField::ContactEmail, Some(email));
        written.values.insert(WarpField::ContactPhone, Some(phone));
        record_services(&mut written, flags);
        (body, written)
    };
    let created = create(run, "/v1/customers", &body).await?;
    run.counters.creates.fetch_add(1, Ordering::Relaxed);
    Ok(Customer {
        id: created["id"].as_str().context("id")?.parse()?,
        ban: created["ban"].as_str().context("ban")?.to_owned(),
        written: Mutex::new(written),
    })
}

/// POSTs a create under a fresh Idempotency-Key, sent again (same key) while unanswered: the
/// key makes a retried create safe whatever became of the first attempt. Answers the 201 body.
async fn create(run: &Run, path: &str, body: &Value) -> anyhow::Result<Value> {
    let key = Uuid::new_v4().to_string();
    let mut answer = None;
    for _ in 0..3 {
        answer = send_write(run, || {
            run.api(reqwest::Method::POST, path)
                .header("Idempotency-Key", &key)
                .json(body)
        })
        .await?;
        if answer.is_some() {
            break;
        }
    }
    let answer = answer.with_context(|| format!("POST {path} got no answer three times"))?;
    let status = answer.status();
    let created: Value = answer.json().await?;
    ensure!(
        status.as_u16() == 201,
        "POST {path} answered {status}: {created}"
    );
    Ok(created)
}

/// `WRITERS` tasks, each patching its own share of the customers (so one customer's writes
/// are sequential and the last acknowledged value is known).
fn spawn_patchers(
    run: &Arc<Run>,
    customers: &Arc<Vec<Customer>>,
    patches: usize,
    progress: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<()>>> {
    (0..WRITERS)
        .map(|lane| {
            let (run, customers, progress) = (run.clone(), customers.clone(), progress.clone());
            tokio::spawn(async move {
                let mine: Vec<usize> = (lane..customers.len()).step_by(WRITERS).collect();
                let count = patches / WRITERS + usize::from(lane < patches % WRITERS);
                if mine.is_empty() {
                    return Ok(());
                }
                for _ in 0..count {
                    run.left("sending customer changes")?;
                    let index = *mine.choose(&mut rand::rng()).unwrap();
                    patch_one(&run, &customers[index]).await?;
                    progress.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect()
}

async fn patch_one(run: &Run, customer: &Customer) -> anyhow::Result<()> {
    let mut written = customer.written.lock().await;
    let (body, changed) = {
        let mut rng = rand::rng();
        let mut body = serde_json::Map::new();
        let mut changed: Vec<(WarpField, String)> = Vec::new();
        while body.is_empty() {
            if rng.random_bool(0.3) {
                body.insert("company_name".into(), json!(name(&mut rng, "Renamed")));
            }
            if rng.random_bool(0.15) {
                let domain = format!("d{}.chaos.example", rng.random_range(0..1_000_000));
                body.insert("domain".into(), json!(domain));
            }
            if rng.random_bool(0.2) {
                body.insert("credit_limit".into(), json!(money(&mut rng, 10_000)));
            }
            if rng.random_bool(0.3) {
                let balance = money(&mut rng, 500);
                changed.push((WarpField::CurrentBalance, balance.clone()));
                body.insert("current_balance".into(), json!(balance));
            }
            if rng.random_bool(0.15) {
                let status = *["ACTIVE", "SUSPENDED"].choose(&mut rng).unwrap();
                changed.push((WarpField::Status, status.into()));
                body.insert("status".into(), json!(status));
            }
            if rng.random_bool(0.15) {
                let (email, phone) = (email(&mut rng), phone(&mut rng));
                changed.push((WarpField::ContactEmail, email.clone()));
                changed.push((WarpField::ContactPhone, phone.clone()));
                body.insert(
                    "contact".into(),
                    json!({"name": "Chaos Contact", "email": email, "phone": phone}),
                );
            }
            if rng.random_bool(0.1) {
                let (services, flags) = services(&mut rng);
                for (field, flag) in [
                    WarpField::ServicesVoice,
                    WarpField::ServicesMessaging,
                    WarpField::ServicesData,
                ]
                .into_iter()
                .zip(flags)
                {
                    changed.push((field, flag.to_string()));
                }
                body.insert("services".into(), services);
            }
        }
        (Value::Object(body), changed)
    };
    let path = format!("/v1/customers/{}", customer.id);
    let Some(answer) = send_write(run, || {
        run.api(reqwest::Method::PATCH, &path)
            .header("if-match", "*")
            .json(&body)
    })
    .await?
    else {
        // It may still commit: its fields' last value is unknown, so they are not checked.
        for (field, _) in changed {
            written.values.remove(&field);
        }
        return Ok(());
    };
    let status = answer.status();
    if status.is_success() {
        run.counters.patches.fetch_add(1, Ordering::Relaxed);
        for (field, value) in changed {
            written.values.insert(field, Some(value));
        }
        return Ok(());
    }
    let problem = answer.text().await.unwrap_or_default();
    ensure!(
        status.is_client_error(),
        "PATCH answered {status} (a server error is a bug): {problem}"
    );
    run.counters.api_rejected.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// `EDITORS` tasks making the HubSpot UI edits with the user token, paced with the API
/// changes so both sides change the same companies at the same time.
fn spawn_editors(
    run: &Arc<Run>,
    customers: &Arc<Vec<Customer>>,
    patches: usize,
    progress: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let next = Arc::new(AtomicUsize::new(0));
    let by_ban: Arc<HashMap<String, usize>> = Arc::new(
        customers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.ban.clone(), i))
            .collect(),
    );
    (0..EDITORS)
        .map(|_| {
            let (run, next, progress, by_ban) =
                (run.clone(), next.clone(), progress.clone(), by_ban.clone());
            tokio::spawn(async move {
                let total = run.args.hubspot_edits;
                loop {
                    let edit = next.fetch_add(1, Ordering::Relaxed);
                    if edit >= total {
                        return Ok(());
                    }
                    // Edit i waits until the API changes are at i / total of their way.
                    while progress.load(Ordering::Relaxed) * total < edit * patches {
                        run.left("pacing HubSpot edits with the API changes")?;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let companies = linked_companies(&run, &by_ban).await?;
                    let Some((company_id, _)) = companies.choose(&mut rand::rng()).cloned() else {
                        // Nothing pushed yet: try again shortly.
                        next.fetch_sub(1, Ordering::Relaxed);
                        run.left("waiting for a first company to edit in HubSpot")?;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    };
                    edit_company(&run, &company_id).await?;
                }
            })
        })
        .collect()
}

/// (company id, BAN) of the customers linked so far.
async fn linked_companies(
    run: &Run,
    by_ban: &HashMap<String, usize>,
) -> anyhow::Result<Vec<(String, String)>> {
    let client = run.database.client().await?;
    let rows = client
        .query(
            "SELECT external_ids->>'hubspot_company_id', ban FROM customers \
             WHERE external_ids ? 'hubspot_company_id'",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .filter(|(_, ban)| by_ban.contains_key(ban))
        .collect())
}

async fn edit_company(run: &Run, company_id: &str) -> anyhow::Result<()> {
    let (property, value) = {
        let mut rng = rand::rng();
        match rng.random_range(0..100) {
            0..40 => ("name", name(&mut rng, "HubSpot")),
            40..55 => (
                "domain",
                format!("h{}.chaos.example", rng.random_range(0..1_000_000)),
            ),
            55..80 => ("warp_credit_limit", money(&mut rng, 10_000)),
            80..87 => ("warp_status", "SUSPENDED".to_owned()),
            87..93 => ("warp_current_balance", money(&mut rng, 500)),
            _ => ("phone", phone(&mut rng)),
        }
    };
    let answer = run
        .http
        .patch(format!(
            "{}/crm/v3/objects/companies/{company_id}",
            run.args.sandbox
        ))
        .bearer_auth(USER_TOKEN)
        .json(&json!({"properties": {property: value}}))
        .send()
        .await?;
    let status = answer.status();
    ensure!(
        status.is_success(),
        "HubSpot edit of company {company_id} ({property}) answered {status}: {}",
        answer.text().await.unwrap_or_default()
    );
    run.counters.edits.fetch_add(1, Ordering::Relaxed);
    let rule = FieldMap::default_mapping()
        .iter()
        .find(|m| m.hubspot_property == property)
        .map_or("UNMAPPED", |m| rule_name(m.rule));
    *run.counters
        .edits_by_rule
        .lock()
        .await
        .entry(rule)
        .or_default() += 1;
    Ok(())
}

fn rule_name(rule: ConflictRule) -> &'static str {
    match rule {
        ConflictRule::WarpWins => "WARP_WINS",
        ConflictRule::HubSpotWins => "HUBSPOT_WINS",
        ConflictRule::LatestWins => "LATEST_WINS",
    }
}

/// Waits until nothing moves: no outbox row left to process, no webhook event left to apply,
/// and the sandbox's counters (requests, deliveries) still for `QUIET_FOR`.
async fn settle(run: &Run, what: &str) -> anyhow::Result<()> {
    let mut last = None;
    let mut quiet_since = Instant::now();
    loop {
        run.left(&format!("waiting until {what}"))?;
        let active = run
            .scalar(
                "SELECT count(*) FROM hubspot_sync_queue WHERE status IN ('PENDING', 'IN_FLIGHT') \
                 OR (status = 'FAILED' AND attempts < 10)",
            )
            .await?;
        let received = run
            .scalar("SELECT count(*) FROM hubspot_webhook_events WHERE status = 'RECEIVED'")
            .await?
            + deals::onboardings_left(run).await?
            + calls::calls_left(run).await?
            + services::services_left(run).await?;
        let stats = run.sandbox_stats().await?;
        let fingerprint = (
            stats["requests_total"].as_u64(),
            stats["webhook_requests_sent"].as_u64(),
            active,
            received,
        );
        if active > 0 || received > 0 || last.as_ref() != Some(&fingerprint) {
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= QUIET_FOR {
            return Ok(());
        }
        last = Some(fingerprint);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Resolves the LATEST_WINS conflicts the run left for a person (both sides changed a field
/// within a second), HubSpot's value winning: what an operator does before reconciling.
/// Returns how many were resolved and the outbox rows the resolutions wrote (customer writes
/// too).
async fn resolve_conflicts(run: &Run) -> anyhow::Result<(usize, Vec<i64>)> {
    let mut resolved = (0, Vec::new());
    loop {
        run.left("resolving open conflicts")?;
        let page: Value = run
            .api(
                reqwest::Method::GET,
                "/v1/sync/conflicts?status=OPEN&limit=100",
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            return Ok(resolved);
        }
        for item in items {
            let id = item["id"].as_str().context("conflict id")?;
            let answer = run
                .api(
                    reqwest::Method::POST,
                    &format!("/v1/sync/conflicts/{id}/resolve"),
                )
                .json(&json!({"winner": "hubspot"}))
                .send()
                .await?;
            let status = answer.status();
            let body: Value = answer.json().await.unwrap_or_default();
            ensure!(
                status.is_success(),
                "resolving conflict {id} answered {status}: {}",
                body["title"]
            );
            ensure!(
                body["status"] == "RESOLVED",
                "conflict {id} is {} after its resolution",
                body["status"]
            );
            resolved.0 += 1;
            // No row when WARP already held the winning value.
            resolved.1.extend(body["resolution"]["outbox_id"].as_i64());
        }
    }
}

/// Requests a reconciliation and waits for it to finish; returns the finished run.
async fn reconcile(run: &Run, dry_run: bool) -> anyhow::Result<Value> {
    let answer = run
        .api(reqwest::Method::POST, "/v1/sync/reconciliations")
        .json(&json!({"dry_run": dry_run}))
        .send()
        .await?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    ensure!(
        status.as_u16() == 202,
        "POST /v1/sync/reconciliations answered {status}: {body}"
    );
    let id = serde_json::from_str::<Value>(&body)?["id"]
        .as_str()
        .context("reconciliation id")?
        .to_owned();
    loop {
        run.left(&format!(
            "waiting for reconciliation {id} (dry_run {dry_run})"
        ))?;
        let state: Value = run
            .api(
                reqwest::Method::GET,
                &format!("/v1/sync/reconciliations/{id}"),
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        match state["status"].as_str() {
            Some("succeeded") => return Ok(state),
            Some("failed") => bail!("reconciliation {id} failed: {state}"),
            Some("completed_with_errors") => {
                bail!("reconciliation {id} completed with errors: {state}")
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

struct Verdict {
    one_company: usize,
    fields_compared: usize,
    mismatches: usize,
    failures: Vec<String>,
}

/// Every company in the sandbox (the user token: the check must not fight the rate limit).
async fn all_companies(
    run: &Run,
) -> anyhow::Result<Vec<(String, BTreeMap<String, Option<String>>)>> {
    let properties: Vec<String> = FieldMap::default_mapping()
        .iter()
        .map(|m| m.hubspot_property.clone())
        .collect();
    all_records(run, "companies", &properties).await
}

/// Every record of `object_type` in the sandbox with these properties (user token).
async fn all_records(
    run: &Run,
    object_type: &str,
    properties: &[String],
) -> anyhow::Result<Vec<(String, BTreeMap<String, Option<String>>)>> {
    let mut companies = Vec::new();
    let mut after: Option<String> = None;
    loop {
        run.left(&format!("listing HubSpot {object_type}"))?;
        let mut query = vec![
            ("limit".to_owned(), "100".to_owned()),
            ("properties".to_owned(), properties.join(",")),
        ];
        if let Some(after) = &after {
            query.push(("after".to_owned(), after.clone()));
        }
        let page: Value = run
            .http
            .get(format!("{}/crm/v3/objects/{object_type}", run.args.sandbox))
            .bearer_auth(USER_TOKEN)
            .query(&query)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for company in page["results"].as_array().context("results")? {
            let id = company["id"].as_str().context("company id")?.to_owned();
            let props = company["properties"]
                .as_object()
                .map(|p| {
                    p.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
                        .collect()
                })
                .unwrap_or_default();
            companies.push((id, props));
        }
        match page["paging"]["next"]["after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return Ok(companies),
        }
    }
}

async fn verify(
    run: &Run,
    customers: &[Customer],
    resolution_rows: &[i64],
) -> anyhow::Result<Verdict> {
    let mut failures = Vec::new();
    let companies = all_companies(run).await?;
    let mut by_ban: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, (_, props)) in companies.iter().enumerate() {
        let ban = props.get("warp_ban").cloned().flatten().unwrap_or_default();
        by_ban.entry(ban).or_default().push(index);
    }
    let store = CustomerStore::new(run.database.clone(), run.args.portal_id);
    let map = FieldMap::default_mapping();
    let (mut one_company, mut fields_compared, mut mismatches) = (0, 0, 0);
    for customer in customers {
        let stored = store.get(customer.id).await?;
        let found = by_ban.get(&customer.ban).map_or(&[][..], Vec::as_slice);
        let [index] = found else {
            failures.push(format!(
                "customer {} has {} HubSpot companies with its BAN (expected 1)",
                customer.id,
                found.len()
            ));
            continue;
        };
        one_company += 1;
        let (company_id, props) = &companies[*index];
        if stored.external_ids.hubspot_company_id.as_deref() != Some(company_id.as_str()) {
            failures.push(format!(
                "customer {} is linked to {:?}, its BAN's company is {company_id}",
                customer.id, stored.external_ids.hubspot_company_id
            ));
        }
        let warp = customer_field_values(&stored);
        let written = customer.written.lock().await;
        for mapping in map.iter().filter(|m| m.enabled) {
            fields_compared += 1;
            let field = mapping.field;
            let warp_value = warp.get(field).flatten().map(str::to_owned);
            let hubspot_value = canonical_opt(
                field,
                props
                    .get(&mapping.hubspot_property)
                    .cloned()
                    .flatten()
                    .as_deref(),
            );
            // Every rule ends with both sides equal; names only, never values (PII).
            if warp_value != hubspot_value {
                mismatches += 1;
                failures.push(format!(
                    "customer {} field {} ({}): WARP and HubSpot differ",
                    customer.id,
                    field.as_str(),
                    rule_name(mapping.rule)
                ));
                continue;
            }
            // WARP_WINS: HubSpot edits never change WARP, so WARP holds the last API write.
            if mapping.rule == ConflictRule::WarpWins
                && let Some(sent) = written.values.get(&field)
                && canonical_opt(field, sent.as_deref()) != warp_value
            {
                mismatches += 1;
                failures.push(format!(
                    "customer {} field {} (WARP_WINS) is not the last value the API acknowledged",
                    customer.id,
                    field.as_str()
                ));
            }
        }
    }
    // The run's customers, and those won deals made (checked by the deal verdict); a company
    // created in HubSpot for a deal never won carries no BAN.
    let onboarded: Vec<String> = run
        .database
        .client()
        .await?
        .query(
            "SELECT c.ban FROM customers c JOIN onboardings o ON o.customer_id = c.id AND o.created_customer",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let ours: std::collections::HashSet<&str> = customers
        .iter()
        .map(|c| c.ban.as_str())
        .chain(onboarded.iter().map(String::as_str))
        .chain([""])
        .collect();
    let strays = by_ban
        .keys()
        .filter(|ban| !ours.contains(ban.as_str()))
        .count();
    if strays > 0 {
        failures.push(format!(
            "{strays} BAN(s) in HubSpot belong to no customer of the run"
        ));
    }
    let not_done = run
        .grouped(
            "SELECT status, count(*) FROM hubspot_sync_queue WHERE status <> 'DONE' GROUP BY 1",
        )
        .await?;
    for (status, n) in &not_done {
        failures.push(format!(
            "{n} outbox row(s) left {status} (every row must be DONE)"
        ));
    }
    let api_writes = (run.counters.creates.load(Ordering::Relaxed)
        + run.counters.patches.load(Ordering::Relaxed)
        + run.counters.user_creates.load(Ordering::Relaxed)
        + run.counters.user_patches.load(Ordering::Relaxed)) as i64;
    let unanswered = run.counters.api_timed_out.load(Ordering::Relaxed) as i64;
    if unanswered > 0 {
        failures.push(format!(
            "{unanswered} API write(s) got no answer within 30 s (a lock held too long?)"
        ));
    }
    let api_rows: i64 = run
        .database
        .client()
        .await?
        .query_one(
            "SELECT count(*) FROM hubspot_sync_queue \
             WHERE operation IN ('CREATE', 'UPDATE', 'DELETE') AND NOT (id = ANY($1)) \
               AND NOT (operation = 'CREATE' AND local_id IN \
                          (SELECT customer_id FROM onboardings WHERE created_customer))",
            &[&resolution_rows],
        )
        .await?
        .get(0);
    // A write that timed out may have committed (one row) or not (none).
    if api_rows < api_writes || api_rows > api_writes + unanswered {
        failures.push(format!(
            "{api_rows} outbox rows from API writes, {api_writes} writes acknowledged and \
             {unanswered} unanswered (expected one row per acknowledged write)"
        ));
    }
    let received = run
        .scalar("SELECT count(*) FROM hubspot_webhook_events WHERE status = 'RECEIVED'")
        .await?;
    if received > 0 {
        failures.push(format!("{received} webhook event(s) never applied"));
    }
    // What GET /v1/customers/{id} reports (the trigger-kept summary) against the state
    // computed from the queue and the log after all that concurrency.
    let stale = run
        .scalar("SELECT count(*) FROM customer_sync_summary_drift")
        .await?;
    if stale > 0 {
        failures.push(format!(
            "{stale} customer(s) whose sync summary differs from their queue and log"
        ));
    }
    Ok(Verdict {
        one_company,
        fields_compared,
        mismatches,
        failures,
    })
}

/// HubSpot edits of trunk and number records: none when the run writes none (nothing to edit).
fn edits_of(args: &Args) -> usize {
    if args.service_writes == 0 {
        0
    } else {
        args.service_edits
    }
}
