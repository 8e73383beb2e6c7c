//! Requests as consoles write them, for the load generator and benchmarks.

/// A WS-Man Get of AMT_GeneralSettings, the request consoles send most.
pub fn get_general_settings(message_id: u64) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" "#,
            r#"xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">"#,
            r#"<Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To>"#,
            r#"<w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI>"#,
            r#"<a:MessageID>{}</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"#,
            r#"<w:OperationTimeout>PT60S</w:OperationTimeout></Header><Body/></Envelope>"#
        ),
        message_id
    )
}

/// A Put of `AMT_GeneralSettings` that changes only `HostName`: the
/// smallest write a console makes, acknowledged only once it is durable.
pub fn put_general_settings_host_name(message_id: u64, host_name: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" "#,
            r#"xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">"#,
            r#"<Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Put</a:Action><a:To>/wsman</a:To>"#,
            r#"<w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI>"#,
            r#"<a:MessageID>{}</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"#,
            r#"<w:OperationTimeout>PT60S</w:OperationTimeout></Header><Body>"#,
            r#"<g:AMT_GeneralSettings xmlns:g="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings">"#,
            r#"<g:HostName>{}</g:HostName></g:AMT_GeneralSettings></Body></Envelope>"#
        ),
        message_id, host_name
    )
}
