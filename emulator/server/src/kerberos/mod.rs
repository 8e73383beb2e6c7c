//! Kerberos authentication as AMT's network ports accept it (HTTP
//! `Negotiate` on 16992/16993, authentication type 2 on the redirection
//! ports): the client's AP-REQ is checked with the device's own key
//! (`AMT_KerberosSettingData`), its clock skew against the configured
//! tolerance and a per-device replay cache, and the Windows PAC in the
//! ticket, once its server signature verifies with that key, says which
//! SIDs the user holds. The ACL (amtemu-model) decides what those SIDs may
//! do. The answer carries an AP-REP for mutual authentication.
//!
//! The Kerberos ASN.1 and crypto are picky-krb's (Devolutions, the crate
//! behind sspi-rs and IronRDP): a pure-Rust acceptor keeps the key, the
//! clock and the replay cache per device, which a process-wide GSS-API
//! library (MIT's keytab, `clockskew` and rcache) cannot. RC4-HMAC, which
//! picky-krb lacks, is composed in [`keys`] from RustCrypto's primitives.

pub mod gss;
pub mod keys;
mod login;
pub mod pac;
mod replay;
#[cfg(test)]
mod tests;

use amtemu_model::device::users::KerberosSettings;
use picky_asn1::date::GeneralizedTime;
use picky_asn1::wrapper::{
    ExplicitContextTag0, ExplicitContextTag1, ExplicitContextTag2, ExplicitContextTag3,
    IntegerAsn1, OctetStringAsn1, Optional,
};
use picky_krb::constants::key_usages;
use picky_krb::data_types::{
    Authenticator, AuthorizationData, EncApRepPart, EncApRepPartInner, EncTicketPart,
    EncryptedData, PrincipalName,
};
use picky_krb::messages::{ApRep, ApRepInner, ApReq};

pub use gss::FramingError;
pub use keys::Key;
pub use login::login;
pub use replay::ReplayCache;

/// What a device keeps between Kerberos logins (not saved): the
/// authenticators seen and its derived keys.
#[derive(Debug, Default)]
pub struct DeviceState {
    pub replays: ReplayCache,
    pub keys: keys::KeyCache,
}

/// Ticket key usage (RFC 4120 7.5.1: KDC-REP ticket).
const TICKET_USAGE: i32 = 2;
/// AD-IF-RELEVANT and AD-WIN2K-PAC authorization data types.
const AD_IF_RELEVANT: u8 = 1;
const AD_WIN2K_PAC: u8 = 128;

/// A client the device's key vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// `user@REALM`, for the log.
    pub client: String,
    /// The user's SID, then its groups', from the verified PAC.
    pub sids: Vec<Vec<u8>>,
    /// The GSS token to send back (an AP-REP, framed as the request was).
    pub reply: Vec<u8>,
}

/// Why a token is refused. Each is a 401 on HTTP and a failed
/// authentication on the redirection ports; the reason goes to the log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Kerberos is not enabled")]
    Disabled,
    #[error("{0}")]
    Framing(#[from] FramingError),
    #[error("malformed Kerberos message: {0}")]
    Malformed(&'static str),
    #[error("encryption type {0} is not one the device has a key for")]
    NoKey(i64),
    #[error("the ticket does not decrypt with the device's key (another service's ticket?)")]
    WrongKey,
    #[error("the authenticator does not decrypt with the ticket's session key")]
    BadAuthenticator,
    #[error("the authenticator names another client than the ticket")]
    ClientMismatch,
    #[error("the ticket is not valid yet")]
    NotYetValid,
    #[error("the ticket has expired")]
    Expired,
    #[error("the authenticator's time is {0} s from the device's clock")]
    Skew(i64),
    #[error("replayed authenticator")]
    Replay,
    #[error("the ticket carries no PAC")]
    NoPac,
    #[error("{0}")]
    Pac(#[from] pac::PacError),
}

/// Accepts an initial context token (already base64-decoded) for a device
/// with these settings at `now` (the device's clock, seconds since 1970).
pub fn accept(
    settings: &KerberosSettings,
    token: &[u8],
    now: u64,
    state: &DeviceState,
) -> Result<Accepted, Refusal> {
    if !settings.enabled {
        return Err(Refusal::Disabled);
    }
    let (framing, ap_req) = gss::unwrap_initial(token)?;
    let ap_req: ApReq =
        picky_asn1_der::from_bytes(ap_req).map_err(|_| Refusal::Malformed("AP-REQ"))?;
    let ap_req = ap_req.0;
    let ticket = &ap_req.ticket.0.0;

    // The ticket, with the device's key.
    let enc = &ticket.enc_part.0;
    let key = state.keys.device(settings, integer(&enc.etype.0)?)?;
    let plain = key
        .decrypt(TICKET_USAGE, &enc.cipher.0.0)
        .ok_or(Refusal::WrongKey)?;
    let part: EncTicketPart =
        picky_asn1_der::from_bytes(&plain).map_err(|_| Refusal::Malformed("EncTicketPart"))?;
    let part = part.0;

    // The authenticator, with the session key the ticket holds.
    let session = Key::session(integer(&part.key.0.key_type.0)?, &part.key.0.key_value.0.0)?;
    let auth = &ap_req.authenticator.0;
    let plain = session
        .decrypt(key_usages::AP_REQ_AUTHENTICATOR, &auth.cipher.0.0)
        .ok_or(Refusal::BadAuthenticator)?;
    let authenticator: Authenticator =
        picky_asn1_der::from_bytes(&plain).map_err(|_| Refusal::Malformed("Authenticator"))?;
    let authenticator = authenticator.0;
    let client = principal(&part.cname.0, &part.crealm.0.0.to_string());
    if client
        != principal(
            &authenticator.cname.0,
            &authenticator.crealm.0.0.to_string(),
        )
    {
        return Err(Refusal::ClientMismatch);
    }

    // Times: the ticket's validity and the authenticator's skew, each
    // within the clock tolerance (minutes).
    let tolerance = i64::from(settings.maximum_clock_tolerance) * 60;
    let now = now as i64;
    let start = part
        .starttime
        .0
        .as_ref()
        .map(|t| &t.0.0)
        .unwrap_or(&part.auth_time.0.0);
    if seconds(start)? > now + tolerance {
        return Err(Refusal::NotYetValid);
    }
    if seconds(&part.endtime.0.0)? + tolerance < now {
        return Err(Refusal::Expired);
    }
    let ctime = seconds(&authenticator.ctime.0.0)?;
    if (ctime - now).abs() > tolerance {
        return Err(Refusal::Skew(ctime - now));
    }
    let cusec = integer(&authenticator.cusec.0)?;
    if !state.replays.admit(&client, ctime, cusec, now, tolerance) {
        return Err(Refusal::Replay);
    }

    // The PAC, signed with the device's key.
    let pac_bytes = part
        .authorization_data
        .0
        .as_ref()
        .and_then(|ad| find_pac(&ad.0))
        .ok_or(Refusal::NoPac)?;
    let sids = pac::verified_sids(&pac_bytes, &key)?;

    // Mutual authentication: the AP-REP echoes the authenticator's time.
    let rep_part = EncApRepPart::from(EncApRepPartInner {
        ctime: ExplicitContextTag0::from(authenticator.ctime.0.clone()),
        cusec: ExplicitContextTag1::from(authenticator.cusec.0.clone()),
        subkey: Optional::from(None),
        seq_number: Optional::from(Some(ExplicitContextTag3::from(IntegerAsn1::from(
            rand::random::<u32>().to_be_bytes()[..].to_vec(),
        )))),
    });
    let rep_plain =
        picky_asn1_der::to_vec(&rep_part).map_err(|_| Refusal::Malformed("EncAPRepPart"))?;
    let rep_cipher = session
        .encrypt(key_usages::AP_REP_ENC, &rep_plain)
        .ok_or(Refusal::BadAuthenticator)?;
    let ap_rep = ApRep::from(ApRepInner {
        pvno: ExplicitContextTag0::from(IntegerAsn1::from(vec![5])),
        msg_type: ExplicitContextTag1::from(IntegerAsn1::from(vec![15])),
        enc_part: ExplicitContextTag2::from(EncryptedData {
            etype: ExplicitContextTag0::from(IntegerAsn1::from(vec![session.etype() as u8])),
            kvno: Optional::from(None),
            cipher: ExplicitContextTag2::from(OctetStringAsn1::from(rep_cipher)),
        }),
    });
    let ap_rep = picky_asn1_der::to_vec(&ap_rep).map_err(|_| Refusal::Malformed("AP-REP"))?;
    Ok(Accepted {
        client,
        sids,
        reply: gss::wrap_reply(&framing, &ap_rep),
    })
}

/// The PAC in a ticket's authorization data: AD-WIN2K-PAC inside
/// AD-IF-RELEVANT, as AD KDCs put it.
fn find_pac(ad: &[picky_krb::data_types::AuthorizationDataInner]) -> Option<Vec<u8>> {
    for entry in ad {
        let kind = entry.ad_type.0.0.as_slice();
        if kind == [AD_IF_RELEVANT] {
            let inner: AuthorizationData = picky_asn1_der::from_bytes(&entry.ad_data.0.0).ok()?;
            if let Some(pac) = inner
                .0
                .iter()
                .find(|e| integer(&e.ad_type.0).ok() == Some(i64::from(AD_WIN2K_PAC)))
            {
                return Some(pac.ad_data.0.0.clone());
            }
        }
    }
    None
}

/// `name/instance@REALM`.
fn principal(name: &PrincipalName, realm: &str) -> String {
    let parts: Vec<String> = name
        .name_string
        .0
        .0
        .iter()
        .map(|s| s.0.to_string())
        .collect();
    format!("{}@{realm}", parts.join("/"))
}

/// A small ASN.1 INTEGER (at most 8 bytes, two's complement).
fn integer(i: &IntegerAsn1) -> Result<i64, Refusal> {
    let bytes = &i.0;
    if bytes.is_empty() || bytes.len() > 8 {
        return Err(Refusal::Malformed("INTEGER"));
    }
    let negative = bytes[0] & 0x80 != 0;
    let init = if negative { -1i64 } else { 0 };
    Ok(bytes.iter().fold(init, |a, b| (a << 8) | i64::from(*b)))
}

/// Seconds since 1970 of a KerberosTime.
fn seconds(t: &GeneralizedTime) -> Result<i64, Refusal> {
    let text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    amtemu_wire::wsman::cim_time::parse_datetime(&text)
        .map(|s| s as i64)
        .ok_or(Refusal::Malformed("KerberosTime"))
}
