//! Go `time.ParseDuration` syntax (`45s`, `30m`, `1h10m30s`, `1.5h`, `300ms`), which the original
//! tokenizer and SDK used for grant durations.

use std::time::Duration;

use crate::error::{Error, ErrorCode, Result};

const NS: u128 = 1;
const US: u128 = 1_000;
const MS: u128 = 1_000_000;
const S: u128 = 1_000_000_000;
const M: u128 = 60 * S;
const H: u128 = 60 * M;
/// Go durations are an `int64` of nanoseconds; we keep the same ceiling.
const MAX_NANOS: u128 = i64::MAX as u128;

fn invalid(why: &str) -> Error {
    Error::new(
        ErrorCode::DurationInvalid,
        format!("invalid duration: {why} (Go syntax, e.g. \"45s\", \"30m\", \"1h10m30s\", \"1.5h\")"),
    )
}

/// Parses a Go duration string. Negative durations are refused (a grant cannot last less than
/// nothing); `"0"` is accepted. Errors quote nothing of the input beyond its shape.
pub fn parse_go_duration(input: &str) -> Result<Duration> {
    let mut s = input;
    if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    } else if s.starts_with('-') {
        return Err(invalid("negative durations are not allowed"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid("empty string"));
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        // Integer part.
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, rest) = s.split_at(int_len);
        s = rest;
        // Fraction part.
        let mut frac_digits = "";
        if let Some(rest) = s.strip_prefix('.') {
            let frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            (frac_digits, s) = rest.split_at(frac_len);
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid("expected a number"));
        }
        // Unit.
        let unit_len = s.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(s.len());
        let (unit, rest) = s.split_at(unit_len);
        s = rest;
        let scale = match unit {
            "ns" => NS,
            "us" | "\u{b5}s" | "\u{3bc}s" => US,
            "ms" => MS,
            "s" => S,
            "m" => M,
            "h" => H,
            "" => return Err(invalid("missing unit (ns, us, ms, s, m, h)")),
            _ => return Err(invalid("unknown unit (use ns, us, ms, s, m, h)")),
        };
        let too_big = || invalid("out of range");
        let mut value: u128 = 0;
        for d in int_digits.bytes() {
            value = value.checked_mul(10).and_then(|v| v.checked_add(u128::from(d - b'0'))).ok_or_else(too_big)?;
            if value > MAX_NANOS {
                return Err(too_big());
            }
        }
        value = value.checked_mul(scale).ok_or_else(too_big)?;
        // Fraction: like Go, digits past what can matter are ignored (no overflow on long fractions).
        let mut frac: u128 = 0;
        let mut frac_scale: u128 = 1;
        for d in frac_digits.bytes() {
            if frac_scale >= 10u128.pow(20) {
                break;
            }
            frac = frac * 10 + u128::from(d - b'0');
            frac_scale *= 10;
        }
        value += frac * scale / frac_scale;
        total = total.checked_add(value).ok_or_else(too_big)?;
        if total > MAX_NANOS {
            return Err(too_big());
        }
    }
    let secs = u64::try_from(total / S).map_err(|_| invalid("out of range"))?;
    #[allow(clippy::cast_possible_truncation)] // remainder of a division by 1e9 fits in u32
    let nanos = (total % S) as u32;
    Ok(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Duration {
        parse_go_duration(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn spec_examples() {
        assert_eq!(ok("45s"), Duration::from_secs(45));
        assert_eq!(ok("30m"), Duration::from_mins(30));
        assert_eq!(ok("1h10m30s"), Duration::from_secs(3600 + 600 + 30));
        assert_eq!(ok("1.5h"), Duration::from_mins(90));
        assert_eq!(ok("300ms"), Duration::from_millis(300));
    }

    #[test]
    fn go_edge_cases() {
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("+5s"), Duration::from_secs(5));
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("5.s"), Duration::from_secs(5));
        assert_eq!(ok("1us"), Duration::from_micros(1));
        assert_eq!(ok("1\u{b5}s"), Duration::from_micros(1));
        assert_eq!(ok("1\u{3bc}s"), Duration::from_micros(1));
        assert_eq!(ok("1ns"), Duration::from_nanos(1));
        assert_eq!(ok("1h1h"), Duration::from_hours(2));
        assert_eq!(ok("0.000000001s"), Duration::from_nanos(1));
        assert_eq!(ok("1.0000000000000000000000001s"), Duration::from_secs(1));
        // Largest Go duration.
        assert_eq!(ok("9223372036854775807ns"), Duration::from_nanos(i64::MAX as u64));
        assert_eq!(ok("2562047h"), Duration::from_hours(2_562_047));
    }

    #[test]
    fn rejects_bad_input_with_a_typed_error() {
        for s in [
            "",
            "-",
            "+",
            "-5s",
            "5",
            "s",
            ".s",
            "1.5",
            "1x",
            "1 h",
            " 1h",
            "1h ",
            "1H",
            "1d",
            "9223372036854775808ns",
            "2562048h",
            "99999999999999999999999h",
            "1e3s",
            "1h-5m",
            "\u{b5}s",
        ] {
            let err = parse_go_duration(s).expect_err(s);
            assert_eq!(err.code(), ErrorCode::DurationInvalid, "{s:?}");
        }
    }
}
