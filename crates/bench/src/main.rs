//! `shuin-bench`: the drivers behind `scripts/bench` (issue 7) that the OpenSSL tools
//! cannot play.
//!
//! - `issuance`: applications made beforehand from a testkit card (one challenge, one new
//!   key and CSR, one CMS signature each), then submitted over HTTP by concurrent clients
//!   against `shuin serve`; prints the rate and the latency percentiles.
//! - `fsync`: the latency of one durable write where the instance lives (the floor under
//!   each SQLite commit).
//! - `sign`: the raw signing rate of an instance's issuer key (software or PKCS#11), over
//!   a TBS-sized message, with the same concurrency, for a fixed time.
//! - `delay-proxy`: a delay line in front of a unix socket (the network between shuin
//!   and a network HSM), for issuance at an injected round trip.
//! - `soak`: mixed load for a while, a row per period (`scripts/soak`).
//! - `siege`: slow clients and an OCSP flood of unknown serials (`scripts/siege`).
//!
//! Each prints one `name: key=value ...` line that `scripts/bench` reads.

mod cpu;
mod delay_proxy;
mod fsync;
mod issuance;
mod latency;
mod raw_sign;
mod server_process;
mod siege;
mod soak;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "shuin-bench", about = "Benchmark drivers for scripts/bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The server and the applicant: the testkit card and the 4 basic items it carries.
#[derive(clap::Args)]
struct Applicant {
    /// Base URL of `shuin serve`.
    #[arg(long)]
    server: String,
    /// The testkit card's key (PKCS#8 PEM).
    #[arg(long)]
    card_key: PathBuf,
    /// The testkit card's signing certificate.
    #[arg(long)]
    card_cert: PathBuf,
    #[arg(long)]
    name: String,
    #[arg(long)]
    birth_date: String,
    #[arg(long)]
    address: String,
}

impl Applicant {
    fn options(self, applications: usize, warmup: usize, clients: usize) -> issuance::Options {
        issuance::Options {
            server: self.server,
            card_key: self.card_key,
            card_cert: self.card_cert,
            name: self.name,
            birth_date: self.birth_date,
            address: self.address,
            applications,
            warmup,
            clients,
            server_pid: None,
            ready_within: Duration::ZERO,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// JPKI-signed applications over HTTP, made beforehand, from concurrent clients.
    Issuance {
        #[command(flatten)]
        applicant: Applicant,
        /// Timed applications.
        #[arg(long, default_value_t = 2000)]
        applications: usize,
        /// Applications submitted before the timed phase (not counted).
        #[arg(long, default_value_t = 64)]
        warmup: usize,
        /// Concurrent clients, each on its own keep-alive connection.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// The server's process id, to report its CPU time per application.
        #[arg(long)]
        server_pid: Option<u32>,
        /// Wait up to this many seconds for the server to issue (an RA node answers 503
        /// until the CA's link has taken orders), one application at a time.
        #[arg(long, default_value_t = 0.0)]
        ready_within: f64,
    },
    /// Mixed load for a while, reporting the server's memory, descriptors, p99 latency
    /// and errors per period (docs/reliability.md, "Soak").
    Soak {
        #[command(flatten)]
        applicant: Applicant,
        /// The server's process id (its RSS and descriptors are read from /proc).
        #[arg(long)]
        server_pid: u32,
        /// How long to run.
        #[arg(long, default_value_t = 30.0)]
        minutes: f64,
        /// Seconds between report rows.
        #[arg(long, default_value_t = 60.0)]
        period: f64,
    },
    /// Slow clients held open while health and OCSP are probed, then an OCSP flood of
    /// serials never issued (docs/reliability.md, "Hostile load").
    Siege {
        #[command(flatten)]
        applicant: Applicant,
        /// The server's process id (its RSS, descriptors and CPU time from /proc).
        #[arg(long)]
        server_pid: u32,
        /// Slow or idle connections to hold open.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// How long to hold them, probing every 200 ms (past the header timeout).
        #[arg(long, default_value_t = 15.0)]
        hold_seconds: f64,
        /// OCSP requests for random serials never issued.
        #[arg(long, default_value_t = 100_000)]
        serials: usize,
        /// Concurrent keep-alive clients of the OCSP flood.
        #[arg(long, default_value_t = 8)]
        clients: usize,
    },
    /// Latency of a 4 KiB write plus fsync in a directory.
    Fsync {
        /// Where to write (the instance's directory).
        #[arg(long)]
        dir: PathBuf,
        /// How long to measure.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Raw signing rate of the instance's issuer key, the way the CA signs.
    Sign {
        /// The instance directory (reads `shuin.toml`).
        #[arg(long)]
        data: PathBuf,
        /// Signing threads.
        #[arg(long, default_value_t = 16)]
        threads: usize,
        /// How long to sign.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// Forwards a unix socket to another, each chunk delayed (runs until killed).
    DelayProxy {
        /// The socket to listen on.
        #[arg(long)]
        listen: PathBuf,
        /// The socket to forward to.
        #[arg(long)]
        to: PathBuf,
        /// Delay each way in milliseconds (a round trip is twice this).
        #[arg(long, default_value_t = 1.0)]
        one_way_ms: f64,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Issuance {
            applicant,
            applications,
            warmup,
            clients,
            server_pid,
            ready_within,
        } => issuance::run(&issuance::Options {
            server_pid,
            ready_within: Duration::from_secs_f64(ready_within.max(0.0)),
            ..applicant.options(applications, warmup, clients)
        }),
        Command::Soak {
            applicant,
            server_pid,
            minutes,
            period,
        } => soak::run(
            &applicant.options(0, 0, 2),
            minutes,
            Duration::from_secs_f64(period.max(1.0)),
            server_pid,
        ),
        Command::Siege {
            applicant,
            server_pid,
            connections,
            hold_seconds,
            serials,
            clients,
        } => std::time::Duration::try_from_secs_f64(hold_seconds)
            .map_err(|e| format!("--hold-seconds {hold_seconds}: {e}"))
            .and_then(|hold| {
                siege::run(
                    &issuance::Options {
                        ready_within: Duration::from_secs(30),
                        ..applicant.options(0, 0, 1)
                    },
                    &siege::Siege {
                        connections,
                        hold,
                        serials,
                        clients,
                        server_pid,
                    },
                )
            }),
        Command::Fsync { dir, seconds } => fsync::run(&dir, seconds),
        Command::Sign {
            data,
            threads,
            seconds,
        } => raw_sign::run(&data, threads, seconds),
        Command::DelayProxy {
            listen,
            to,
            one_way_ms,
        } => std::time::Duration::try_from_secs_f64(one_way_ms / 1000.0)
            .map_err(|e| format!("--one-way-ms {one_way_ms}: {e}"))
            .and_then(|one_way| delay_proxy::run(&listen, &to, one_way)),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shuin-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
