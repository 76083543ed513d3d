//! `[api]`: where the monitoring API listens. The settings belong to the configuration, like
//! every other table; the API itself (`crate::api`) only reads them.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

/// The monitoring API (`/metrics`, `/health`, `/ready`, `/_node/stats`).
///
/// ```toml
/// [api]
/// enabled = true                     # false: no HTTP server at all
/// address = "127.0.0.1:9600-9700"    # host:port, or host:first-last (first free port)
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// Serve the API (default true).
    pub enabled: bool,
    /// `host:port` or `host:first-last`. With a range the first free port is used, as
    /// Logstash does with its default 9600-9700; the run fails when none is free. Port 0 lets
    /// the system choose. The bound address is logged: `API listening on ...`.
    pub address: ApiAddress,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            address: ApiAddress::default(),
        }
    }
}

/// A host and a port range to try in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiAddress {
    pub ip: IpAddr,
    pub first_port: u16,
    pub last_port: u16,
}

impl Default for ApiAddress {
    /// `127.0.0.1:9600-9700`, Logstash's `api.http.host` and `api.http.port`.
    fn default() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            first_port: 9600,
            last_port: 9700,
        }
    }
}

impl ApiAddress {
    /// The addresses to try, in order.
    pub fn candidates(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        (self.first_port..=self.last_port).map(|port| SocketAddr::new(self.ip, port))
    }
}

impl fmt::Display for ApiAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match self.ip {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        if self.first_port == self.last_port {
            write!(f, "{host}:{}", self.first_port)
        } else {
            write!(f, "{host}:{}-{}", self.first_port, self.last_port)
        }
    }
}

impl FromStr for ApiAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let form = "expected `host:port` or `host:first-last`, e.g. `127.0.0.1:9600` or `0.0.0.0:9600-9700`";
        let Some((host, ports)) = text.rsplit_once(':') else {
            return Err(format!("invalid API address `{text}`: {form}"));
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip = if host == "localhost" {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse::<IpAddr>().map_err(|_| {
                format!("invalid API address `{text}`: `{host}` is not an IP address ({form})")
            })?
        };
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("invalid API address `{text}`: `{p}` is not a port ({form})"))
        };
        let (first_port, last_port) = match ports.split_once('-') {
            Some((first, last)) => (port(first)?, port(last)?),
            None => {
                let p = port(ports)?;
                (p, p)
            }
        };
        if first_port > last_port {
            return Err(format!(
                "invalid API address `{text}`: the port range {first_port}-{last_port} is empty"
            ));
        }
        if first_port == 0 && last_port != 0 {
            return Err(format!(
                "invalid API address `{text}`: port 0 (any free port) cannot start a range"
            ));
        }
        Ok(Self {
            ip,
            first_port,
            last_port,
        })
    }
}

impl<'de> Deserialize<'de> for ApiAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_ports_and_ranges() {
        let single: ApiAddress = "127.0.0.1:9600".parse().unwrap();
        assert_eq!(single.candidates().count(), 1);
        let range: ApiAddress = "0.0.0.0:9600-9602".parse().unwrap();
        assert_eq!(
            range.candidates().map(|a| a.port()).collect::<Vec<_>>(),
            vec![9600, 9601, 9602]
        );
        let v6: ApiAddress = "[::1]:0".parse().unwrap();
        assert_eq!(v6.to_string(), "[::1]:0");
        assert_eq!(ApiAddress::default().to_string(), "127.0.0.1:9600-9700");
        assert_eq!(
            "localhost:9600".parse::<ApiAddress>().unwrap().ip,
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }

    #[test]
    fn bad_addresses_are_explained() {
        for bad in [
            "9600",
            "host:9600",
            "127.0.0.1:x",
            "127.0.0.1:9700-9600",
            "127.0.0.1:0-5",
            "127.0.0.1:70000",
        ] {
            let error = bad.parse::<ApiAddress>().unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }
}
