//! The small web UI every AMT serves on 16992/16993: a redirect from `/`, an
//! unauthenticated logon page, and authenticated status pages.

use amtemu_model::device::Device;

fn page(title_suffix: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" >\n\
<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\n\
<title>Intel&reg; Active Management Technology{title_suffix}</title></head>\n\
<body>\n<p><b>Intel&reg; Active Management Technology</b></p>\n{body}\n</body>\n</html>\n"
    )
}

/// The page sent with every 401, as AMT 11.8 sends it (690 bytes): it
/// links the firmware's own style sheet and logo.
pub fn logon_failed() -> String {
    LOGON_FAILED.to_string()
}

const LOGON_FAILED: &str = concat!(
    "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" >\n",
    "<html><head><link rel=stylesheet href=/styles.css>\n",
    "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\n",
    "<title>Intel&reg; Active Management Technology</title></head>\n",
    "<body>\n",
    "<table class=header>\n",
    "<tr><td valign=top nowrap>\n",
    "<p class=top1>Intel<font class=r><sup>&reg;</sup></font> Active Management Technology\n",
    "<td valign=\"top\"><img src=\"logo.gif\" align=\"right\" alt=\"Intel\">\n",
    "</table>\n",
    "<br />\n",
    "<h2 class=warn>Log on failed. Incorrect user name or password, or user account temporarily locked.</h2>\n",
    "\n",
    "<p>\n",
    "<form METHOD=\"GET\" action=\"index.htm\"><h2><input type=submit value=\"Try again\">\n",
    "</h2></form>\n",
    "<p>\n",
    "\n",
    "</body>\n",
    "</html>\n",
);

/// `/logon.htm`: shown without authentication.
pub fn logon() -> String {
    page(
        "",
        "<p>To log on, select the button below and enter a user name and password.</p>\n\
<form METHOD=\"GET\" action=\"index.htm\"><input type=submit value=\"Log On...\"></form>",
    )
}

/// `/index.htm`: system status, after authentication.
pub fn index(device: &Device) -> String {
    let (power, host, domain, ip) = device.with_state(|s| {
        (
            s.power.state(),
            s.nvram.general.host_name.to_string(),
            s.nvram.general.domain_name.to_string(),
            s.nvram.network.ip_address.clone(),
        )
    });
    let power_text = if power.is_on() { "On" } else { "Off" };
    page(
        " - System Status",
        &format!(
            "<h1>System Status</h1>\n<table>\n\
<tr><td>Power</td><td>{power_text}</td></tr>\n\
<tr><td>IP address</td><td>{ip}</td></tr>\n\
<tr><td>Computer name</td><td>{host}{dot}{domain}</td></tr>\n\
<tr><td>Intel&reg; AMT version</td><td>{version}</td></tr>\n\
<tr><td>System ID</td><td>{uuid}</td></tr>\n</table>",
            dot = if domain.is_empty() { "" } else { "." },
            version = device.firmware.version,
            uuid = device.identity.uuid_string(),
        ),
    )
}

/// What a device whose web UI is switched off answers for its pages
/// (as a third-party write-up of an AMT 15 describes it).
pub fn disabled() -> String {
    page(
        " - Page Not Found",
        "<h2>Page Not Found</h2>\n<p>Web browser access to Intel&reg; Active Management Technology is disabled.</p>",
    )
}

pub fn not_found() -> String {
    page(" - Page Not Found", "<h2>Page Not Found</h2>")
}
