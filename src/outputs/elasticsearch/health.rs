//! Start-up check: `GET /` on every node to learn what answers, before any event is taken.
//!
//! The point is to fail loudly on what retrying cannot fix (a URL that is not a cluster,
//! wrong credentials, a certificate that does not verify) and to wait quietly on what it can
//! (a node that is down or still starting): while the check has not passed, the output takes
//! no batches, so the pipeline backs up and the inputs stop reading (the file input's
//! checkpoint stays where it is, Filebeat is kept waiting) instead of the process dying.
//!
//! Elasticsearch 7.14+ identifies itself with the `X-Elastic-Product: Elasticsearch` header,
//! older 7.x with the tagline; OpenSearch with `version.distribution = "opensearch"`.
//! Elasticsearch 6 and older need mapping types in `_bulk` and are refused.

use super::client::{Answer, RequestError};
use serde_json::Value;
use std::fmt;

/// Which search engine answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Elasticsearch,
    OpenSearch,
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Elasticsearch => "Elasticsearch",
            Self::OpenSearch => "OpenSearch",
        })
    }
}

/// What `GET /` told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub flavour: Flavour,
    /// `version.number`, e.g. `2.19.6`.
    pub version: String,
    pub major: u32,
    pub cluster_name: String,
}

impl fmt::Display for ClusterInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.flavour, self.version)
    }
}

/// Why a node did not pass.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HealthError {
    /// Retrying cannot help: the configuration must change.
    #[error("{0}")]
    Fatal(String),
    /// The node may come back: keep waiting.
    #[error("{0}")]
    Transient(String),
}

/// Classifies a failed request.
pub fn from_request_error(error: RequestError) -> HealthError {
    match error {
        RequestError::Tls { host, message } => HealthError::Fatal(format!(
            "TLS failure talking to {host}: {message} (check `tls.ca_file`, the host name in \
             the URL, http:// versus https://; `tls.verify = false` only for testing)"
        )),
        RequestError::Protocol { host, message } => HealthError::Fatal(format!(
            "{host} does not answer HTTP ({message}): is it an https:// node addressed as http://, \
             or not a search node at all?"
        )),
        unreachable @ RequestError::Unreachable { .. } => {
            HealthError::Transient(unreachable.to_string())
        }
    }
}

/// Reads the answer to `GET /`.
pub fn check(answer: &Answer) -> Result<ClusterInfo, HealthError> {
    let host = &answer.host;
    match answer.status {
        200 => {}
        401 => {
            return Err(HealthError::Fatal(format!(
                "{host} refused the credentials (401): check `user`/`password`, `api_key` or `bearer_token`"
            )))
        }
        403 => {
            return Err(HealthError::Fatal(format!(
                "{host} denied access (403): the user lacks the `monitor` cluster privilege or \
                 the credentials are for another cluster"
            )))
        }
        429 | 500..=599 => {
            return Err(HealthError::Transient(format!(
                "{host} answered HTTP {} to GET /",
                answer.status
            )))
        }
        other => {
            return Err(HealthError::Fatal(format!(
                "{host} answered HTTP {other} to GET /: is this the URL of an Elasticsearch or OpenSearch node?"
            )))
        }
    }
    let not_search = || {
        HealthError::Fatal(format!(
            "{host} does not answer like Elasticsearch or OpenSearch (no version in GET /): is the URL right?"
        ))
    };
    let root: Value = serde_json::from_slice(&answer.body).map_err(|_| not_search())?;
    let version = root
        .get("version")
        .and_then(|v| v.get("number"))
        .and_then(Value::as_str)
        .ok_or_else(not_search)?
        .to_string();
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .ok_or_else(not_search)?;
    let distribution = root
        .get("version")
        .and_then(|v| v.get("distribution"))
        .and_then(Value::as_str);
    let product_header = answer
        .headers
        .get("x-elastic-product")
        .and_then(|v| v.to_str().ok());
    let tagline = root.get("tagline").and_then(Value::as_str).unwrap_or("");
    let flavour = if distribution == Some("opensearch") {
        Flavour::OpenSearch
    } else if product_header == Some("Elasticsearch") || tagline == "You Know, for Search" {
        Flavour::Elasticsearch
    } else {
        return Err(not_search());
    };
    if flavour == Flavour::Elasticsearch && major < 7 {
        return Err(HealthError::Fatal(format!(
            "{host} runs Elasticsearch {version}; versions before 7 are not supported"
        )));
    }
    Ok(ClusterInfo {
        flavour,
        version,
        major,
        cluster_name: root
            .get("cluster_name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;

    fn answer(status: u16, headers: &[(&'static str, &'static str)], body: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        Answer {
            host: "http://es:9200".into(),
            status,
            headers: map,
            body: bytes::Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn flavours_and_versions_are_recognised() {
        let opensearch = answer(
            200,
            &[],
            r#"{"name":"n","cluster_name":"c","version":{"distribution":"opensearch","number":"2.19.6"},"tagline":"The OpenSearch Project: https://opensearch.org/"}"#,
        );
        let info = check(&opensearch).unwrap();
        assert_eq!((info.flavour, info.major), (Flavour::OpenSearch, 2));
        assert_eq!(info.to_string(), "OpenSearch 2.19.6");

        let es8 = answer(
            200,
            &[("x-elastic-product", "Elasticsearch")],
            r#"{"cluster_name":"c","version":{"number":"8.13.4","build_flavor":"default"},"tagline":"You Know, for Search"}"#,
        );
        assert_eq!(check(&es8).unwrap().flavour, Flavour::Elasticsearch);
        let es7 = answer(
            200,
            &[],
            r#"{"version":{"number":"7.10.2"},"tagline":"You Know, for Search"}"#,
        );
        assert_eq!(check(&es7).unwrap().major, 7);
        let es6 = answer(
            200,
            &[],
            r#"{"version":{"number":"6.8.0"},"tagline":"You Know, for Search"}"#,
        );
        assert!(matches!(check(&es6), Err(HealthError::Fatal(_))));
    }

    #[test]
    fn what_retrying_cannot_fix_is_fatal_and_the_rest_transient() {
        let fatal = |a: Answer| matches!(check(&a), Err(HealthError::Fatal(_)));
        assert!(fatal(answer(401, &[], "")));
        assert!(fatal(answer(403, &[], "")));
        assert!(fatal(answer(404, &[], "not found")));
        assert!(fatal(answer(200, &[], "<html>nginx</html>")));
        assert!(fatal(answer(200, &[], r#"{"version":{"number":"1.0"}}"#)));
        assert!(matches!(
            check(&answer(503, &[], "")),
            Err(HealthError::Transient(_))
        ));
        let error = check(&answer(401, &[], "")).unwrap_err().to_string();
        assert!(error.contains("credentials"), "{error}");
    }
}
