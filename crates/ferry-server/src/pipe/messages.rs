//! Every line the pipe says to a client, in one place. The wording follows piping-server 1.12 so
//! that scripts matching on it keep working.

pub fn waiting_for(n: u64) -> String {
    format!("[INFO] Waiting for {n} receiver(s)...\n")
}

pub fn receivers_connected(count: usize) -> String {
    format!("[INFO] {count} receiver(s) has/have been connected.\n")
}

pub const A_RECEIVER_CONNECTED: &str = "[INFO] A receiver was connected.\n";

pub fn start_sending(n: usize) -> String {
    format!("[INFO] Start sending to {n} receiver(s)!\n")
}

pub const A_RECEIVER_ABORTED: &str = "[INFO] A receiver aborted.\n";
pub const ALL_RECEIVERS_ABORTED: &str = "[INFO] All receiver(s) was/were aborted halfway.\n";
pub const SENT_SUCCESSFULLY: &str = "[INFO] Sent successfully!\n";
pub const ALL_RECEIVED: &str = "[INFO] All receiver(s) was/were received successfully.\n";

/// ferry only: piping-server never ends the sender's response when some receivers finished and
/// others aborted.
pub fn some_received(ok: usize, n: usize) -> String {
    format!("[INFO] {ok} of {n} receiver(s) received successfully.\n")
}

pub const FAILED_TO_SEND: &str = "[ERROR] Failed to send.\n";

pub fn reserved_path(path: &str) -> String {
    format!("[ERROR] Cannot send to the reserved path '{path}'. (e.g. '/mypath123')\n")
}

pub fn content_range_unsupported(method: &str) -> String {
    format!("[ERROR] Content-Range is not supported for now in {method}\n")
}

pub const SENDER_INVALID_N: &str = "[ERROR] Invalid \"n\" query parameter\n";
pub const RECEIVER_INVALID_N: &str = "[ERROR] Invalid query parameter \"n\"\n";

pub fn n_not_positive(n: i64) -> String {
    format!("[ERROR] n should > 0, but n = {n}.\n")
}

pub fn already_established(path: &str) -> String {
    format!("[ERROR] Connection on '{path}' has been established already.\n")
}

pub fn another_sender(path: &str) -> String {
    format!("[ERROR] Another sender has been connected on '{path}'.\n")
}

pub fn n_mismatch(expected: u64, got: u64) -> String {
    format!("[ERROR] The number of receivers should be {expected} but {got}.\n")
}

pub const RECEIVERS_FULL: &str = "[ERROR] The number of receivers has reached limits.\n";
pub const SERVICE_WORKER_REJECTED: &str = "[ERROR] Service Worker registration is rejected.\n";

pub fn unsupported_method(method: &str) -> String {
    format!("[ERROR] Unsupported method: {method}.\n")
}

/// ferry only: piping-server leaves receivers hanging when the sender's multipart body holds no
/// part.
pub const SENDER_FAILED_BEFORE_DATA: &str = "[ERROR] The sender failed before sending any data.\n";

/// ferry only: the per-address quota of waiting parties (docs/security.md).
pub fn too_many_waiting(what: &str, limit: usize) -> String {
    format!(
        "[ERROR] Too many waiting {what} from your address (limit {limit}); let them finish or cancel some, then retry.\n"
    )
}

/// ferry only: repeated to a waiting sender whose upload is flow-controlled, so that a sender
/// whose client was killed is noticed (see `Registry::probe_sender`).
pub fn still_waiting(n: u64) -> String {
    format!("[INFO] Still waiting for {n} receiver(s)...\n")
}
