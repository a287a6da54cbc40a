//! `shuin witness init|serve|key`: a C2SP tlog-witness run by a third party
//! (`shuin_witness`; docs/ledger.md "Witnesses").

use crate::failure::{Context, Result};
use shuin_core::SystemClock;
use shuin_witness::{LogConfig, WitnessConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum WitnessCommand {
    /// Make a witness: its configuration and Ed25519 key (0600) in DIR; prints the
    /// witness's verifier key, which each log's instance is given.
    Init {
        /// The witness's data directory (made if missing; must not hold a witness).
        #[arg(long)]
        data: PathBuf,
        /// The witness's name, the key name of its cosignatures (a schema-less URL such
        /// as witness.example.jp/w1).
        #[arg(long)]
        name: String,
        /// A log to witness, by the verifier key of its checkpoints (in a ledger
        /// export's manifest.json: `audit_key.verifier_key`); its name is the log's
        /// origin. Repeatable.
        #[arg(long = "log-key", value_name = "VKEY")]
        log_keys: Vec<String>,
        /// Machine-readable output (JSON).
        #[arg(long)]
        json: bool,
    },
    /// Serve the witness (POST /add-checkpoint, GET /<origin hash>/checkpoint).
    Serve {
        /// The witness's data directory.
        #[arg(long)]
        data: PathBuf,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
    },
    /// Print the witness's verifier key.
    Key {
        /// The witness's data directory.
        #[arg(long)]
        data: PathBuf,
    },
}

/// Runs a witness command.
pub(crate) fn run(command: WitnessCommand) -> Result<()> {
    match command {
        WitnessCommand::Init {
            data,
            name,
            log_keys,
            json,
        } => init(&data, name, log_keys, json),
        WitnessCommand::Serve { data, listen } => {
            crate::init_tracing();
            crate::runtime()?.block_on(serve(&data, &listen))
        }
        WitnessCommand::Key { data } => {
            let witness =
                shuin_witness::open(&data, Arc::new(SystemClock)).context(data.display())?;
            crate::output::say!("{}", witness.key().verifier_key());
            Ok(())
        }
    }
}

fn init(data: &Path, name: String, log_keys: Vec<String>, json: bool) -> Result<()> {
    let logs = log_keys
        .iter()
        .map(|key| LogConfig::for_verifier_key(key).context(format!("--log-key {key:?}")))
        .collect::<Result<Vec<_>>>()?;
    let config = WitnessConfig { name, logs };
    let key = shuin_witness::init(data, &config).context(data.display())?;
    if json {
        let report = serde_json::json!({
            "data": data,
            "name": key.name(),
            "verifier_key": key.verifier_key(),
            "logs": config.logs.iter().map(|l| &l.origin).collect::<Vec<_>>(),
        });
        crate::output::say!("{report}");
    } else {
        crate::output::say!("{}", key.verifier_key());
        eprintln!(
            "witness {} made in {} ({} log(s)); give the verifier key above to each log's instance",
            key.name(),
            data.display(),
            config.logs.len()
        );
    }
    Ok(())
}

async fn serve(data: &Path, listen: &str) -> Result<()> {
    let witness = shuin_witness::open(data, Arc::new(SystemClock)).context(data.display())?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .context(format!("listening on {listen}"))?;
    let address = listener.local_addr().context("listening")?;
    tracing::info!(
        address = %address,
        verifier_key = %witness.key().verifier_key(),
        "the witness is serving"
    );
    let shutdown = shuin_server::listeners::shutdown_signal();
    shuin_witness::http::serve(Arc::new(witness), listener, shutdown)
        .await
        .context("serving")
}
