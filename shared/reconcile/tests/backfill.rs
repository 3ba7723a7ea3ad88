//! `warp backfill`'s bookkeeping in real Postgres: each page queues full pushes and moves the
//! position in one transaction, an interrupted backfill resumes after the last page, and a
//! finished one starts over.

mod common;

use common::harness;
use warp_store::reconciliation_runs as runs;
use warp_testkit::PORTAL;
use warp_testkit::Sql;

#[tokio::test]
async fn an_interrupted_backfill_resumes_after_its_last_page_and_a_finished_one_starts_over() {
    let h = harness().await;
    for n in 0..5 {
        h.create(&format!("Backfill {n}")).await;
    }
    h.database
        .execute("UPDATE hubspot_sync_queue SET status = 'DONE'")
        .await;
    let client = h.database.client().await.unwrap();

    let start = runs::backfill_start(&h.database, PORTAL).await.unwrap();
    assert_eq!((start.last_customer_id, start.customers_queued), (None, 0));
    let first = runs::customer_links_page(&**client, None, 2).await.unwrap();
    let pairs: Vec<_> = first.iter().map(|c| (c.id, c.version)).collect();
    let queued = runs::backfill_page(&h.database, PORTAL, &pairs, first[1].id)
        .await
        .unwrap();
    assert_eq!(queued.len(), 2);
    // The process dies here. The next backfill resumes after the page it finished.
    let resumed = runs::backfill_start(&h.database, PORTAL).await.unwrap();
    assert_eq!(resumed.last_customer_id, Some(first[1].id));
    assert_eq!(resumed.customers_queued, 2);
    let rest = runs::customer_links_page(&**client, resumed.last_customer_id, 100)
        .await
        .unwrap();
    assert_eq!(rest.len(), 3, "only the customers not yet queued");
    let pairs: Vec<_> = rest.iter().map(|c| (c.id, c.version)).collect();
    runs::backfill_page(&h.database, PORTAL, &pairs, rest[2].id)
        .await
        .unwrap();
    runs::backfill_finish(&h.database, PORTAL).await.unwrap();
    assert_eq!(
        h.database.scalar("SELECT count(*) FROM hubspot_sync_queue WHERE operation = 'RESYNC' AND status = 'PENDING'")
            .await,
        5,
        "every customer queued exactly once"
    );
    h.push_all().await;
    assert_eq!(
        h.database
            .scalar("SELECT count(*) FROM customers WHERE external_ids ? 'hubspot_company_id'")
            .await,
        5
    );

    let again = runs::backfill_start(&h.database, PORTAL).await.unwrap();
    assert_eq!((again.last_customer_id, again.customers_queued), (None, 0));
}
