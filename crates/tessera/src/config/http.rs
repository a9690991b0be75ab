//! The HTTP port's limits as the connection loop takes them, and their floors: timeouts of at
//! least a second, a header of at least 1 KiB with at least 16 fields, at least one request
//! and one connection at a time.

use std::time::Duration;

use super::Settings;
use crate::http::server::HttpLimits;

impl Settings {
    /// What one HTTP connection and request may take.
    pub fn http_limits(&self) -> HttpLimits {
        HttpLimits {
            header_timeout: Duration::from_secs(self.http_header_timeout),
            body_timeout: Duration::from_secs(self.http_body_timeout),
            max_header_size: usize::try_from(self.max_header_size.bytes()).unwrap_or(usize::MAX),
            max_headers: self.max_headers,
            max_connections: self.max_connections,
        }
    }

    pub(super) fn check_http(&mut self) {
        self.http_header_timeout = self.http_header_timeout.max(1);
        self.http_body_timeout = self.http_body_timeout.max(1);
        self.max_header_size = super::ByteSize(self.max_header_size.bytes().max(1024));
        self.max_headers = self.max_headers.max(16);
        self.max_concurrent_requests = self.max_concurrent_requests.max(1);
        self.max_connections = self.max_connections.max(1);
    }
}
