//! Namespace URIs and action names of WS-Management as AMT speaks it.

pub const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
pub const WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
pub const TRUST: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust";
pub const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const CIMBINDING: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd";
pub const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
pub const ENUMERATION: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";
pub const EVENTING: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing";
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const COMMON: &str = "http://schemas.dmtf.org/wbem/wscim/1/common";
pub const IDENTITY: &str = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd";
pub const DASH: &str = "http://schemas.dmtf.org/wbem/dash/1/dash.xsd";

pub const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

pub const ACTION_GET: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
pub const ACTION_PUT: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put";
pub const ACTION_CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
pub const ACTION_DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
pub const ACTION_ENUMERATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
pub const ACTION_PULL: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
pub const ACTION_RELEASE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release";
pub const ACTION_SUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe";
pub const ACTION_RENEW: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Renew";
pub const ACTION_UNSUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Unsubscribe";
/// The Action of an event the device sends to a subscriber.
pub const ACTION_EVENT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Event";
/// WS-Eventing's push mode and WS-Man's push-with-acknowledgement mode.
pub const DELIVERY_PUSH: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryModes/Push";
pub const DELIVERY_PUSH_WITH_ACK: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/PushWithAck";
pub const ACTION_WSMAN_FAULT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
pub const ACTION_ADDRESSING_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";
pub const ACTION_ENUMERATION_FAULT: &str =
    "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault";

pub const AMT_SCHEMA: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";
pub const CIM_SCHEMA: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";
pub const IPS_SCHEMA: &str = "http://intel.com/wbem/wscim/1/ips-schema/1/";

pub const ENUM_MODE_EPR: &str = "EnumerateEPR";
pub const ENUM_MODE_OBJECT_AND_EPR: &str = "EnumerateObjectAndEPR";

/// The resource URI of a class, by the prefix rule every AMT client uses.
pub fn class_uri(class: &str) -> String {
    format!("{}{class}", schema_of(class))
}

/// Whether `uri` is [`class_uri`]`(class)`, without building it (the
/// resource URI a request names nearly always is).
pub fn is_class_uri(uri: &str, class: &str) -> bool {
    uri.strip_suffix(class)
        .is_some_and(|base| base == schema_of(class))
}

/// The schema root a class's URI starts with, by the class's prefix.
fn schema_of(class: &str) -> &'static str {
    if class.starts_with("AMT_") {
        AMT_SCHEMA
    } else if class.starts_with("IPS_") {
        IPS_SCHEMA
    } else {
        CIM_SCHEMA
    }
}

/// The class name a resource URI names, when it is one of the three AMT
/// schema roots. Anything else is not a class this firmware could know.
pub fn class_of_uri(uri: &str) -> Option<&str> {
    [AMT_SCHEMA, CIM_SCHEMA, IPS_SCHEMA]
        .iter()
        .find_map(|root| uri.strip_prefix(root))
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_uris_follow_the_prefix_rule() {
        assert_eq!(
            class_uri("AMT_GeneralSettings"),
            "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
        );
        assert_eq!(
            class_uri("IPS_OptInService"),
            "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService"
        );
        assert_eq!(class_of_uri(&class_uri("CIM_Chassis")), Some("CIM_Chassis"));
        assert_eq!(class_of_uri("http://example.com/CIM_Chassis"), None);
        assert_eq!(class_of_uri(CIM_SCHEMA), None);
        for class in ["AMT_GeneralSettings", "IPS_OptInService", "CIM_Chassis"] {
            assert!(is_class_uri(&class_uri(class), class));
        }
        // The class under another schema root, or another class.
        assert!(!is_class_uri(
            &format!("{CIM_SCHEMA}AMT_GeneralSettings"),
            "AMT_GeneralSettings"
        ));
        assert!(!is_class_uri(
            &class_uri("AMT_GeneralSettings"),
            "GeneralSettings"
        ));
    }
}
