//! SILA amounts as integer micro-SILA: parsed from and shown as decimal strings, never floats.

/// Micro-SILA in one SILA.
pub const MICRO: i64 = 1_000_000;

/// Parses a non-negative decimal with at most 6 places ("12", "0.5", "3.000001") into
/// micro-SILA (or millionths, for multipliers).
pub fn parse_micro(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(frac.is_empty() || digits(frac)) || text.ends_with('.') {
        return Err(format!(
            "`{text}` is not a non-negative decimal number like 12 or 0.25"
        ));
    }
    if frac.len() > 6 {
        return Err(format!("`{text}` has more than 6 decimal places"));
    }
    let whole: i64 = whole
        .parse()
        .ok()
        .filter(|w| *w < i64::MAX / MICRO)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    let mut frac_micro: i64 = 0;
    for (i, b) in frac.bytes().enumerate() {
        frac_micro += i64::from(b - b'0') * 10_i64.pow(5 - i as u32);
    }
    Ok(whole * MICRO + frac_micro)
}

/// Shows micro-SILA as a decimal string with exactly 6 places ("12.500000").
pub fn format_micro(micro: i64) -> String {
    let sign = if micro < 0 { "-" } else { "" };
    let abs = micro.unsigned_abs();
    let unit = MICRO.unsigned_abs();
    format!("{sign}{}.{:06}", abs / unit, abs % unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(parse_micro("12"), Ok(12_000_000));
        assert_eq!(parse_micro("0.5"), Ok(500_000));
        assert_eq!(parse_micro("3.000001"), Ok(3_000_001));
        assert_eq!(parse_micro("0.1"), Ok(100_000));
        for bad in ["", ".5", "5.", "-1", "1e3", "0.0000001", "abc", "1.2.3"] {
            assert!(parse_micro(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn formats_six_places() {
        assert_eq!(format_micro(12_500_000), "12.500000");
        assert_eq!(format_micro(1), "0.000001");
        assert_eq!(format_micro(0), "0.000000");
        assert_eq!(format_micro(-1_500_000), "-1.500000");
    }
}
