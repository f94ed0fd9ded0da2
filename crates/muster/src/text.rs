//! How the CLI writes for people: times in local time to the second (or
//! UTC with `--utc`), and long text cut to the terminal's width with `…`.
//! `--json` prints the API's values untouched.

use std::sync::OnceLock;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The width of a terminal whose size cannot be read (and before `init`).
pub const DEFAULT_WIDTH: usize = 100;

struct Settings {
    utc: bool,
    width: usize,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets how times and tables are written, once per run.
pub fn init(utc: bool) {
    let _ = SETTINGS.set(Settings { utc, width: terminal_width() });
}

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Settings { utc: false, width: DEFAULT_WIDTH })
}

/// The width to fit: `COLUMNS` when set (as shells export it), else the
/// terminal's; output to a pipe or a file is not cut (`| grep` finds the
/// whole title), unless `COLUMNS` says a width.
fn terminal_width() -> usize {
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()).filter(|n| *n > 0) {
        return n;
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return usize::MAX;
    }
    match terminal_size::terminal_size_of(std::io::stdout()) {
        Some((terminal_size::Width(w), _)) if w > 0 => usize::from(w),
        _ => DEFAULT_WIDTH,
    }
}

/// The width tables fit in.
pub fn width() -> usize {
    settings().width
}

/// An RFC 3339 time from the API as people read it: local time to the
/// second with the zone's abbreviation (`2026-12-01 15:04:05 CET`), or UTC
/// (`2026-12-01 14:04:05Z`) with `--utc`. Anything else is returned as is.
pub fn when(text: &str) -> String {
    if settings().utc { when_utc(text) } else { when_in(text, &TimeZone::system()) }
}

/// Like [`when`], in UTC.
pub fn when_utc(text: &str) -> String {
    match text.parse::<Timestamp>() {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        Err(_) => text.to_owned(),
    }
}

/// Like [`when`], in the zone `tz` (a schedule's own).
pub fn when_in(text: &str, tz: &TimeZone) -> String {
    match text.parse::<Timestamp>() {
        Ok(t) => {
            let zoned = t.to_zoned(tz.clone());
            let abbreviation = zoned.strftime("%Z").to_string();
            // Zones without an abbreviation get their offset instead.
            let zone = if abbreviation.is_empty() { zoned.strftime("%:z").to_string() } else { abbreviation };
            format!("{} {zone}", zoned.strftime("%Y-%m-%d %H:%M:%S"))
        }
        Err(_) => text.to_owned(),
    }
}

/// A time typed on the command line, for the API (RFC 3339 in UTC): an
/// RFC 3339 time as it is (`2026-12-24T20:00:00Z`), or a local date and
/// time (`2026-12-24 20:00`, `2026-12-24T20:00:30`, `2026-12-24`) in the
/// reader's zone — in UTC with `--utc`.
pub fn time_input(text: &str) -> anyhow::Result<String> {
    let zone = if settings().utc { TimeZone::UTC } else { TimeZone::system() };
    time_input_at(text, &zone, Timestamp::now())
}

#[cfg(test)]
fn time_input_in(text: &str, zone: &TimeZone) -> anyhow::Result<String> {
    time_input_at(text, zone, Timestamp::now())
}

/// A time typed as RFC 3339, a local civil time in `zone`, or a while
/// before `now`: `20m ago`, `-2h`, `1d ago` (minutes, hours, days).
fn time_input_at(text: &str, zone: &TimeZone, now: Timestamp) -> anyhow::Result<String> {
    let t = text.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts.to_string());
    }
    let before = t.strip_suffix("ago").map(str::trim_end).or_else(|| t.strip_prefix('-'));
    if let Some(ago) = before {
        let digits = ago.find(|c: char| !c.is_ascii_digit()).unwrap_or(ago.len());
        let (n, unit) = ago.split_at(digits);
        let seconds = match (n.parse::<i64>(), unit.trim()) {
            (Ok(n), "m" | "min" | "minutes" | "minute") => Some(n * 60),
            (Ok(n), "h" | "hours" | "hour") => Some(n * 3600),
            (Ok(n), "d" | "days" | "day") => Some(n * 86_400),
            _ => None,
        };
        if let Some(s) = seconds.filter(|s| *s <= 366 * 86_400) {
            return Ok((now - jiff::SignedDuration::from_secs(s)).to_string());
        }
    }
    let civil = t
        .parse::<jiff::civil::DateTime>()
        .or_else(|_| jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", t))
        .or_else(|_| t.parse::<jiff::civil::Date>().map(|d| d.to_datetime(jiff::civil::Time::midnight())));
    match civil {
        Ok(dt) => Ok(dt.to_zoned(zone.clone())?.timestamp().to_string()),
        Err(_) => anyhow::bail!(
            "{text:?} is not a time: give 2026-12-24T20:00:00Z, a local 2026-12-24 20:00, or a while ago: 20m ago, -2h"
        ),
    }
}

/// `text` in at most `max` characters, cut with `…`.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Column widths that fit `width` with two spaces between columns: the
/// last column (a table's text: titles, summaries) gives way first, down to
/// 24 characters, then the widest; none below its header (or 8 characters).
pub fn fit(natural: &[usize], headers: &[usize], width: usize) -> Vec<usize> {
    let mut widths = natural.to_vec();
    let floor: Vec<usize> = natural.iter().zip(headers).map(|(n, h)| (*n).min((*h).max(8))).collect();
    let gaps = 2 * natural.len().saturating_sub(1);
    if let Some(last) = widths.len().checked_sub(1) {
        let others: usize = widths[..last].iter().sum::<usize>() + gaps;
        let room = width.saturating_sub(others).max(floor[last].max(24).min(natural[last]));
        widths[last] = widths[last].min(room);
    }
    loop {
        let total: usize = widths.iter().sum::<usize>() + gaps;
        if total <= width {
            break;
        }
        let Some((i, _)) = widths.iter().enumerate().filter(|(i, w)| **w > floor[*i]).max_by_key(|(_, w)| **w) else {
            break;
        };
        let widest = widths[i];
        // The next widest of those that may still give way.
        let second =
            widths.iter().enumerate().filter(|(j, w)| *j != i && **w > floor[*j]).map(|(_, w)| *w).max().unwrap_or(0);
        // Down to the next widest at once, or as far as the line needs.
        let step = (total - width).min(widest.saturating_sub(second.max(floor[i]))).max(1);
        widths[i] = widest.saturating_sub(step).max(floor[i]);
    }
    widths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_to_the_second_in_the_zone_asked_for() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(when_in("2026-12-01T14:04:05.123456Z", &berlin), "2026-12-01 15:04:05 CET");
        assert_eq!(when_in("2026-07-01T14:04:05.999999999Z", &berlin), "2026-07-01 16:04:05 CEST");
        assert_eq!(when_utc("2026-12-01T14:04:05.5Z"), "2026-12-01 14:04:05Z");
        assert_eq!(when_utc("never"), "never", "not a time: as it was");
    }

    #[test]
    fn a_time_typed_in_local_time_or_as_a_while_ago_is_sent_in_utc() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(time_input_in("2026-12-24T20:00:00Z", &berlin).unwrap(), "2026-12-24T20:00:00Z");
        assert_eq!(time_input_in("2026-12-24T20:00:00+01:00", &berlin).unwrap(), "2026-12-24T19:00:00Z");
        assert_eq!(time_input_in("2026-12-24 20:00", &berlin).unwrap(), "2026-12-24T19:00:00Z");
        assert_eq!(time_input_in("2026-07-01T20:00:30", &berlin).unwrap(), "2026-07-01T18:00:30Z");
        assert_eq!(time_input_in("2026-12-24", &berlin).unwrap(), "2026-12-23T23:00:00Z");
        assert!(time_input_in("tomorrow", &berlin).is_err());
        let now: Timestamp = "2026-12-04T10:00:00Z".parse().unwrap();
        assert_eq!(time_input_at("20m ago", &berlin, now).unwrap(), "2026-12-04T09:40:00Z");
        assert_eq!(time_input_at("-2h", &berlin, now).unwrap(), "2026-12-04T08:00:00Z");
        assert_eq!(time_input_at("1 day ago", &berlin, now).unwrap(), "2026-12-03T10:00:00Z");
        assert!(time_input_at("ages ago", &berlin, now).is_err());
        assert!(time_input_at("-5y", &berlin, now).is_err());
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis_to_the_width_given() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("abcdefghijkl", 5), "abcd…");
        assert_eq!(cut(&"é".repeat(20), 4).chars().count(), 4);
    }

    #[test]
    fn a_narrow_terminal_never_takes_a_column_below_its_floor() {
        // `muster pages` with ANSWERED BY still empty, at 40 to 60 columns.
        for width in [20, 40, 50, 60] {
            let got = fit(&[2, 12, 8, 23, 11, 40], &[2, 5, 8, 8, 11, 7], width);
            assert!(got.iter().zip([2, 5, 8, 8, 11, 7]).all(|(w, f)| *w >= f && *w <= 40), "{width}: {got:?}");
        }
        proptest::proptest!(|(natural in proptest::collection::vec(0usize..300, 1..8), width in 0usize..400)| {
            let headers: Vec<usize> = natural.iter().map(|n| n % 13).collect();
            let got = fit(&natural, &headers, width);
            for ((w, n), h) in got.iter().zip(&natural).zip(&headers) {
                proptest::prop_assert!(*w <= *n && *w >= (*n).min((*h).max(8)));
            }
        });
    }

    #[test]
    fn the_widest_column_gives_way_until_the_line_fits() {
        assert_eq!(fit(&[2, 5, 1000], &[2, 6, 7], 100), [2, 5, 89]);
        assert_eq!(fit(&[2, 50, 1000], &[2, 6, 7], 80), [2, 50, 24], "the text gives way first");
        assert_eq!(fit(&[2, 70, 1000], &[2, 6, 7], 80), [2, 50, 24], "then the widest");
        assert_eq!(fit(&[2, 5, 10], &[2, 6, 7], 100), [2, 5, 10], "what fits is left alone");
        let both = fit(&[300, 2, 300], &[4, 2, 4], 80);
        assert!(both.iter().sum::<usize>() + 4 <= 80, "{both:?}");
        assert_eq!(fit(&[40, 40], &[20, 20], 10), [20, 20], "never below a header");
    }
}
