//! The relay re-publishes outbox rows the queue may never have seen: never published, or
//! IN_FLIGHT with an expired lease; not rows that are done or still leased.

mod outbound_support;

use outbound_support::*;
use std::time::Duration;
use warp_store::outbox;
use warp_sync::relay::relay_once;

#[tokio::test]
async fn the_relay_republishes_unpublished_rows_and_expired_leases_only() {
    let h = harness().await;
    let publisher = RecordingPublisher::default();
    let (_, _, first) = h.create_named("Relay One", "PREPAID").await;
    let (_, _, second) = h.create_named("Relay Two", "PREPAID").await;
    let (_, _, third) = h.create_named("Relay Three", "PREPAID").await;

    // Rows younger than the threshold are left to the writer's own publish.
    let published = relay_once(&h.database, &publisher, Duration::from_secs(3600), 100)
        .await
        .unwrap();
    assert_eq!(published, 0);
    assert!(publisher.taken().is_empty());

    // A row the writer did publish is not due until the threshold passes.
    outbox::mark_published(&h.database, &[third]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let published = relay_once(&h.database, &publisher, Duration::from_millis(20), 100)
        .await
        .unwrap();
    assert_eq!(published, 3);
    assert_eq!(publisher.taken(), vec![first, second, third]);

    // Just re-published: not again within the threshold.
    let published = relay_once(&h.database, &publisher, Duration::from_secs(3600), 100)
        .await
        .unwrap();
    assert_eq!(published, 0);

    // first: DONE (never again). second: leased by a live worker (not due). third: leased by
    // a worker that died (lease expired: due).
    h.worker.process(&[first]).await;
    assert_eq!(h.row(first).await.0, "DONE");
    outbox::claim_by_ids(&h.database, PORTAL, &[second], Duration::from_secs(60), 10)
        .await
        .unwrap();
    outbox::claim_by_ids(&h.database, PORTAL, &[third], Duration::from_millis(1), 10)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let published = relay_once(&h.database, &publisher, Duration::from_millis(20), 100)
        .await
        .unwrap();
    assert_eq!(published, 1);
    assert_eq!(publisher.taken(), vec![third]);

    // The republished expired lease is claimable and gets done.
    let report = h.worker.process(&[third]).await;
    assert_eq!(report.succeeded, vec![third]);
    assert_eq!(report.pushed_customers, 1);
    assert_eq!(h.row(third).await, ("DONE".to_owned(), 2, None));

    // The limit is honoured, oldest first.
    let (_, _, fourth) = h.create_named("Relay Four", "PREPAID").await;
    let (_, _, _fifth) = h.create_named("Relay Five", "PREPAID").await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let published = relay_once(&h.database, &publisher, Duration::from_millis(20), 1)
        .await
        .unwrap();
    assert_eq!(published, 1);
    assert_eq!(publisher.taken(), vec![fourth]);
}
