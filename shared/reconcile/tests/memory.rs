//! The memory bound: a run over 10,000 customers and 10,000 companies (1% of them drifted)
//! holds only compact sets and one page at a time. Measured in-process by a counting global
//! allocator: the peak of live heap bytes during the run above what was live before it. The
//! sandbox serves from this process too, so its per-request buffers are counted as well (the
//! figure is an upper bound of the reconciler's own).

mod common;

use common::harness_with;
use hubspot_sandbox::{PropertyValues, SandboxConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use warp_domain::sync::{FieldMap, customer_field_values, full_push};
use warp_testkit::Sql;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CUSTOMERS: i64 = 10_000;
/// 100k customers must fit in 128 MB; what the run keeps grows with the number of companies
/// (about 40 bytes each in the compact sets), the rest is one page at a time. A tenth of that
/// budget for a tenth of the customers leaves the bound honest and testable.
const BOUND_BYTES: usize = 128 * 1024 * 1024 / 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_customers_reconcile_within_the_memory_bound() {
    // A generous sandbox limit: this test is about memory, the benchmark about time.
    let h = harness_with(SandboxConfig {
        rate_limit_max: 2_000,
        ..SandboxConfig::default()
    })
    .await;
    let client = h.database.client().await.unwrap();
    client
        .execute(
            "INSERT INTO customers (id, ban, company_name, customer_type, credit_limit, domain, contact, services) \
             SELECT gen_random_uuid(), 'BN-' || lpad(i::text, 9, '0'), 'Memory customer ' || i, 'POSTPAID', \
                    1000 + i, 'memory' || i || '.example', jsonb_build_object('email', 'billing' || i || '@memory.example'), \
                    '{\"voice\":{\"enabled\":true}}'::jsonb \
             FROM generate_series(1, $1::bigint) AS i",
            &[&CUSTOMERS],
        )
        .await
        .unwrap();
    let ids: Vec<uuid::Uuid> = client
        .query("SELECT id FROM customers ORDER BY ban", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let customers = warp_store::customers::load(&**client, &ids).await.unwrap();
    let map = FieldMap::default_mapping();
    let companies: Vec<PropertyValues> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let mut values: PropertyValues =
                full_push(&map, &customer_field_values(&customers[id]))
                    .into_iter()
                    .map(|change| {
                        (
                            change.hubspot_property.clone(),
                            change.hubspot_value().to_owned(),
                        )
                    })
                    .collect();
            if n.is_multiple_of(100) {
                values.insert("name".into(), format!("Renamed in HubSpot {n}"));
            }
            values
        })
        .collect();
    drop(customers);
    let company_ids = h.sandbox.seed_companies(companies).unwrap();
    let company_ids: Vec<String> = company_ids.iter().map(u64::to_string).collect();
    client
        .execute(
            "UPDATE customers c SET external_ids = jsonb_build_object('hubspot_company_id', l.company) \
             FROM unnest($1::uuid[], $2::text[]) AS l(id, company) WHERE c.id = l.id",
            &[&ids, &company_ids],
        )
        .await
        .unwrap();
    drop((client, ids, company_ids));

    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let report = h.reconciler.run(None, false, None).await.unwrap();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
    eprintln!(
        "reconciled {} customers / {} companies: peak {:.1} MB above baseline, {} requests",
        report.customers_checked,
        report.companies_checked,
        peak as f64 / 1_048_576.0,
        report.hubspot_requests
    );
    assert_eq!(report.customers_checked, CUSTOMERS as u64);
    assert_eq!(report.companies_checked, CUSTOMERS as u64);
    assert_eq!(report.errors, 0, "{:?}", report.error_reasons);
    assert_eq!(report.drift_found, 100, "{:?}", report.by_object_type);
    assert_eq!(report.drift_fixed, 100);
    assert_eq!(
        report.hubspot_requests,
        100 + 2 + 1,
        "100 list pages, the history of the 100 drifted companies in two batch reads, and \
         one (empty) page of contacts"
    );
    assert!(
        peak < BOUND_BYTES,
        "peak {peak} bytes is over {BOUND_BYTES}"
    );
    assert_eq!(
        h.database
            .scalar("SELECT count(*) FROM customers WHERE company_name LIKE 'Renamed in HubSpot %'")
            .await,
        100
    );
}
