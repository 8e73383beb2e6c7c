//! 16993 while a device is being set up (PKI remote configuration): the
//! device presents a self-signed certificate, as firmware does before it
//! has been given one, and requires the configuration server's client
//! certificate, checked by the provisioning rules in
//! [`amtemu_model::chain`]. A chain that breaks a rule aborts the
//! handshake with the alert rustls sends for the error.

use std::sync::Arc;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, PKCS_RSA_SHA256};
use rustls::ServerConfig;

use super::{TlsError, provider};
use amtemu_model::chain::ProvisioningVerifier;
use amtemu_model::device::{Device, TlsIdentity};

/// A self-signed RSA 2048 server certificate for the device's FQDN.
pub fn self_signed_identity(fqdn: &str) -> Result<TlsIdentity, rcgen::Error> {
    let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)?;
    let mut params = CertificateParams::new(vec![fqdn.to_string()])?;
    params.distinguished_name.push(DnType::CommonName, fqdn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key)?;
    Ok(TlsIdentity {
        chain: vec![cert.der().to_vec()],
        key_pkcs8: key.serialize_der(),
    })
}

/// The server configuration of setup mode: the self-signed identity and a
/// mandatory provisioning client certificate.
pub fn server_config(
    device: &Arc<Device>,
    identity: &TlsIdentity,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(provider());
    let verifier = ProvisioningVerifier::new(device.clone(), provider.clone());
    super::server_config(
        provider,
        Arc::new(verifier),
        &identity.chain,
        &identity.key_pkcs8,
    )
}
