use proptest::prelude::*;

use super::*;

fn h(s: &str) -> Handle {
    Handle::parse(s).unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn daily(tz: &str, users: &[&str]) -> Schedule {
    Schedule {
        time_zone: time_zone(tz).unwrap(),
        layers: vec![Layer {
            rotation: Rotation {
                users: users.iter().map(|u| h(u)).collect(),
                shift: "1d".parse().unwrap(),
                handoff: "09:00".parse().unwrap(),
                start: "2026-03-23".parse().unwrap(),
            },
            restrict: vec![],
        }],
        overrides: vec![],
    }
}

#[test]
fn a_daily_rotation_hands_off_at_nine_local_time() {
    let s = daily("Europe/Berlin", &["alice", "bob"]);
    assert_eq!(s.on_call(ts("2026-03-23T07:59:59Z")), None, "before the first shift");
    assert_eq!(s.on_call(ts("2026-03-23T08:00:00Z")).unwrap().as_str(), "alice"); // 09:00 CET
    assert_eq!(s.on_call(ts("2026-03-24T07:59:59Z")).unwrap().as_str(), "alice");
    assert_eq!(s.on_call(ts("2026-03-24T08:00:00Z")).unwrap().as_str(), "bob");
}

#[test]
fn the_shift_across_spring_forward_is_23_hours_and_across_fall_back_25() {
    let s = daily("Europe/Berlin", &["alice", "bob", "carol"]);
    let spring = s.shifts(ts("2026-03-28T12:00:00Z"), ts("2026-03-30T12:00:00Z")).unwrap();
    // 2026-03-29 02:00 CET → 03:00 CEST. 09:00 CET is 08:00Z, 09:00 CEST is 07:00Z.
    let hours: Vec<i64> = spring.iter().map(|s| (s.end.as_second() - s.start.as_second()) / 3600).collect();
    assert_eq!(spring[1].start, ts("2026-03-29T07:00:00Z"));
    assert_eq!(hours[1], 24, "the first full CEST day");
    assert_eq!(spring[0].start, ts("2026-03-28T12:00:00Z"));
    assert_eq!(spring[0].end, ts("2026-03-29T07:00:00Z"), "23 hours after 08:00Z the day before");

    let fall = s.shifts(ts("2026-10-24T07:00:00Z"), ts("2026-10-26T09:00:00Z")).unwrap();
    let across = fall.iter().find(|s| s.start == ts("2026-10-24T07:00:00Z")).unwrap();
    assert_eq!(across.end, ts("2026-10-25T08:00:00Z"), "09:00 CEST to 09:00 CET is 25 hours");
}

#[test]
fn later_layers_win_inside_their_windows_and_overrides_win_over_all() {
    let mut s = daily("America/New_York", &["alice", "bob"]);
    s.layers.push(Layer {
        rotation: Rotation {
            users: vec![h("carol")],
            shift: "1w".parse().unwrap(),
            handoff: "00:00".parse().unwrap(),
            start: "2026-03-01".parse().unwrap(),
        },
        restrict: vec![Window {
            days: vec![Weekday::Saturday, Weekday::Sunday],
            start: "00:00".parse().unwrap(),
            end: "00:00".parse().unwrap(),
        }],
    });
    assert_eq!(s.on_call(ts("2026-04-04T18:00:00Z")).unwrap().as_str(), "carol", "a Saturday");
    assert_ne!(s.on_call(ts("2026-04-06T18:00:00Z")).unwrap().as_str(), "carol", "a Monday");
    s.overrides.push(Override {
        id: 1,
        user: h("dan"),
        start: ts("2026-04-04T00:00:00Z"),
        end: ts("2026-04-05T00:00:00Z"),
    });
    assert_eq!(s.on_call(ts("2026-04-04T18:00:00Z")).unwrap().as_str(), "dan");
}

#[test]
fn bad_shift_lengths_and_time_zones_are_refused() {
    for bad in ["", "1", "0d", "1y", "-1d", "d"] {
        assert!(bad.parse::<ShiftLength>().is_err(), "{bad:?}");
    }
    assert!(time_zone("Mars/Olympus").is_err());
    assert_eq!(time_zone("Europe/Berlin").unwrap().iana_name(), Some("Europe/Berlin"));
}

const ZONES: [&str; 6] =
    ["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC", "Asia/Kolkata", "America/Santiago"];
const SHIFTS: [&str; 7] = ["2h", "8h", "12h", "1d", "2d", "1w", "2w"];

fn rotation_schedule(zone: usize, users: usize, shift: usize, handoff_min: u32) -> Schedule {
    let names = ["alice", "bob", "carol", "dan", "erin"];
    Schedule {
        time_zone: time_zone(ZONES[zone]).unwrap(),
        layers: vec![Layer {
            rotation: Rotation {
                users: names[..users].iter().map(|u| h(u)).collect(),
                shift: SHIFTS[shift].parse().unwrap(),
                handoff: Time::new((handoff_min / 60) as i8, (handoff_min % 60) as i8, 0, 0).unwrap(),
                start: "2026-01-01".parse().unwrap(),
            },
            restrict: vec![],
        }],
        overrides: vec![],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Every instant after the start, through a year and a half of DST
    /// changes in both hemispheres, has exactly one person on call, and the
    /// shifts cover the span without gap or overlap, each the rotation's
    /// next person.
    #[test]
    fn a_rotation_has_exactly_one_person_on_call_at_every_instant(
        zone in 0..ZONES.len(), users in 1..=5usize, shift in 0..SHIFTS.len(), handoff in 0..1440u32,
        offset in 2 * 86_400i64..(540 * 86_400), span in 3600i64..(10 * 86_400),
    ) {
        let s = rotation_schedule(zone, users, shift, handoff);
        let from = Timestamp::from_second(ts("2026-01-01T00:00:00Z").as_second() + offset).unwrap();
        let to = Timestamp::from_second(from.as_second() + span).unwrap();
        prop_assert!(s.on_call(from).is_some());
        let shifts = s.shifts(from, to).unwrap();
        prop_assert_eq!(shifts[0].start, from);
        prop_assert_eq!(shifts.last().unwrap().end, to);
        for pair in shifts.windows(2) {
            prop_assert_eq!(pair[0].end, pair[1].start, "no gap, no overlap");
            if users > 1 {
                let rot = &s.layers[0].rotation.users;
                let i = rot.iter().position(|u| *u == pair[0].user).unwrap();
                prop_assert_eq!(&pair[1].user, &rot[(i + 1) % users], "the next person takes over");
            }
        }
        for shift in &shifts {
            let mid = Timestamp::from_second((shift.start.as_second() + shift.end.as_second()) / 2).unwrap();
            prop_assert_eq!(s.on_call(mid), Some(&shift.user));
            prop_assert_eq!(s.on_call(shift.start), Some(&shift.user));
        }
    }

    /// Inside an override's window its person is on call, whatever the layers say.
    #[test]
    fn an_override_always_wins_inside_its_window(
        zone in 0..ZONES.len(), users in 1..=5usize, shift in 0..SHIFTS.len(),
        offset in 0i64..(400 * 86_400), length in 60i64..(3 * 86_400), probe in 0.0f64..1.0,
    ) {
        let mut s = rotation_schedule(zone, users, shift, 540);
        let start = Timestamp::from_second(ts("2026-01-01T00:00:00Z").as_second() + offset).unwrap();
        let end = Timestamp::from_second(start.as_second() + length).unwrap();
        s.overrides.push(Override { id: 1, user: h("zoe"), start, end });
        let t = Timestamp::from_second(start.as_second() + (probe * length as f64) as i64).unwrap();
        prop_assert_eq!(s.on_call(t).map(|u| u.as_str()), Some("zoe"));
        let shifts = s.shifts(start, end).unwrap();
        prop_assert_eq!(shifts.len(), 1);
        prop_assert_eq!(shifts[0].user.as_str(), "zoe");
    }
}

fn feed_events(s: &Schedule, from: &str, to: &str, name: &str) -> Vec<FeedEvent> {
    s.shifts(ts(from), ts(to))
        .unwrap()
        .into_iter()
        .map(|shift| FeedEvent {
            schedule: 1,
            schedule_name: name.to_owned(),
            shift,
            revised: ts("2026-03-01T00:00:00Z"),
            revision: 2,
        })
        .collect()
}

#[test]
fn the_icalendar_feed_has_one_event_per_shift_in_utc() {
    let s = daily("Europe/Berlin", &["alice", "bob"]);
    let events = feed_events(&s, "2026-03-23T08:00:00Z", "2026-03-25T08:00:00Z", "Primary, EU");
    let ics = icalendar("On call; Primary", &events);
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
    assert!(ics.ends_with("END:VCALENDAR\r\n"));
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 2);
    assert!(ics.contains("DTSTART:20260323T080000Z\r\nDTEND:20260324T080000Z"));
    assert!(ics.contains("SUMMARY:On call: @bob (Primary\\, EU)"));
    assert!(ics.contains("X-WR-CALNAME:On call\\; Primary"));
    assert!(ics.contains("UID:schedule-1-alice-20260323T080000Z@muster\r\n"), "{ics}");
    assert!(ics.contains("DTSTAMP:20260301T000000Z\r\n") && ics.contains("SEQUENCE:2\r\n"), "{ics}");
}

#[test]
fn long_feed_lines_are_folded_at_75_octets_without_splitting_a_character() {
    let s = daily("Europe/Berlin", &["alice", "bob"]);
    let name = format!("{}\u{1F525}, ü\n\u{7}end", "é".repeat(60));
    let events = feed_events(&s, "2026-03-23T08:00:00Z", "2026-03-24T08:00:00Z", &name);
    let ics = icalendar(&name, &events);
    for line in ics.split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
    let unfolded = ics.replace("\r\n ", "");
    assert!(
        unfolded.contains(&format!("SUMMARY:On call: @alice ({}\u{1F525}\\, ü\\nend)", "é".repeat(60))),
        "{unfolded}"
    );
    assert!(!ics.contains('\u{7}'), "no control character in TEXT");
}

#[test]
fn a_feed_window_runs_30_days_back_to_180_ahead_and_sweeps_from_a_fixed_point() {
    let now = ts("2026-11-27T10:00:00Z");
    let w = FeedWindow::at(now);
    assert_eq!(w.from, ts("2026-10-28T10:00:00Z"));
    assert_eq!(w.to, ts("2027-05-26T10:00:00Z"));
    let back = w.from.duration_since(w.sweep_from).as_hours();
    assert!((24 * 30..24 * 60).contains(&back), "a whole grid step and part of one before the window: {back} h");
    let ahead = w.sweep_to.duration_since(w.to).as_hours();
    assert!((24 * 30..=24 * 60).contains(&ahead), "{ahead} h");
    let later = FeedWindow::at(ts("2026-11-28T17:00:00Z"));
    assert_eq!((later.sweep_from, later.sweep_to), (w.sweep_from, w.sweep_to), "a day later the sweep is the same");
}

#[test]
fn a_shift_begun_before_the_feed_window_keeps_its_real_start_from_fetch_to_fetch() {
    // The shift that spans the window's start is the same shift (same
    // start) whenever it is fetched, not one cut at the moment of fetching.
    let s = daily("Europe/Berlin", &["alice", "bob"]);
    let first = |now: &str| FeedWindow::at(ts(now)).shifts(&s).unwrap().remove(0);
    let a = first("2026-11-27T10:00:00Z");
    let b = first("2026-11-27T10:05:00Z");
    assert_eq!(a, b);
    assert!(a.start < FeedWindow::at(ts("2026-11-27T10:00:00Z")).from, "{a:?}");
}

#[test]
fn a_weekly_shift_keeps_its_start_and_uid_when_the_feed_grid_moves_on() {
    let mut s = daily("Europe/Berlin", &["alice", "bob", "carol"]);
    s.layers[0].rotation.shift = "1w".parse().unwrap();
    // Fetches an hour before and an hour after the window's start crosses a
    // point of the 30-day grid.
    let grid = 30 * 86_400;
    let point = (ts("2026-06-01T00:00:00Z").as_second().div_euclid(grid) + 1) * grid;
    let fetch = |offset: i64| FeedWindow::at(Timestamp::from_second(point + grid + offset).unwrap());
    let (before, after) = (fetch(-3_600), fetch(3_600));
    let (a, b) = (before.shifts(&s).unwrap(), after.shifts(&s).unwrap());
    for shift in b.iter().filter(|x| x.start < before.to) {
        assert!(a.contains(shift), "{shift:?} changed as the grid moved on: {:?}", &a[..2]);
    }
    assert!(b[0].start < after.from, "the first shift keeps its real start: {:?}", b[0]);
}

#[test]
fn a_shift_length_ending_in_a_non_ascii_character_is_refused_not_a_panic() {
    for bad in ["1é", "é", "12hé", "1\u{1F525}", "\u{0}"] {
        assert!(bad.parse::<ShiftLength>().is_err(), "{bad:?}");
    }
    assert_eq!("12h".parse::<ShiftLength>().unwrap(), ShiftLength::Hours(12));
}

fn rotation_from(start: &str, shift: &str) -> Schedule {
    Schedule {
        time_zone: time_zone("Pacific/Kiritimati").unwrap(),
        layers: vec![Layer {
            rotation: Rotation {
                users: vec![h("alice"), h("bob")],
                shift: shift.parse().unwrap(),
                handoff: "23:59".parse().unwrap(),
                start: start.parse().unwrap(),
            },
            restrict: vec![],
        }],
        overrides: vec![],
    }
}

#[test]
fn extreme_rotation_dates_with_long_shifts_are_answered_not_a_panic() {
    let (first, last) = (Timestamp::MIN, Timestamp::MAX);
    for start in ["-009999-01-01", "9999-12-31", "2026-01-01"] {
        for shift in ["52w", "366d", "168h", "1h"] {
            let s = rotation_from(start, shift);
            for t in [first, last, ts("2026-06-01T00:00:00Z")] {
                let _ = s.on_call(t);
            }
            let year = jiff::SignedDuration::from_hours(24 * 366);
            let _ = s.shifts(first, first.checked_add(year).unwrap());
            let _ = s.shifts(last.checked_sub(year).unwrap(), last);
        }
    }
    let s = rotation_from("-009998-01-01", "52w");
    assert!(s.on_call(ts("2026-06-01T00:00:00Z")).is_some(), "far from its start, still someone");
}

fn windows_layer(user: &str, windows: Vec<Window>) -> Layer {
    Layer {
        rotation: Rotation {
            users: vec![h(user)],
            shift: "1w".parse().unwrap(),
            handoff: "00:00".parse().unwrap(),
            start: "2026-01-01".parse().unwrap(),
        },
        restrict: windows,
    }
}

fn window(days: Vec<Weekday>, start: &str, end: &str) -> Window {
    Window { days, start: start.parse().unwrap(), end: end.parse().unwrap() }
}

#[test]
fn a_schedule_with_too_many_layers_or_windows_is_refused() {
    let many = |n| (0..n).map(|_| windows_layer("alice", vec![])).collect::<Vec<_>>();
    assert!(check_size(&many(MAX_LAYERS)).is_ok());
    let e = check_size(&many(MAX_LAYERS + 1)).unwrap_err();
    assert!(matches!(&e, DomainError::Invalid { field, .. } if field == "layers"), "{e:?}");

    // The schedule: one window a minute, all day long.
    let minutes: Vec<Window> = (0..1441)
        .map(|m: i32| {
            let t = Time::new((m % 1440 / 60) as i8, (m % 60) as i8, 0, 0).unwrap();
            Window { days: vec![], start: t, end: t }
        })
        .collect();
    let e = check_size(&[windows_layer("alice", minutes)]).unwrap_err();
    assert!(
        matches!(&e, DomainError::Invalid { field, message } if field == "layers[0].restrict" && message.contains("1441")),
        "{e:?}"
    );
    let split = vec![
        windows_layer("alice", vec![window(vec![], "09:00", "17:00"); MAX_WINDOWS - 1]),
        windows_layer("bob", vec![window(vec![], "09:00", "17:00"); 2]),
    ];
    let e = check_size(&split).unwrap_err();
    assert!(matches!(&e, DomainError::Invalid { field, .. } if field == "layers[1].restrict"), "{e:?}");
    let crowd = vec![Layer {
        rotation: Rotation { users: vec![h("alice"); MAX_ROTATION_USERS + 1], ..windows_layer("a", vec![]).rotation },
        restrict: vec![],
    }];
    assert!(check_size(&crowd).is_err());
}

#[test]
fn a_span_needing_more_steps_than_the_budget_is_refused_not_computed() {
    // Twenty layers of fifty short windows each: 2,000 edges a day.
    let layers: Vec<Layer> = (0..20)
        .map(|l| {
            let windows = (0..50)
                .map(|w| {
                    let start = Time::new((w % 24) as i8, (l + w) as i8 % 60, 0, 0).unwrap();
                    let end = Time::new((w % 24) as i8, ((l + w) % 60) as i8, 30, 0).unwrap();
                    Window { days: vec![], start, end }
                })
                .collect();
            windows_layer(["alice", "bob", "carol", "dan"][l % 4], windows)
        })
        .collect();
    let s = Schedule { time_zone: time_zone("Europe/Berlin").unwrap(), layers, overrides: vec![] };
    let from = ts("2026-01-01T00:00:00Z");
    let e = s.shifts(from, ts("2027-01-01T00:00:00Z")).unwrap_err();
    assert!(matches!(&e, DomainError::Invalid { field, .. } if field == "to"), "{e:?}");
    assert!(s.shifts(from, ts("2026-01-02T00:00:00Z")).is_ok(), "a day of it is fine");
}

fn any_window() -> impl Strategy<Value = Window> {
    let days = prop::collection::vec(0..7usize, 0..3).prop_map(|ds| {
        let all = [
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
            Weekday::Saturday,
            Weekday::Sunday,
        ];
        ds.into_iter().map(|d| all[d]).collect::<Vec<_>>()
    });
    // Quarter hours, so windows meet the clock changes at 02:00 and 03:00.
    (days, 0..96i32, 0..96i32).prop_map(|(days, a, b)| Window {
        days,
        start: Time::new((a / 4) as i8, (a % 4 * 15) as i8, 0, 0).unwrap(),
        end: Time::new((b / 4) as i8, (b % 4 * 15) as i8, 0, 0).unwrap(),
    })
}

fn any_layer() -> impl Strategy<Value = Layer> {
    (1..=3usize, 0..SHIFTS.len(), 0..96u32, prop::collection::vec(any_window(), 0..4)).prop_map(
        |(users, shift, handoff, restrict)| {
            let names = ["alice", "bob", "carol"];
            Layer {
                rotation: Rotation {
                    users: names[..users].iter().map(|u| h(u)).collect(),
                    shift: SHIFTS[shift].parse().unwrap(),
                    handoff: Time::new((handoff / 4) as i8, (handoff % 4 * 15) as i8, 0, 0).unwrap(),
                    start: "2026-03-20".parse().unwrap(),
                },
                restrict,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// The sweep that lists shifts says what `on_call` says at every
    /// minute, across the clock changes of both hemispheres, with layers
    /// restricted by any windows and an override: no change is missed, and
    /// two shifts that touch are not the same person's.
    #[test]
    fn the_shifts_agree_with_who_is_on_call_at_every_minute(
        zone in 0..ZONES.len(), layers in prop::collection::vec(any_layer(), 1..4),
        start in prop::sample::select(vec!["2026-03-27T12:00:00Z", "2026-04-03T12:00:00Z", "2026-10-23T12:00:00Z", "2026-09-04T12:00:00Z"]),
        span_hours in 1i64..(4 * 24), override_at in 0i64..(4 * 24 * 60), override_minutes in 0i64..600,
    ) {
        let from = ts(start);
        let to = Timestamp::from_second(from.as_second() + span_hours * 3600).unwrap();
        let o_start = Timestamp::from_second(from.as_second() + override_at * 60).unwrap();
        let o_end = Timestamp::from_second(o_start.as_second() + override_minutes * 60).unwrap();
        let overrides = if override_minutes > 0 { vec![Override { id: 1, user: h("zoe"), start: o_start, end: o_end }] } else { vec![] };
        let s = Schedule { time_zone: time_zone(ZONES[zone]).unwrap(), layers, overrides };
        let shifts = s.shifts(from, to).unwrap();
        for pair in shifts.windows(2) {
            prop_assert!(pair[0].end <= pair[1].start);
            prop_assert!(pair[0].end < pair[1].start || pair[0].user != pair[1].user, "touching shifts merged");
        }
        let mut t = from;
        while t < to {
            let listed = shifts.iter().find(|sh| sh.start <= t && t < sh.end).map(|sh| &sh.user);
            prop_assert_eq!(listed, s.on_call(t), "at {}", t);
            t = Timestamp::from_second(t.as_second() + 60).unwrap();
        }
    }
}

#[test]
fn a_rotation_listing_someone_twice_is_refused_naming_the_rotation() {
    let s = daily("Europe/Berlin", &["alice", "bob", "alice"]);
    let today = "2026-03-20".parse().unwrap();
    let e = check_rotations(&s.layers, today).unwrap_err();
    assert!(e.to_string().starts_with("layers[0].rotation.users: @alice is in this rotation twice"), "{e}");
    assert_eq!(
        check_rotations(&daily("Europe/Berlin", &["alice", "bob"]).layers, today).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn a_rotation_starting_far_ahead_is_accepted_with_a_warning() {
    let mut s = daily("Europe/Berlin", &["alice", "bob"]);
    s.layers[0].rotation.start = "2030-01-01".parse().unwrap();
    let warnings = check_rotations(&s.layers, "2026-03-20".parse().unwrap()).unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with("layers[0].rotation.start: the rotation starts on 2030-01-01, 1383 days"),
        "{warnings:?}"
    );
    s.layers[0].rotation.start = "2026-04-20".parse().unwrap();
    assert!(check_rotations(&s.layers, "2026-03-20".parse().unwrap()).unwrap().is_empty(), "a month ahead is fine");
}
