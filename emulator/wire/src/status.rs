//! AMT's PT_STATUS: the `ReturnValue` of every AMT method and the status
//! of the host interfaces. Defined once here; each area of the device model
//! has its own refusal type, which the class that serves it maps to one of
//! these at the WS-Man edge. Values and names follow Intel's AMT
//! Network Design Guide (StatusCodeDefinitions.h in Intel's SDKs).

/// One PT_STATUS value. `u32::from(status)` is what goes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum PtStatus {
    Success = 0x0,
    InternalError = 0x1,
    NotReady = 0x2,
    InvalidPtMode = 0x3,
    InvalidMessageLength = 0x4,
    ApplicationNotRegistered = 0x8,
    InvalidRegistrationData = 0x9,
    ApplicationDoesNotExist = 0xA,
    NotEnoughStorage = 0xB,
    InvalidName = 0xC,
    BlockDoesNotExist = 0xD,
    InvalidByteOffset = 0xE,
    InvalidByteCount = 0xF,
    NotPermitted = 0x10,
    NotOwner = 0x11,
    BlockLockedByOther = 0x12,
    BlockNotLocked = 0x13,
    MaxLimitReached = 0x17,
    InvalidAuthType = 0x18,
    InvalidDhcpMode = 0x1A,
    InvalidIpAddress = 0x1B,
    InvalidDomainName = 0x1C,
    RequestUnexpected = 0x1E,
    InvalidProvisioningState = 0x20,
    InvalidTime = 0x22,
    InvalidIndex = 0x23,
    InvalidParameter = 0x24,
    InvalidNetmask = 0x25,
    FlashWriteLimitExceeded = 0x26,
    InvalidPidFormat = 0x2A,
    InvalidPpsFormat = 0x2B,
    CertificateNotReady = 0x31,
    RemoteAccessNotGranted = 0x200,
    UnsupportedOemNumber = 0x801,
    UnsupportedBootOption = 0x802,
    InvalidCommand = 0x803,
    InvalidSpecialCommand = 0x804,
    InvalidHandle = 0x805,
    InvalidPassword = 0x806,
    InvalidRealm = 0x807,
    StorageAclEntryInUse = 0x808,
    DataMissing = 0x809,
    Duplicate = 0x80A,
    EventLogFrozen = 0x80B,
    PkiMissingKeys = 0x80C,
    PkiGeneratingKeys = 0x80D,
    InvalidKey = 0x80E,
    InvalidCert = 0x80F,
    CertKeyNotMatch = 0x810,
    MaxKerberosDomainReached = 0x811,
    Unsupported = 0x812,
    InvalidPriority = 0x813,
    NotFound = 0x814,
    InvalidCredentials = 0x815,
    InvalidPassphrase = 0x816,
    AuditFail = 0x81B,
    BlockingComponent = 0x81C,
}

impl From<PtStatus> for u32 {
    fn from(status: PtStatus) -> u32 {
        status as u32
    }
}

impl PtStatus {
    /// Intel's name for the value, as logs and consoles print it.
    pub fn name(self) -> &'static str {
        match self {
            PtStatus::Success => "PT_STATUS_SUCCESS",
            PtStatus::InternalError => "PT_STATUS_INTERNAL_ERROR",
            PtStatus::NotReady => "PT_STATUS_NOT_READY",
            PtStatus::InvalidPtMode => "PT_STATUS_INVALID_PT_MODE",
            PtStatus::InvalidMessageLength => "PT_STATUS_INVALID_MESSAGE_LENGTH",
            PtStatus::ApplicationNotRegistered => "PT_STATUS_APPLICATION_NOT_REGISTERED",
            PtStatus::InvalidRegistrationData => "PT_STATUS_INVALID_REGISTRATION_DATA",
            PtStatus::ApplicationDoesNotExist => "PT_STATUS_APPLICATION_DOES_NOT_EXIST",
            PtStatus::NotEnoughStorage => "PT_STATUS_NOT_ENOUGH_STORAGE",
            PtStatus::InvalidName => "PT_STATUS_INVALID_NAME",
            PtStatus::BlockDoesNotExist => "PT_STATUS_BLOCK_DOES_NOT_EXIST",
            PtStatus::InvalidByteOffset => "PT_STATUS_INVALID_BYTE_OFFSET",
            PtStatus::InvalidByteCount => "PT_STATUS_INVALID_BYTE_COUNT",
            PtStatus::NotPermitted => "PT_STATUS_NOT_PERMITTED",
            PtStatus::NotOwner => "PT_STATUS_NOT_OWNER",
            PtStatus::BlockLockedByOther => "PT_STATUS_BLOCK_LOCKED_BY_OTHER",
            PtStatus::BlockNotLocked => "PT_STATUS_BLOCK_NOT_LOCKED",
            PtStatus::MaxLimitReached => "PT_STATUS_MAX_LIMIT_REACHED",
            PtStatus::InvalidAuthType => "PT_STATUS_INVALID_AUTH_TYPE",
            PtStatus::InvalidDhcpMode => "PT_STATUS_INVALID_DHCP_MODE",
            PtStatus::InvalidIpAddress => "PT_STATUS_INVALID_IP_ADDRESS",
            PtStatus::InvalidDomainName => "PT_STATUS_INVALID_DOMAIN_NAME",
            PtStatus::RequestUnexpected => "PT_STATUS_REQUEST_UNEXPECTED",
            PtStatus::InvalidProvisioningState => "PT_STATUS_INVALID_PROVISIONING_STATE",
            PtStatus::InvalidTime => "PT_STATUS_INVALID_TIME",
            PtStatus::InvalidIndex => "PT_STATUS_INVALID_INDEX",
            PtStatus::InvalidParameter => "PT_STATUS_INVALID_PARAMETER",
            PtStatus::InvalidNetmask => "PT_STATUS_INVALID_NETMASK",
            PtStatus::FlashWriteLimitExceeded => "PT_STATUS_FLASH_WRITE_LIMIT_EXCEEDED",
            PtStatus::InvalidPidFormat => "PT_STATUS_INVALID_PID_FORMAT",
            PtStatus::InvalidPpsFormat => "PT_STATUS_INVALID_PPS_FORMAT",
            PtStatus::CertificateNotReady => "PT_STATUS_CERTIFICATE_NOT_READY",
            PtStatus::RemoteAccessNotGranted => "PT_STATUS_REMOTE_ACCESS_NOT_GRANTED",
            PtStatus::UnsupportedOemNumber => "PT_STATUS_UNSUPPORTED_OEM_NUMBER",
            PtStatus::UnsupportedBootOption => "PT_STATUS_UNSUPPORTED_BOOT_OPTION",
            PtStatus::InvalidCommand => "PT_STATUS_INVALID_COMMAND",
            PtStatus::InvalidSpecialCommand => "PT_STATUS_INVALID_SPECIAL_COMMAND",
            PtStatus::InvalidHandle => "PT_STATUS_INVALID_HANDLE",
            PtStatus::InvalidPassword => "PT_STATUS_INVALID_PASSWORD",
            PtStatus::InvalidRealm => "PT_STATUS_INVALID_REALM",
            PtStatus::StorageAclEntryInUse => "PT_STATUS_STORAGE_ACL_ENTRY_IN_USE",
            PtStatus::DataMissing => "PT_STATUS_DATA_MISSING",
            PtStatus::Duplicate => "PT_STATUS_DUPLICATE",
            PtStatus::EventLogFrozen => "PT_STATUS_EVENTLOG_FROZEN",
            PtStatus::PkiMissingKeys => "PT_STATUS_PKI_MISSING_KEYS",
            PtStatus::PkiGeneratingKeys => "PT_STATUS_PKI_GENERATING_KEYS",
            PtStatus::InvalidKey => "PT_STATUS_INVALID_KEY",
            PtStatus::InvalidCert => "PT_STATUS_INVALID_CERT",
            PtStatus::CertKeyNotMatch => "PT_STATUS_CERT_KEY_NOT_MATCH",
            PtStatus::MaxKerberosDomainReached => "PT_STATUS_MAX_KERB_DOMAIN_REACHED",
            PtStatus::Unsupported => "PT_STATUS_UNSUPPORTED",
            PtStatus::InvalidPriority => "PT_STATUS_INVALID_PRIORITY",
            PtStatus::NotFound => "PT_STATUS_NOT_FOUND",
            PtStatus::InvalidCredentials => "PT_STATUS_INVALID_CREDENTIALS",
            PtStatus::InvalidPassphrase => "PT_STATUS_INVALID_PASSPHRASE",
            PtStatus::AuditFail => "PT_STATUS_AUDIT_FAIL",
            PtStatus::BlockingComponent => "PT_STATUS_BLOCKING_COMPONENT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_intels() {
        assert_eq!(u32::from(PtStatus::Success), 0);
        assert_eq!(u32::from(PtStatus::InvalidIndex), 35);
        assert_eq!(u32::from(PtStatus::InvalidParameter), 36);
        assert_eq!(u32::from(PtStatus::InvalidHandle), 2053);
        assert_eq!(u32::from(PtStatus::Duplicate), 2058);
        assert_eq!(u32::from(PtStatus::AuditFail), 2075);
        assert_eq!(u32::from(PtStatus::BlockingComponent), 2076);
        assert_eq!(PtStatus::NotPermitted.name(), "PT_STATUS_NOT_PERMITTED");
    }
}
