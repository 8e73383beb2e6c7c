//! Addresses as people type them on the command line and in scenarios.

use std::net::{IpAddr, SocketAddr};

/// `IP` or `IP:PORT` (`[v6]:PORT`), with `default_port` when none is given.
pub fn socket_address(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>()
        .or_else(|_| {
            text.parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, default_port))
        })
        .map_err(|_| format!("{text:?} is not an IP address or IP:PORT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_optional() {
        assert_eq!(
            socket_address("127.0.0.2", 9971),
            Ok("127.0.0.2:9971".parse().unwrap())
        );
        assert_eq!(
            socket_address("[::1]:53", 9971),
            Ok("[::1]:53".parse().unwrap())
        );
        assert!(socket_address("example", 1).is_err());
    }
}
