//! Progress of long jobs on a terminal (ledger export and verify): a bar per phase on
//! stderr, drawn only when stderr is a terminal, so that scripts and pipes get exactly
//! the output they got before.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Mutex;
use std::time::Duration;

/// Draws the phases of a job (`shuin_ledger::export::Progress`) as bars on stderr.
pub(crate) struct TerminalProgress {
    bar: Mutex<Option<ProgressBar>>,
    target: fn() -> ProgressDrawTarget,
}

impl TerminalProgress {
    /// Bars on stderr, hidden when stderr is not a terminal.
    pub(crate) fn stderr() -> Self {
        TerminalProgress {
            bar: Mutex::new(None),
            target: ProgressDrawTarget::stderr,
        }
    }

    fn with_bar(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        // A poisoned lock only means an earlier draw panicked: drawing is best effort.
        let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut bar);
    }

    /// A spinner for a step of unknown length, such as reading the ledger.
    pub(crate) fn step(&self, name: &'static str) {
        shuin_ledger::export::Progress::phase(self, name, None);
    }

    /// A spinner while the server does `what` for an operator's signed request (a CRL
    /// of many entries, a purge, an import, a ceremony): the server sends no counts, so
    /// the spinner shows the time taken.
    pub(crate) fn waiting(&self, what: String) {
        self.step("");
        self.with_bar(|bar| {
            if let Some(bar) = bar {
                bar.set_message(what);
            }
        });
    }
}

fn style(total: Option<u64>) -> ProgressStyle {
    let template = match total {
        Some(_) => "{msg:<29} [{bar:25}] {percent:>3}% eta {eta}",
        None => "{spinner} {msg} {elapsed_precise}",
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl shuin_ledger::export::Progress for TerminalProgress {
    fn phase(&self, name: &'static str, total: Option<u64>) {
        self.with_bar(|bar| {
            if let Some(old) = bar.take() {
                old.finish_and_clear();
            }
            let new = ProgressBar::with_draw_target(total, (self.target)());
            new.set_style(style(total));
            new.set_message(name);
            if total.is_none() {
                new.enable_steady_tick(Duration::from_millis(120));
            }
            new.tick();
            *bar = Some(new);
        });
    }

    fn advance(&self, done: u64) {
        self.with_bar(|bar| {
            if let Some(bar) = bar {
                bar.inc(done);
            }
        });
    }

    fn end(&self) {
        self.with_bar(|bar| {
            if let Some(old) = bar.take() {
                old.finish_and_clear();
            }
        });
    }
}
