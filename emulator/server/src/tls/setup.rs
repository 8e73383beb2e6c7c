//! 16993 while a device is being set up (PKI remote configuration): the
//! device presents a self-signed certificate, as firmware does before it
//! has been given one, and requires the configuration server's client
//! certificate, checked by the provisioning rules in
//! [`amtemu_model::device::chain`]. A chain that breaks a rule aborts the
//! handshake with the alert rustls sends for the error.

use std::sync::Arc;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, PKCS_RSA_SHA256};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
};

use super::{TlsError, provider};
use amtemu_model::device::chain::ChainError;
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

/// The client-certificate verifier of 16993 during PKI setup: a client
/// must present a provisioning chain that passes the device's provisioning
/// rules at the moment of the handshake
/// ([`Device::check_provisioning_chain`], which records a refusal). A
/// refusal is answered with the alert rustls sends for [`alert`].
#[derive(Debug)]
pub struct ProvisioningVerifier {
    device: Arc<Device>,
    provider: Arc<CryptoProvider>,
}

impl ProvisioningVerifier {
    pub fn new(device: Arc<Device>, provider: Arc<CryptoProvider>) -> ProvisioningVerifier {
        ProvisioningVerifier { device, provider }
    }
}

/// The rustls error whose alert firmware's refusal most resembles.
pub fn alert(e: &ChainError) -> rustls::Error {
    let e = match e {
        ChainError::Empty | ChainError::Malformed(_) => CertificateError::BadEncoding,
        ChainError::UntrustedRoot => CertificateError::UnknownIssuer,
        ChainError::NotServerAuth | ChainError::NotSetupCertificate => {
            CertificateError::InvalidPurpose
        }
        ChainError::NoDomain | ChainError::DomainMismatch { .. } => {
            CertificateError::NotValidForName
        }
        ChainError::CaKeyTooLarge { .. } => CertificateError::BadEncoding,
        ChainError::Expired => CertificateError::Expired,
        ChainError::BadSignature(_) => CertificateError::BadSignature,
    };
    rustls::Error::InvalidCertificate(e)
}

impl ClientCertVerifier for ProvisioningVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Firmware names no CAs; the client picks its provisioning chain.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let chain: Vec<&[u8]> = std::iter::once(end_entity.as_ref())
            .chain(intermediates.iter().map(|c| c.as_ref()))
            .collect();
        match self.device.check_provisioning_chain(&chain, now) {
            Ok(accepted) => {
                tracing::info!(device = %self.device.name, cn = %accepted.common_name, root = %accepted.root, "provisioning certificate accepted");
                Ok(ClientCertVerified::assertion())
            }
            Err(e) => Err(alert(&e)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
