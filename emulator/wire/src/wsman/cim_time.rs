//! CIM datetimes and intervals as WS-Man carries them (the `Datetime` and
//! `Interval` elements of the CIM common namespace): `2026-11-24T16:00:00Z`
//! and `P1DT2H30M`. Pure conversions to and from seconds.

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(text: &str) -> Option<u32> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Seconds since 1970 of `YYYY-MM-DDTHH:MM:SS` with an optional fraction
/// and a `Z` or `±HH:MM` offset; `None` for anything else, an impossible
/// date included, or a time before 1970.
pub fn parse_datetime(text: &str) -> Option<u64> {
    let text = text.trim();
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-');
    let (year, month, day) = (digits(d.next()?)?, digits(d.next()?)?, digits(d.next()?)?);
    if d.next().is_some() || date.len() != 10 {
        return None;
    }
    let (clock, offset) = if let Some(clock) = time.strip_suffix('Z') {
        (clock, 0i64)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (h, m) = zone[1..].split_once(':')?;
        let (h, m) = (digits(h)?, digits(m)?);
        if h > 23 || m > 59 {
            return None;
        }
        (clock, sign * i64::from(h * 3600 + m * 60))
    };
    let clock = clock.split('.').next()?;
    let mut c = clock.split(':');
    let (h, mi, s) = (digits(c.next()?)?, digits(c.next()?)?, digits(c.next()?)?);
    if c.next().is_some() || clock.len() != 8 {
        return None;
    }
    let year = i64::from(year);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let secs =
        days_from_civil(year, month, day) * 86_400 + i64::from(h * 3600 + mi * 60 + s) - offset;
    u64::try_from(secs).ok()
}

/// `YYYY-MM-DDTHH:MM:SSZ` of seconds since 1970.
pub fn format_datetime(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Seconds of an xs:duration without years or months (`P1DT2H3M4S`,
/// `PT15M`); `None` for anything else.
pub fn parse_interval(text: &str) -> Option<u64> {
    let rest = text.trim().strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, t),
        Some(_) => return None,
        None => (rest, ""),
    };
    let mut total: u64 = 0;
    if !days.is_empty() {
        total = u64::from(digits(days.strip_suffix('D')?)?) * 86_400;
    }
    let mut number = String::new();
    let mut last = 0;
    for c in time.chars() {
        let (unit, order) = match c {
            '0'..='9' => {
                number.push(c);
                continue;
            }
            'H' => (3600, 1),
            'M' => (60, 2),
            'S' => (1, 3),
            _ => return None,
        };
        // Units in order, each once, each with a number.
        if order <= last {
            return None;
        }
        last = order;
        total = total.checked_add(u64::from(digits(&number)?).checked_mul(unit)?)?;
        number.clear();
    }
    number.is_empty().then_some(total)
}

/// `PnDTnHnM` (with seconds when there are any), as DMT writes intervals.
pub fn format_interval(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if s == 0 {
        format!("P{d}DT{h}H{m}M")
    } else {
        format!("P{d}DT{h}H{m}M{s}S")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn datetimes_are_utc_civil_dates() {
        assert_eq!(format_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_datetime(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_datetime(1_795_537_845), "2026-11-24T16:30:45Z");
    }

    #[test]
    fn datetimes_clients_send() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_datetime("2026-11-24T16:00:00Z"), Some(1_795_536_000));
        assert_eq!(
            parse_datetime("2026-11-24T16:00:00.123Z"),
            Some(1_795_536_000)
        );
        assert_eq!(
            parse_datetime("2026-11-24T17:30:00+01:30"),
            Some(1_795_536_000)
        );
        for bad in [
            "",
            "2026-11-24",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T16:00Z",
            "1969-12-31T23:59:59Z",
            "2026-11-24T16:00:00",
            "x026-11-24T16:00:00Z",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
        assert_eq!(format_datetime(1_795_536_000), "2026-11-24T16:00:00Z");
    }

    #[test]
    fn intervals_clients_send() {
        assert_eq!(parse_interval("P1DT2H3M"), Some(86_400 + 7200 + 180));
        assert_eq!(parse_interval("PT15M"), Some(900));
        assert_eq!(parse_interval("P0DT0H1M"), Some(60));
        assert_eq!(parse_interval("P2D"), Some(172_800));
        for bad in [
            "", "P", "PT", "1D", "P1Y", "PT1M1H", "PT1H1H", "PTH", "P1DT", "PT5",
        ] {
            assert_eq!(parse_interval(bad), None, "{bad}");
        }
        assert_eq!(format_interval(86_400 + 7200 + 180), "P1DT2H3M");
    }

    proptest! {
        #[test]
        fn formats_parse_back(unix in 0u64..10_000_000_000, secs in 0u64..100_000_000) {
            prop_assert_eq!(parse_datetime(&format_datetime(unix)), Some(unix));
            prop_assert_eq!(parse_interval(&format_interval(secs)), Some(secs));
        }

        #[test]
        fn garbage_never_panics(text in ".{0,40}") {
            let _ = parse_datetime(&text);
            let _ = parse_interval(&text);
        }
    }
}
