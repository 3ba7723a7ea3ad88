//! The deal mirror's write rules: an older read never overwrites a newer one, a deal HubSpot
//! stopped showing is archived (even one never seen), and HubSpot showing it again restores it.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use warp_domain::deal::{DealSnapshot, StageOutcome};
use warp_store::deals::{self, DealQuery, MirroredDeal};

const PORTAL: i64 = 7;

fn deal(stage: &str, modified_ms: i64) -> MirroredDeal {
    let properties: BTreeMap<String, Option<String>> = [
        ("dealname", "Rollout"),
        ("amount", "99.95"),
        ("pipeline", "default"),
        ("dealstage", stage),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Some(v.to_owned())))
    .chain([(
        "hs_lastmodifieddate".to_owned(),
        Some(modified_ms.to_string()),
    )])
    .collect();
    MirroredDeal {
        snapshot: DealSnapshot::from_properties("501", &properties),
        outcome: if stage == "closedwon" {
            StageOutcome::Won
        } else {
            StageOutcome::Open
        },
        company_id: Some("9001".into()),
    }
}

#[tokio::test]
async fn older_reads_never_win_and_archived_deals_come_back_when_hubspot_shows_them() {
    let db = warp_testkit::fresh_database().await;
    let client = db.client().await.unwrap();
    let now = Utc::now().timestamp_millis();
    let earlier = now - Duration::minutes(5).num_milliseconds();
    let all = DealQuery {
        include_archived: true,
        limit: 100,
        ..DealQuery::default()
    };

    deals::upsert_many(&**client, PORTAL, &[deal("closedwon", now)])
        .await
        .unwrap();
    // A read from before the win, stored late (a reordered delivery): not kept.
    let written = deals::upsert_many(&**client, PORTAL, &[deal("contractsent", earlier)])
        .await
        .unwrap();
    assert_eq!(written, 0);
    let page = deals::list(&**client, PORTAL, &all).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let stored = &page.items[0];
    assert_eq!(stored.stage_id.as_deref(), Some("closedwon"));
    assert_eq!(stored.stage_outcome, "won");
    assert_eq!(
        stored.amount.map(|a| a.to_string()).as_deref(),
        Some("99.95")
    );

    // Deleted in HubSpot, then shown again by a read (restored): back, even with an older
    // modification time than the one stored (HubSpot shows it, so it is not gone).
    deals::archive_many(&**client, PORTAL, &[("501".into(), None)])
        .await
        .unwrap();
    let archived = deals::get(&**client, PORTAL, stored.id).await.unwrap();
    assert!(archived.archived);
    let open = DealQuery {
        limit: 100,
        ..DealQuery::default()
    };
    assert!(
        deals::list(&**client, PORTAL, &open)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    deals::upsert_many(&**client, PORTAL, &[deal("closedwon", earlier)])
        .await
        .unwrap();
    assert!(
        !deals::get(&**client, PORTAL, stored.id)
            .await
            .unwrap()
            .archived
    );

    // A deal merged away before WARP ever saw it is recorded as archived, naming its survivor.
    deals::archive_many(&**client, PORTAL, &[("777".into(), Some("501".into()))])
        .await
        .unwrap();
    let page = deals::list(&**client, PORTAL, &all).await.unwrap();
    let merged = page.items.iter().find(|d| d.hubspot_id == "777").unwrap();
    assert!(merged.archived);
    assert_eq!(merged.merged_into_hubspot_id.as_deref(), Some("501"));
    // Another portal sees none of it.
    assert!(
        deals::list(&**client, PORTAL + 1, &all)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn a_deal_being_read_is_locked_until_its_claim_commits_even_before_it_was_ever_stored() {
    let db = warp_testkit::fresh_database().await;
    let mut holder = db.client().await.unwrap();
    let mut other = db.client().await.unwrap();
    let held = holder.transaction().await.unwrap();
    deals::lock_many(&*held, PORTAL, &["42".into(), "41".into()])
        .await
        .unwrap();

    let waiting = other.transaction().await.unwrap();
    waiting
        .batch_execute("SET LOCAL lock_timeout = '200ms'")
        .await
        .unwrap();
    let blocked = deals::lock_many(&*waiting, PORTAL, &["41".into()]).await;
    assert!(blocked.is_err(), "a second reader of deal 41 must wait");
    waiting.rollback().await.unwrap();

    // The placeholder rows are nobody's business until the claim fills them in.
    let seen: i64 = other
        .query_one("SELECT count(*) FROM deals", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 0);
    held.rollback().await.unwrap();
    let free = other.transaction().await.unwrap();
    deals::lock_many(&*free, PORTAL, &["41".into()])
        .await
        .unwrap();
}
