//! SOAP faults as AMT sends them.

use super::names;

/// Which namespace a fault's subcode lives in; it decides the prefix in the
/// fault envelope and the fault Action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Addressing,
    Wsman,
    Enumeration,
    Soap,
}

/// A fault a request can end in. Each kind carries the subcode, the SOAP
/// code and the reason text firmware uses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("destination unreachable")]
    DestinationUnreachable,
    #[error("action not supported")]
    ActionNotSupported,
    #[error("message information header required")]
    MessageInformationHeaderRequired,
    #[error("invalid message information header")]
    InvalidMessageInformationHeader,
    #[error("invalid selectors")]
    InvalidSelectors,
    #[error("access denied")]
    AccessDenied,
    #[error("schema validation error")]
    SchemaValidationError,
    #[error("invalid parameter")]
    InvalidParameter,
    #[error("invalid representation")]
    InvalidRepresentation,
    #[error("encoding limit")]
    EncodingLimit,
    #[error("already exists")]
    AlreadyExists,
    #[error("unsupported feature")]
    UnsupportedFeature,
    #[error("invalid enumeration context")]
    InvalidEnumerationContext,
    #[error("AMT internal error (status {0})")]
    InternalError(u32),
    #[error("header not understood: {0}")]
    MustUnderstand(String),
    #[error("SOAP version mismatch")]
    VersionMismatch,
}

impl Fault {
    fn family(&self) -> Family {
        use Fault::*;
        match self {
            DestinationUnreachable
            | ActionNotSupported
            | MessageInformationHeaderRequired
            | InvalidMessageInformationHeader => Family::Addressing,
            InvalidEnumerationContext => Family::Enumeration,
            MustUnderstand(_) | VersionMismatch => Family::Soap,
            _ => Family::Wsman,
        }
    }

    /// The SOAP Code value (`a:` is the SOAP envelope prefix in faults).
    pub fn code(&self) -> &'static str {
        match self {
            Fault::InternalError(_) | Fault::InvalidEnumerationContext => "a:Receiver",
            Fault::MustUnderstand(_) => "a:MustUnderstand",
            Fault::VersionMismatch => "a:VersionMismatch",
            _ => "a:Sender",
        }
    }

    /// The subcode QName, with the prefixes of the fault envelope
    /// (`b:` addressing, `c:` enumeration, `e:` wsman). SOAP-level faults
    /// have none.
    pub fn subcode(&self) -> Option<&'static str> {
        use Fault::*;
        Some(match self {
            DestinationUnreachable => "b:DestinationUnreachable",
            ActionNotSupported => "b:ActionNotSupported",
            MessageInformationHeaderRequired => "b:MessageInformationHeaderRequired",
            InvalidMessageInformationHeader => "b:InvalidMessageInformationHeader",
            InvalidSelectors => "e:InvalidSelectors",
            AccessDenied => "e:AccessDenied",
            SchemaValidationError => "e:SchemaValidationError",
            InvalidParameter => "e:InvalidParameter",
            InvalidRepresentation => "e:InvalidRepresentation",
            EncodingLimit => "e:EncodingLimit",
            AlreadyExists => "e:AlreadyExists",
            UnsupportedFeature => "e:UnsupportedFeature",
            InternalError(_) => "e:InternalError",
            InvalidEnumerationContext => "c:InvalidEnumerationContext",
            MustUnderstand(_) | VersionMismatch => return None,
        })
    }

    pub fn reason(&self) -> &'static str {
        use Fault::*;
        match self {
            DestinationUnreachable => {
                "No route can be determined to reach the destination role defined by the WSAddressing To."
            }
            ActionNotSupported => "The action is not supported by the service.",
            MessageInformationHeaderRequired => "A required header property was not present.",
            InvalidMessageInformationHeader => {
                "A message information header is not valid and the message cannot be processed."
            }
            InvalidSelectors => "The Selectors for the resource were not valid.",
            AccessDenied => "The sender was not authorized to access the resource.",
            SchemaValidationError => {
                "The supplied SOAP violates the corresponding XML Schema definition."
            }
            InvalidParameter => "An operation parameter was not valid.",
            InvalidRepresentation => "The XML content was invalid.",
            EncodingLimit => {
                "An internal encoding limit was exceeded in a request or would be violated if the message were processed."
            }
            AlreadyExists => "The sender attempted to create a resource which already exists.",
            UnsupportedFeature => "The specified feature is not supported.",
            InvalidEnumerationContext => "The supplied enumeration context is invalid.",
            InternalError(_) => {
                "The service cannot comply with the request due to internal processing errors."
            }
            MustUnderstand(_) => "Header not understood",
            VersionMismatch => "Version Mismatch",
        }
    }

    /// The Detail content: AMT puts its PT_STATUS in internal errors.
    pub fn detail(&self) -> Option<String> {
        match self {
            Fault::InternalError(status) => Some(format!("AMT-STATUS {status}")),
            _ => None,
        }
    }

    pub fn action(&self) -> &'static str {
        match self.family() {
            Family::Addressing => names::ACTION_ADDRESSING_FAULT,
            Family::Enumeration => names::ACTION_ENUMERATION_FAULT,
            Family::Wsman | Family::Soap => names::ACTION_WSMAN_FAULT,
        }
    }
}
