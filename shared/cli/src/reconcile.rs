//! `warp reconcile [--dry-run]` and `warp backfill`: operator commands with a progress bar and
//! a summary table. Both queue their pushes in the outbox and then drive the outbound worker
//! until the outbox is drained, so the command's end means HubSpot has the values.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::ExposeSecret;
use warp_reconcile::{DriftReport, Phase, Progress, jobs};
use warp_runtime::{Config, SecretsCache};
use warp_store::Database;
use warp_store::reconciliation_runs as runs;
use warp_sync::outbound::OutboundWorker;

/// Customers read per backfill page (one transaction queues their pushes and the position).
const BACKFILL_PAGE: u32 = 500;

pub(crate) async fn prepare(config: &Config) -> anyhow::Result<(Database, SecretsCache)> {
    let database = Database::prepare(config.database.url.expose_secret(), 4)
        .await
        .context("preparing the database (is PostgreSQL running? `make postgres` starts it)")?;
    let secrets = SecretsCache::for_config(config).await;
    Ok((database, secrets))
}

fn spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

pub async fn reconcile(config: Config, dry_run: bool) -> anyhow::Result<()> {
    let (database, secrets) = prepare(&config).await?;
    let reconciler =
        warp_reconcile::wiring::reconciler(&config, &secrets, database.clone(), None).await?;
    let bar = spinner();
    let shown = bar.clone();
    let progress = move |p: Progress| {
        let phase = match p.phase {
            Phase::Companies => "HubSpot companies",
            Phase::Customers => "WARP customers",
            Phase::Contacts => "HubSpot contacts",
            Phase::Users => "WARP users",
        };
        shown.set_message(format!(
            "{phase}: {} companies, {} customers, {} contacts, {} users checked, {} drift found",
            p.companies_checked,
            p.customers_checked,
            p.contacts_checked,
            p.users_checked,
            p.drift_found
        ));
    };
    let finished = jobs::reconcile_now(&reconciler, dry_run, "cli", Some(&progress))
        .await
        .context("recording the run")?;
    let Some(finished) = finished else {
        bar.finish_and_clear();
        anyhow::bail!("another reconciliation of this portal is executing; try again later");
    };
    let pushed = if dry_run {
        0
    } else {
        drain_outbox(&config, &secrets, &database, &bar).await?
    };
    bar.finish_and_clear();
    match (&finished.report, &finished.error) {
        (Some(report), _) => {
            print_report(finished.id, report, pushed);
            // The run got to the end but could not repair everything: a script running
            // `make reconcile` must see it, as the API's `completed_with_errors` says.
            if report.errors > 0 {
                anyhow::bail!(
                    "reconciliation {} completed with {} error(s)",
                    finished.id,
                    report.errors
                );
            }
        }
        (None, Some(error)) => anyhow::bail!("reconciliation {} failed: {error}", finished.id),
        (None, None) => anyhow::bail!("reconciliation {} left no report", finished.id),
    }
    Ok(())
}

pub async fn backfill(config: Config) -> anyhow::Result<()> {
    let (database, secrets) = prepare(&config).await?;
    let portal_id = config.hubspot.portal_id;
    let total: i64 = database
        .client()
        .await?
        .query_one(
            "SELECT count(*) FROM customers WHERE deleted_at IS NULL",
            &[],
        )
        .await?
        .get(0);
    let start = runs::backfill_start(&database, portal_id).await?;
    let bar = ProgressBar::new(u64::try_from(total).unwrap_or_default());
    bar.set_style(
        ProgressStyle::with_template(
            "[{elapsed_precise}] {bar:40} {pos}/{len} customers queued {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(u64::try_from(start.customers_queued).unwrap_or_default());
    if start.last_customer_id.is_some() {
        bar.println("resuming the backfill where it stopped");
    }
    let mut after = start.last_customer_id;
    let mut queued = start.customers_queued;
    loop {
        let client = database.client().await?;
        let page = runs::customer_links_page(&**client, after, BACKFILL_PAGE).await?;
        drop(client);
        let Some(last) = page.last().map(|link| link.id) else {
            break;
        };
        let live: Vec<(uuid::Uuid, i64)> = page
            .iter()
            // Deleted customers are never created; ones a person unlinked wait for a person.
            .filter(|link| !link.deleted && !link.held)
            .map(|link| (link.id, link.version))
            .collect();
        let ids = runs::backfill_page(&database, portal_id, &live, last).await?;
        queued += ids.len() as i64;
        bar.inc(ids.len() as u64);
        after = Some(last);
    }
    runs::backfill_finish(&database, portal_id).await?;
    bar.finish_and_clear();
    let spin = spinner();
    let pushed = drain_outbox(&config, &secrets, &database, &spin).await?;
    spin.finish_and_clear();
    print_table(
        "backfill",
        &[
            ("customers queued (this backfill)", queued.to_string()),
            ("outbox rows pushed now", pushed.to_string()),
        ],
    );
    Ok(())
}

/// Drives the outbound worker until nothing is due; returns the rows it finished.
async fn drain_outbox(
    config: &Config,
    secrets: &SecretsCache,
    database: &Database,
    bar: &ProgressBar,
) -> anyhow::Result<usize> {
    let worker =
        Arc::new(warp_sync::wiring::outbound_worker(config, secrets, database.clone()).await?);
    let mut done = 0;
    let mut idle_passes = 0;
    while idle_passes < 3 {
        let report = worker_pass(&worker).await?;
        done += report.0;
        bar.set_message(format!(
            "pushing to HubSpot: {done} outbox rows done, {} failed",
            report.1
        ));
        if report.0 + report.1 == 0 {
            idle_passes += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        } else {
            idle_passes = 0;
        }
    }
    Ok(done)
}

async fn worker_pass(worker: &OutboundWorker) -> anyhow::Result<(usize, usize)> {
    let report = worker
        .process_due(warp_sync::outbound::LOOP_BATCH)
        .await
        .context("pushing the outbox")?;
    Ok((report.succeeded.len(), report.failed.len()))
}

fn print_report(id: uuid::Uuid, report: &DriftReport, pushed: usize) {
    let mut rows = vec![
        ("run", id.to_string()),
        ("dry run", report.dry_run.to_string()),
        ("customers checked", report.customers_checked.to_string()),
        ("companies checked", report.companies_checked.to_string()),
        ("HubSpot requests", report.hubspot_requests.to_string()),
        ("drift found", report.drift_found.to_string()),
        ("drift fixed", report.drift_fixed.to_string()),
        ("errors", report.errors.to_string()),
    ];
    if !report.dry_run {
        rows.push(("outbox rows pushed now", pushed.to_string()));
    }
    print_table("reconciliation", &rows);
    let tally =
        |tally: &warp_reconcile::Tally| format!("{} found, {} fixed", tally.found, tally.fixed);
    for (object_type, found) in &report.by_object_type {
        let mut rows = vec![
            ("WARP records checked", found.warp_checked.to_string()),
            ("HubSpot records checked", found.hubspot_checked.to_string()),
        ];
        rows.extend(found.by_kind.iter().map(|(kind, t)| (*kind, tally(t))));
        rows.extend(
            found
                .by_field
                .iter()
                .map(|(field, t)| (*field, format!("differs: {}", tally(t)))),
        );
        print_table(object_type.as_str(), &rows);
    }
    for reason in &report.error_reasons {
        eprintln!("error: {reason}");
    }
}

fn print_table(title: &str, rows: &[(&str, String)]) {
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let value_width = rows.iter().map(|(_, value)| value.len()).max().unwrap_or(0);
    let rule = format!("+-{}-+-{}-+", "-".repeat(width), "-".repeat(value_width));
    println!("{title}");
    println!("{rule}");
    for (name, value) in rows {
        println!("| {name:<width$} | {value:>value_width$} |");
    }
    println!("{rule}");
}
