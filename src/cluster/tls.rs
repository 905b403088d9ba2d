//! TLS for the cluster: the client side ([`Tls`], what [`Endpoint`](super::Endpoint) connects
//! with) and, for an embedded cluster, a throwaway CA and node certificate made in its temp dir.
//!
//! Why a CA of our own: the nodes verify each other on the cluster bus and on replication links
//! (`tls-cluster yes`, `tls-replication yes`), and the client verifies the nodes, so all of them
//! need one root to trust. It lives and dies with the cluster's temp dir; nothing is installed.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::files::write_file;
use crate::{Error, Result};

/// TLS settings of a client: which roots to trust.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// PEM of the CA to trust; `None`: the system's roots.
    pub ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("ca", &self.ca_pem.as_ref().map(|_| "<custom CA>"))
            .finish()
    }
}

impl Tls {
    /// Trusts the CA in the PEM file at `path`; says which file when it cannot be read or holds
    /// no certificate.
    pub fn with_ca_file(path: &Path) -> Result<Tls> {
        let pem = std::fs::read(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the TLS CA file {}: {e}; give a readable PEM file",
                path.display()
            ))
        })?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(Error::Config(format!(
                "the TLS CA file {} holds no PEM certificate",
                path.display()
            )));
        }
        Ok(Tls { ca_pem: Some(pem) })
    }

    /// What redis-rs needs to verify the servers.
    pub(crate) fn certificates(&self) -> redis::TlsCertificates {
        install_crypto_provider();
        redis::TlsCertificates {
            client_tls: None,
            root_cert: self.ca_pem.clone(),
        }
    }
}

/// redis-rs takes rustls's process-wide default crypto provider; we ship `ring`. Installing twice
/// is harmless (the second attempt is refused and ignored).
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The files an embedded TLS cluster's nodes are configured with.
#[derive(Clone, Debug)]
pub struct NodeTlsFiles {
    pub ca_cert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Makes a CA and one certificate for `127.0.0.1` / `localhost` signed by it, in `dir` (keys
/// 0600). Every node uses the same certificate: they all listen on 127.0.0.1. The CA's key is
/// never written: no further certificates can be signed with it once this returns.
pub fn generate_node_tls(dir: &Path) -> Result<NodeTlsFiles> {
    let fail = |what: &str, e: rcgen::Error| Error::ClusterStart {
        what: format!("cannot make the TLS {what}: {e}"),
        log: None,
        tail: String::new(),
    };
    let ca_key = rcgen::KeyPair::generate().map_err(|e| fail("CA key", e))?;
    let mut ca_params = params(Vec::new(), "rcstress throwaway CA").map_err(|e| fail("CA", e))?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(|e| fail("CA", e))?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let key = rcgen::KeyPair::generate().map_err(|e| fail("node key", e))?;
    let mut node = params(
        vec!["127.0.0.1".into(), "localhost".into()],
        "rcstress node",
    )
    .map_err(|e| fail("node certificate", e))?;
    // Both: a node is a server to clients and a client on the cluster bus and replication links.
    node.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = node
        .signed_by(&key, &issuer)
        .map_err(|e| fail("node certificate", e))?;

    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let files = NodeTlsFiles {
        ca_cert: dir.join("ca.crt"),
        cert: dir.join("node.crt"),
        key: dir.join("node.key"),
    };
    write_file(&files.ca_cert, ca_cert.pem().as_bytes(), 0o644)?;
    write_file(&files.cert, cert.pem().as_bytes(), 0o644)?;
    write_file(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
    Ok(files)
}

/// Certificate parameters for these names with this common name.
fn params(names: Vec<String>, common_name: &str) -> Result<rcgen::CertificateParams, rcgen::Error> {
    let mut p = rcgen::CertificateParams::new(names)?;
    p.distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generates_a_ca_and_a_private_key_the_client_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let files = generate_node_tls(&dir.path().join("tls")).unwrap();
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let tls = Tls::with_ca_file(&files.ca_cert).unwrap();
        assert!(tls.ca_pem.is_some());
        assert!(!format!("{tls:?}").contains("BEGIN"));
        // redis-rs parses the CA when a client is built: it must be a valid trust anchor.
        let info = redis::ConnectionAddr::TcpTls {
            host: "127.0.0.1".into(),
            port: 1,
            insecure: false,
            tls_params: None,
        };
        redis::Client::build_with_tls(info, tls.certificates()).unwrap();
        let err = Tls::with_ca_file(&files.key).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
        let err = Tls::with_ca_file(&dir.path().join("nope.crt"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read the TLS CA file"), "{err}");
    }
}
