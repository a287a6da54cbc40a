//! `shuin testkit`: the simulated J-LIS CA and test cards, for development and tests.

use crate::failure::{msg, Context, Result};
use shuin_core::{Clock, SystemClock};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum TestkitCommand {
    /// Write a simulated J-LIS signing CA: DIR/ca.pem, DIR/ca.key, DIR/crl.der.
    JpkiCa {
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a simulated JPKI signing certificate and key: CARD/cert.pem, CARD/key.pem.
    Card(CardArgs),
}

/// `shuin testkit card ...`.
#[derive(Debug, clap::Args)]
pub(crate) struct CardArgs {
    #[arg(long)]
    ca: PathBuf,
    #[arg(long)]
    name: String,
    #[arg(long)]
    birth_date: String,
    #[arg(long)]
    address: String,
    #[arg(long, default_value = "1")]
    gender: String,
    /// Also put the card on DIR/crl.der.
    #[arg(long)]
    revoked: bool,
    /// Make a card whose validity has ended.
    #[arg(long)]
    expired: bool,
    #[arg(long)]
    out: PathBuf,
}

pub(crate) fn run(command: TestkitCommand) -> Result<()> {
    match command {
        TestkitCommand::JpkiCa { out } => jpki_ca(&out),
        TestkitCommand::Card(args) => card(args),
    }
}

/// `shuin testkit jpki-ca --out DIR`.
fn jpki_ca(out: &Path) -> Result<()> {
    if out.join("ca.pem").exists() {
        return Err(msg(format!(
            "{} already holds a simulated J-LIS CA",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).context(out.display())?;
    shuin_testkit::make_jpki_ca_dir(out, SystemClock.now())?;
    println!(
        "simulated J-LIS CA written to {} (ca.pem, ca.key, crl.der) — never trust it in production",
        out.display()
    );
    Ok(())
}

fn card(args: CardArgs) -> Result<()> {
    if shuin_core::timefmt::parse_date(&args.birth_date).is_none() {
        return Err(msg("--birth-date must be a valid YYYY-MM-DD date"));
    }
    if !matches!(args.gender.as_str(), "1" | "2" | "3") {
        return Err(msg("--gender must be 1, 2 or 3"));
    }
    std::fs::create_dir_all(&args.out).context(args.out.display())?;
    let options = shuin_testkit::CardDirOptions {
        name: args.name,
        birth_date: args.birth_date,
        address: args.address,
        gender: Some(args.gender),
        revoked: args.revoked,
        expired: args.expired,
    };
    shuin_testkit::make_card_dir(&args.ca, options, &args.out, SystemClock.now())?;
    let revoked = if args.revoked {
        "; it is on the CA's crl.der"
    } else {
        ""
    };
    let out = args.out.display();
    println!("test card written to {out} (cert.pem, key.pem){revoked}");
    Ok(())
}
