//! The floors of the HTTP port's limits: timeouts of at least a second, a header of at least
//! 1 KiB with at least 16 fields, at least one request and one connection at a time
//! (`http::server::HttpLimits::of` takes them as the connection loop needs them).

use super::Settings;

impl Settings {
    pub(super) fn check_http(&mut self) {
        self.http_header_timeout = self.http_header_timeout.max(1);
        self.http_body_timeout = self.http_body_timeout.max(1);
        self.max_header_size = super::ByteSize(self.max_header_size.bytes().max(1024));
        self.max_headers = self.max_headers.max(16);
        self.max_concurrent_requests = self.max_concurrent_requests.max(1);
        self.max_connections = self.max_connections.max(1);
    }
}
