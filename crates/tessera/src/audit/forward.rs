//! Forwarding the trail to an audit record repository: every record, once it is in the
//! trail, as a DICOM audit message over syslog. Best effort by design: the trail in the
//! index is the record of truth; a repository that is down gets the records sent while it
//! is up, and the gap is logged (the trail keeps them all).

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use super::syslog::{frame, SyslogSender, SyslogTarget};
use super::writer::Forward;
use super::AuditRecord;

/// Start the forwarder; records sent into the returned channel go out in order.
pub fn start(target: SyslogTarget, ca_file: Option<PathBuf>, source_id: String) -> Forward {
    let (forward, receiver) = mpsc::unbounded_channel();
    tokio::spawn(run(target, ca_file, source_id, receiver));
    forward
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "-".into())
}

async fn run(
    target: SyslogTarget,
    ca_file: Option<PathBuf>,
    source_id: String,
    mut receiver: mpsc::UnboundedReceiver<AuditRecord>,
) {
    let host = hostname();
    let mut sender: Option<SyslogSender> = None;
    let mut lost = 0u64;
    while let Some(record) = receiver.recv().await {
        let message = frame(&record, &source_id, &host);
        if sender.is_none() {
            match SyslogSender::connect(target.clone(), ca_file.as_deref()).await {
                Ok(connected) => {
                    if lost > 0 {
                        tracing::warn!(target = %target, lost, "audit syslog reachable again; records not forwarded meanwhile are in the trail");
                        lost = 0;
                    }
                    sender = Some(connected);
                }
                Err(err) => {
                    lost += 1;
                    if lost == 1 {
                        tracing::warn!(target = %target, error = %err, "cannot reach the audit syslog");
                    }
                    // Not faster than one attempt a second while it is down.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        if let Some(connected) = sender.as_mut() {
            if let Err(err) = connected.send(&message).await {
                tracing::warn!(target = %target, error = %err, "audit syslog send failed");
                lost += 1;
                sender = None;
            }
        }
    }
}
