//! `shuin testkit`: the simulated J-LIS CA and test cards, for development and tests.

use crate::failure::{msg, Context, Result};
use shuin_core::{Clock, SystemClock};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum TestkitCommand {
    /// Write a simulated J-LIS signing CA: DIR/ca.pem, DIR/ca.key, DIR/crl.der.
    JpkiCa {
        /// A new directory for the CA.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a simulated JPKI signing certificate and key: CARD/cert.pem, CARD/key.pem.
    Card(CardArgs),
}

/// `shuin testkit card ...`.
#[derive(Debug, clap::Args)]
pub(crate) struct CardArgs {
    /// The simulated J-LIS CA's directory (from `testkit jpki-ca`).
    #[arg(long)]
    ca: PathBuf,
    /// The card holder's four basic items (gender 1 when not given).
    #[command(flatten)]
    items: crate::apply_cmd::BasicItems,
    /// Also put the card on DIR/crl.der.
    #[arg(long)]
    revoked: bool,
    /// Make a card whose validity has ended.
    #[arg(long)]
    expired: bool,
    /// The card's directory (cert.pem, key.pem).
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
    crate::output::say!(
        "simulated J-LIS CA written to {} (ca.pem, ca.key, crl.der) — never trust it in production",
        out.display()
    );
    Ok(())
}

fn card(args: CardArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out).context(args.out.display())?;
    let options = shuin_testkit::CardDirOptions {
        name: args.items.name,
        birth_date: args.items.birth_date,
        address: args.items.address,
        gender: args.items.gender.or_else(|| Some("1".into())),
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
    crate::output::say!("test card written to {out} (cert.pem, key.pem){revoked}");
    Ok(())
}
