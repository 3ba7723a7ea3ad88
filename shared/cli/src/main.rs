//! `warp`: the local system and operator commands. Thin: parses arguments and calls the
//! library crates.

mod dev;
mod hubspot;
mod import;
mod reconcile;
mod worker;

use anyhow::Context;
use clap::{Parser, Subcommand};
use warp_runtime::{Config, SecretsCache, telemetry};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "warp",
    about = "WARP customer API and HubSpot sync: local system and operations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole system locally: API and webhook on HTTP_ADDR, the HubSpot sandbox, loops.
    Dev,
    /// Run only the outbound worker (the outbox loop), next to `warp dev` with DEV_OUTBOUND=false.
    Worker,
    /// Create the database at DATABASE_URL when missing and apply every migration.
    Migrate,
    /// Create the `warp` property group and `warp_*` properties in HubSpot (idempotent).
    HubspotSetup,
    /// Compare every customer with HubSpot and repair the drift (or only report it).
    Reconcile {
        /// Report the drift, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Push every customer to HubSpot (resumable: a new backfill continues an interrupted one).
    Backfill,
    /// Import every HubSpot company, contact or deal: match, link, create by the company rule
    /// (resumes the unfinished import of that object type).
    Import {
        /// companies, contacts or deals
        object: warp_domain::import::ImportObject,
        /// Match and count, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a development JWT signed with the local HS256 secret.
    Token {
        /// viewer, editor or admin
        #[arg(long, default_value = "editor")]
        role: String,
        #[arg(long, default_value = "dev-user")]
        subject: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// Scope the token to one customer (the `customer_id` claim).
        #[arg(long)]
        customer_id: Option<uuid::Uuid>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env().context("reading configuration from the environment")?;
    match cli.command {
        Command::Dev => {
            telemetry::init(config.log_format);
            dev::run(config).await
        }
        Command::Worker => {
            telemetry::init(config.log_format);
            worker::run(config).await
        }
        Command::Migrate => {
            telemetry::init(config.log_format);
            let url = secrecy::ExposeSecret::expose_secret(&config.database.url).to_owned();
            warp_store::Database::prepare(&url, 1)
                .await
                .context("migrating the database")?;
            println!("database migrated");
            Ok(())
        }
        Command::HubspotSetup => {
            telemetry::init(config.log_format);
            let secrets = SecretsCache::for_config(&config).await;
            let url = secrecy::ExposeSecret::expose_secret(&config.database.url).to_owned();
            let database = warp_store::Database::prepare(&url, 2)
                .await
                .context("preparing the database")?;
            let client = hubspot::client(&config, &secrets, &database).await?;
            hubspot::setup(&client).await
        }
        Command::Reconcile { dry_run } => {
            telemetry::init(config.log_format);
            reconcile::reconcile(config, dry_run).await
        }
        Command::Backfill => {
            telemetry::init(config.log_format);
            reconcile::backfill(config).await
        }
        Command::Import { object, dry_run } => {
            telemetry::init(config.log_format);
            import::import(config, object, dry_run).await
        }
        Command::Token {
            role,
            subject,
            ttl,
            customer_id,
        } => {
            let secrets = SecretsCache::values_only();
            let secret = match &config.jwt.hs256_secret {
                Some(s) => secrets.resolve(s).await?,
                None => anyhow::bail!(
                    "JWT_HS256_SECRET is not set (tokens from a JWKS issuer come from it)"
                ),
            };
            // The first of the audiences the API accepts.
            let audience = config.jwt.audience.split(',').next().unwrap_or_default();
            let token = warp_api::auth::issue_dev_token_for(
                &secret,
                &config.jwt.issuer,
                audience.trim(),
                &subject,
                &[role.as_str()],
                customer_id,
                std::time::Duration::from_secs(ttl),
            )?;
            println!("{token}");
            Ok(())
        }
    }
}
