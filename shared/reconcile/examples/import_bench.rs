//! Import benchmark (issue 20): N HubSpot companies (default 100,000) imported against N WARP
//! customers at HubSpot's real 100 requests / 10 s. Of every ten companies: four are linked
//! already, four carry an unlinked customer's BAN (linked by key), one has only an unlinked
//! customer's domain (its BAN is stamped, a batch write a page, then linked) and one matches
//! nothing (a candidate). The floor is every request the import must make (N / 100 list pages
//! plus one BAN batch write per page with a domain match) at 10 requests per second.
//!
//! `cargo run --profile perf -p warp-reconcile --example import_bench -- --companies 100000`
//!
//! Needs Postgres (TEST_DATABASE_URL or the local server); spawns its own sandbox. Prints one
//! JSON line. Peak heap by a counting allocator (the in-process sandbox's buffers included).

mod bench;

use std::time::Instant;
use warp_domain::import::ImportObject;
use warp_reconcile::ImportEnd;
use warp_store::Database;
use warp_testkit::heap::{self, count_flag, round2};

#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

const SEED_CHUNK: usize = 5_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let companies = count_flag("--companies", 100_000)?;
    let world = bench::world().await?;
    seed(&world.database, &world.sandbox, companies).await?;
    let reconciler = world
        .seeded(&format!("{companies} customers and companies"))
        .await?;
    let requests_before = world.sandbox.stats().requests_total;
    let baseline = heap::start();
    let started = Instant::now();
    let end = reconciler
        .import_now(ImportObject::Companies, false, "bench", None)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_mb = heap::peak_mb_since(baseline);
    let requests = world.sandbox.stats().requests_total - requests_before;
    let Some(ImportEnd::Finished(import)) = end else {
        return Err(format!("the import did not finish: {end:?}").into());
    };
    let floor = requests as f64 / 10.0;
    let suffix = bench::suffix(companies);
    let counts = import.counts;
    eprintln!(
        "imported in {seconds:.1} s: {requests} requests, read {}, matched {}, linked {}, candidates {}, failed {}",
        counts.read, counts.matched, counts.linked, counts.candidates, counts.failed
    );
    let line = serde_json::json!({
        format!("import_seconds_{suffix}"): round2(seconds),
        "import_ratio_to_floor": round2(seconds / floor),
        format!("import_hubspot_requests_{suffix}"): requests,
        format!("import_peak_heap_mb_{suffix}"): round2(peak_mb),
        format!("import_linked_{suffix}"): counts.linked,
        format!("import_failed_{suffix}"): counts.failed,
    });
    println!("{line}");
    Ok(())
}

/// Customers by SQL; companies in the sandbox by the mix above; the links of the linked ones.
async fn seed(
    database: &Database,
    sandbox: &hubspot_sandbox::SandboxHandle,
    count: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let ids = bench::seed_customers(database, count).await?;
    let client = database.client().await?;
    for (chunk_number, chunk) in ids.chunks(SEED_CHUNK).enumerate() {
        let numbers: Vec<usize> = (0..chunk.len())
            .map(|n| chunk_number * SEED_CHUNK + n + 1)
            .collect();
        let companies = numbers.iter().map(|&i| {
            let mut values = hubspot_sandbox::PropertyValues::from([(
                "name".to_owned(),
                format!("Bench company {i}"),
            )]);
            match i % 10 {
                0..=7 => {
                    values.insert("warp_ban".into(), format!("BN-{i:09}"));
                }
                8 => {
                    values.insert("domain".into(), format!("bench{i}.example"));
                }
                _ => {
                    values.insert("domain".into(), format!("prospect{i}.example"));
                }
            }
            values
        });
        let company_ids: Vec<String> = sandbox
            .seed_companies(companies)?
            .iter()
            .map(u64::to_string)
            .collect();
        let (linked, linked_companies): (Vec<uuid::Uuid>, Vec<String>) = chunk
            .iter()
            .zip(numbers.iter().zip(company_ids))
            .filter(|(_, (i, _))| *i % 10 < 4)
            .map(|(id, (_, company))| (*id, company))
            .unzip();
        client
            .execute(
                "UPDATE customers c SET external_ids = jsonb_build_object('hubspot_company_id', l.company) \
                 FROM unnest($1::uuid[], $2::text[]) AS l(id, company) WHERE c.id = l.id",
                &[&linked, &linked_companies],
            )
            .await?;
    }
    client.execute("VACUUM ANALYZE customers", &[]).await?;
    Ok(())
}
