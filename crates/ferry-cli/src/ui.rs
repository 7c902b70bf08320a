//! Terminal output of `ferry send` / `ferry receive`: offer listing, the consent prompt, progress
//! bars with speed and ETA, and the summary. Messages go to stderr; stdout carries only what
//! scripts read (the code, the link, `--json` lines).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use ferry_protocol::transfer::ValidatedFile;
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One `--json` event line on stdout.
pub fn json_line(v: serde_json::Value) {
    println!("{v}");
}

pub struct Ui {
    bar: Option<ProgressBar>,
    pub json: bool,
    /// Sending to several receivers: whose session this is, shown before its notes and bar.
    receiver: Option<Receiver>,
}

struct Receiver {
    id: String,
    name: String,
    bars: MultiProgress,
}

impl Ui {
    pub fn new(json: bool) -> Self {
        Ui {
            bar: None,
            json,
            receiver: None,
        }
    }

    /// The output of one of several concurrent sessions (`ferry send --receivers`): notes are
    /// prefixed with the receiver's name, its bar is one of `bars`, JSON events carry its id.
    pub fn for_receiver(json: bool, id: &str, name: &str, bars: MultiProgress) -> Self {
        Ui {
            bar: None,
            json,
            receiver: Some(Receiver {
                id: id.to_string(),
                name: name.to_string(),
                bars,
            }),
        }
    }

    /// A `--json` event line, with `"peer": <receiver id>` when this is one of several sessions.
    pub fn json_event(&self, mut v: serde_json::Value) {
        if !self.json {
            return;
        }
        if let (Some(r), Some(obj)) = (&self.receiver, v.as_object_mut()) {
            obj.insert("peer".into(), serde_json::Value::String(r.id.clone()));
        }
        json_line(v);
    }

    /// A text message from the peer: the text itself on stdout (so `ferry receive CODE > note.txt`
    /// captures it), or a `text` JSON line with `--json`.
    pub fn text(&self, text: &str) {
        if self.json {
            json_line(serde_json::json!({"event":"text","text":text}));
            return;
        }
        self.note("Message from the peer:");
        match &self.bar {
            Some(b) if !b.is_hidden() => b.suspend(|| println!("{text}")),
            _ => println!("{text}"),
        }
    }

    pub fn note(&self, msg: &str) {
        let msg = match &self.receiver {
            Some(r) => format!("[{}] {msg}", r.name),
            None => msg.to_string(),
        };
        match (&self.bar, &self.receiver) {
            (_, Some(r)) => {
                let _ = r.bars.println(&msg);
                if r.bars.is_hidden() {
                    eprintln!("{msg}");
                }
            }
            (Some(b), None) if !b.is_hidden() => b.println(msg),
            _ => eprintln!("{msg}"),
        }
    }

    pub fn show_offer(&self, files: &[ValidatedFile], total: u64) {
        let n = files.len();
        eprintln!(
            "Offer: {n} file{} ({}):",
            if n == 1 { "" } else { "s" },
            HumanBytes(total)
        );
        for f in files.iter().take(20) {
            eprintln!("  {}  ({})", f.path, HumanBytes(f.size));
        }
        if n > 20 {
            eprintln!("  … and {} more", n - 20);
        }
    }

    /// Asks `question [Y/n]` on the terminal; Enter means yes. No terminal means no: consent
    /// must be given, so scripts pass `--yes`.
    pub async fn confirm(&self, question: &str) -> bool {
        let q = question.to_string();
        let answer = tokio::task::spawn_blocking(move || {
            eprint!("{q} [Y/n] ");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            match std::io::stdin().read_line(&mut line) {
                Ok(0) | Err(_) => false,
                Ok(_) => matches!(line.trim().to_ascii_lowercase().as_str(), "" | "y" | "yes"),
            }
        });
        // Ctrl-C at the prompt declines (and so tells the sender) instead of hanging until Enter.
        tokio::select! {
            a = answer => a.unwrap_or(false),
            _ = tokio::signal::ctrl_c() => {
                eprintln!();
                false
            }
        }
    }

    pub fn start_progress(&mut self, total: u64) {
        let bar = ProgressBar::with_draw_target(
            Some(total),
            if std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix}{bar:40.cyan/blue} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .expect("valid template"),
        );
        let bar = match &self.receiver {
            Some(r) => {
                bar.set_prefix(format!("{:<16.16} ", r.name));
                r.bars.add(bar)
            }
            None => bar,
        };
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bar = Some(bar);
    }

    /// Another accepted part of the same selection: the bar covers all of them.
    pub fn grow_progress(&mut self, total: u64) {
        match &self.bar {
            Some(b) => b.set_length(total),
            None => self.start_progress(total),
        }
    }

    pub fn progress(&self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
        }
    }

    pub fn finish_progress(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    pub fn abandon_progress(&mut self) {
        if let Some(b) = self.bar.take() {
            b.abandon();
        }
    }
}

/// `1.00 GiB in 7.20 s (149.1 MB/s)`
pub fn rate_line(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-6);
    format!(
        "{} in {:.2} s ({:.1} MB/s)",
        HumanBytes(bytes),
        secs,
        bytes as f64 / secs / 1e6
    )
}

/// Renders the link as a QR code in text, for phones.
pub fn qr(link: &str) -> Option<String> {
    let code = qrcode::QrCode::new(link.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build(),
    )
}
