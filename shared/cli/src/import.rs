//! `warp import <companies|contacts|deals> [--dry-run]`: an import from HubSpot run to the end
//! in this process, with a progress bar (HubSpot's count of records when it gives one), then
//! the counts. Resumes the unfinished import of that object type when there is one (a crash, a
//! job's time budget), from the page it stopped at.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use warp_domain::import::ImportObject;
use warp_reconcile::ImportEnd;
use warp_runtime::Config;
use warp_store::imports::Import;

use crate::reconcile::prepare;

pub async fn import(config: Config, object: ImportObject, dry_run: bool) -> anyhow::Result<()> {
    let (database, secrets) = prepare(&config).await?;
    let reconciler =
        warp_reconcile::wiring::reconciler(&config, &secrets, database.clone(), None).await?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "[{elapsed_precise}] {bar:40} {pos}/{len} {msg} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("HubSpot {object} read"));
    let shown = bar.clone();
    let progress = move |import: &Import| {
        if let Some(total) = import.total_estimate {
            shown.set_length(u64::try_from(total.max(import.counts.read)).unwrap_or_default());
        }
        shown.set_position(u64::try_from(import.counts.read).unwrap_or_default());
    };
    let end = reconciler
        .import_now(object, dry_run, "cli", Some(&progress))
        .await
        .context("recording the import")?;
    bar.finish_and_clear();
    let Some(end) = end else {
        anyhow::bail!(
            "an import of {object} is running in another process; `GET /v1/sync/imports` shows it"
        );
    };
    match end {
        ImportEnd::Finished(import) => {
            print_counts(&import);
            if import.counts.failed > 0 {
                anyhow::bail!(
                    "import {} completed with {} failed record(s): GET /v1/sync/imports/{}/items",
                    import.id,
                    import.counts.failed,
                    import.id
                );
            }
            Ok(())
        }
        ImportEnd::Released { import, error } => anyhow::bail!(
            "import {} stopped after {} records ({error}); run the command again to resume it",
            import.id,
            import.counts.read
        ),
        ImportEnd::Failed { import, reason } => {
            anyhow::bail!("import {} failed: {reason}", import.id)
        }
        ImportEnd::Paused(import) => anyhow::bail!("import {} paused unexpectedly", import.id),
        ImportEnd::LostLease => {
            anyhow::bail!("another process took the import over; it goes on there")
        }
    }
}

fn print_counts(import: &Import) {
    let counts = import.counts;
    println!(
        "import {} of {}{}: {}",
        import.id,
        import.object,
        if import.dry_run { " (dry run)" } else { "" },
        import.status
    );
    for (label, value) in [
        ("read", counts.read),
        ("matched", counts.matched),
        ("linked now", counts.linked),
        ("created", counts.created),
        ("ambiguous", counts.ambiguous),
        ("candidates", counts.candidates),
        ("unmatched", counts.unmatched),
        ("failed", counts.failed),
    ] {
        println!("  {label:<12} {value:>10}");
    }
    if counts.ambiguous + counts.failed > 0 {
        println!(
            "  the records for a person: GET /v1/sync/imports/{}/items",
            import.id
        );
    }
}
