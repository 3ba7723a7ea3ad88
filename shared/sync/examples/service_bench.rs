//! Trunks, numbers and the daily usage push (issue 22) on the production wiring (the home
//! portal's budget, 100 requests / 10 s, shared through Postgres) against the sandbox.
//!
//! 1. `--customers` customers (10,000), each linked to a company, with one trunk and `--numbers`
//!    numbers (5), in a portal with custom objects: every trunk and number pushed as a record.
//!    The request floor is what any client must send: the limit read, the schema list and the
//!    two schema creates, one upsert per 100 trunks and per 100 numbers, and the default
//!    associations (trunk → company per 100 trunks; number → company and number → trunk per 100
//!    numbers), at 10 a second. Goal: at least 0.95 of the ceiling (floor seconds / seconds).
//! 2. `--usage-customers` customers (100,000), each linked to a company, with a usage day this
//!    month: the daily usage push writes every company's figures. The floor is one batch update
//!    per 100 companies at 10 a second (100,000: 1,000 calls, 100 s). Goal: within 1.1 × the
//!    floor.
//!
//! `cargo run --profile perf -p warp-sync --example service_bench -- --customers 10000`
//!
//! Needs Postgres (TEST_DATABASE_URL or the local server); spawns its own sandbox. Prints one
//! JSON line.

use std::time::Instant;

use warp_store::Database;
use warp_sync::service_objects::ServiceDesk;
use warp_sync::usage_push::UsagePush;

use support::{PORTAL, flag, round};

#[path = "support/mod.rs"]
mod support;

/// The home portal's budget per second (HubSpot's 100 requests / 10 s).
const PER_S: f64 = 10.0;
/// Companies seeded into the sandbox per call.
const SEED_CHUNK: usize = 10_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let customers = flag("--customers", 10_000)?;
    let numbers = flag("--numbers", 5)?;
    let usage_customers = flag("--usage-customers", 100_000)?;

    let (sandbox, database, client) = support::sandbox_client().await?;
    let answer = reqwest::Client::new()
        .post(format!("{}/_sandbox/portals", sandbox.base_url()))
        .json(&serde_json::json!({"portal_id": PORTAL, "enterprise": true}))
        .send()
        .await?;
    if !answer.status().is_success() {
        return Err(format!("making the portal Enterprise answered {}", answer.status()).into());
    }
    seed_linked(&database, &sandbox, customers, "SV").await?;
    seed_services(&database, numbers).await?;
    support_settle().await;
    let desk = ServiceDesk::new(database.clone(), client.clone(), PORTAL);
    let before = sandbox.stats().requests_total;
    let started = Instant::now();
    let (mut trunks, mut pushed_numbers, mut failed) = (0, 0, 0);
    loop {
        let report = desk.push().await?;
        trunks += report.trunks;
        pushed_numbers += report.numbers;
        failed += report.failed;
        if report == Default::default() {
            break;
        }
    }
    let service_seconds = started.elapsed().as_secs_f64();
    let service_requests = sandbox.stats().requests_total - before;
    let hundreds = |n: usize| n.div_ceil(100);
    let minimum = 4 + 2 * hundreds(customers) + 3 * hundreds(customers * numbers);
    let service_floor = minimum as f64 / PER_S;
    eprintln!(
        "pushed {trunks} trunks and {pushed_numbers} numbers ({failed} failed) in \
         {service_seconds:.1} s with {service_requests} requests (minimum {minimum}, floor \
         {service_floor:.1} s)"
    );

    let (usage_sandbox, usage_database, usage_client) = support::sandbox_client().await?;
    seed_linked(&usage_database, &usage_sandbox, usage_customers, "UP").await?;
    seed_usage(&usage_database).await?;
    support_settle().await;
    let push = UsagePush::new(usage_database.clone(), usage_client, PORTAL);
    let before = usage_sandbox.stats().requests_total;
    let started = Instant::now();
    let report = push.run(chrono::Utc::now().date_naive()).await?;
    let usage_seconds = started.elapsed().as_secs_f64();
    let usage_requests = usage_sandbox.stats().requests_total - before;
    let usage_floor = hundreds(usage_customers) as f64 / PER_S;
    eprintln!(
        "usage push: {} companies in {usage_seconds:.1} s with {usage_requests} requests \
         (floor {usage_floor:.1} s)",
        report.companies_written
    );

    let line = serde_json::json!({
        "service_trunks_pushed": trunks,
        "service_numbers_pushed": pushed_numbers,
        "service_failed": failed,
        "service_seconds": round(service_seconds),
        "service_requests": service_requests,
        "service_requests_minimum": minimum,
        "service_ceiling_ratio": round(service_floor / service_seconds),
        "usage_push_companies": report.companies_written,
        "usage_push_seconds": round(usage_seconds),
        "usage_push_requests": usage_requests,
        "usage_push_ratio_to_floor": round(usage_seconds / usage_floor),
        "service_rate_limited_real": sandbox.stats().rate_limited_real
            + usage_sandbox.stats().rate_limited_real,
    });
    println!("{line}");
    Ok(())
}

/// `count` customers (BANs `<prefix>-…`), each linked to a company seeded into the sandbox.
async fn seed_linked(
    database: &Database,
    sandbox: &hubspot_sandbox::SandboxHandle,
    count: usize,
    prefix: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = database.client().await?;
    let total = count as i64;
    let ids: Vec<uuid::Uuid> = client
        .query(
            "INSERT INTO customers (id, ban, company_name, customer_type, credit_limit, current_balance, contact, services) \
             SELECT gen_random_uuid(), $2 || '-' || lpad(i::text, 9, '0'), 'Bench customer ' || i, 'POSTPAID', \
                    100000, 0, '{}'::jsonb, '{\"voice\":{\"enabled\":true}}'::jsonb \
             FROM generate_series(1, $1::bigint) AS i RETURNING id",
            &[&total, &prefix],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for chunk in ids.chunks(SEED_CHUNK) {
        let companies: Vec<String> = sandbox
            .seed_companies(chunk.iter().map(|id| {
                hubspot_sandbox::PropertyValues::from([("name".to_owned(), format!("Bench {id}"))])
            }))?
            .iter()
            .map(u64::to_string)
            .collect();
        client
            .execute(
                "UPDATE customers c SET external_ids = jsonb_build_object('hubspot_company_id', l.company) \
                 FROM unnest($1::uuid[], $2::text[]) AS l(id, company) WHERE c.id = l.id",
                &[&chunk.to_vec(), &companies],
            )
            .await?;
    }
    client.execute("VACUUM ANALYZE customers", &[]).await?;
    Ok(())
}

/// One trunk and `numbers` numbers (routed to it) per customer.
async fn seed_services(
    database: &Database,
    numbers: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = database.client().await?;
    client
        .batch_execute(
            "INSERT INTO trunks (id, customer_id, name, status, ip_addresses, concurrent_calls) \
             SELECT gen_random_uuid(), id, 'Trunk of ' || ban, 'active', '{198.51.100.10}', 100 \
             FROM customers",
        )
        .await?;
    let per_customer = numbers as i64;
    client
        .execute(
            "INSERT INTO phone_numbers (id, customer_id, number, number_type, capabilities, monthly_cost, trunk_id, status) \
             SELECT gen_random_uuid(), t.customer_id, \
                    '+1' || lpad((2000000000 + row_number() OVER (ORDER BY t.id, n))::text, 10, '0'), \
                    'local', '{voice,sms}', 1.00, t.id, 'active' \
             FROM trunks t CROSS JOIN generate_series(1, $1::bigint) AS n",
            &[&per_customer],
        )
        .await?;
    for table in ["trunks", "phone_numbers", "account_events"] {
        client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await?;
    }
    Ok(())
}

/// A usage day this month for every customer.
async fn seed_usage(database: &Database) -> Result<(), Box<dyn std::error::Error>> {
    let client = database.client().await?;
    client
        .batch_execute(
            "INSERT INTO usage_daily (customer_id, day, calls_completed, minutes, sms_sent, spend) \
             SELECT id, date_trunc('month', now())::date, 100, 500, 10, 45.00 FROM customers",
        )
        .await?;
    client.batch_execute("VACUUM ANALYZE usage_daily").await?;
    Ok(())
}

/// Lets the 10-second window refill (seeding spent none of it, but the properties did).
async fn support_settle() {
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
}
