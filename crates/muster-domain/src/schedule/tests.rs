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
    let spring = s.shifts(ts("2026-03-28T12:00:00Z"), ts("2026-03-30T12:00:00Z"));
    // 2026-03-29 02:00 CET → 03:00 CEST. 09:00 CET is 08:00Z, 09:00 CEST is 07:00Z.
    let hours: Vec<i64> = spring.iter().map(|s| (s.end.as_second() - s.start.as_second()) / 3600).collect();
    assert_eq!(spring[1].start, ts("2026-03-29T07:00:00Z"));
    assert_eq!(hours[1], 24, "the first full CEST day");
    assert_eq!(spring[0].start, ts("2026-03-28T12:00:00Z"));
    assert_eq!(spring[0].end, ts("2026-03-29T07:00:00Z"), "23 hours after 08:00Z the day before");

    let fall = s.shifts(ts("2026-10-24T07:00:00Z"), ts("2026-10-26T09:00:00Z"));
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
        let shifts = s.shifts(from, to);
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
        let shifts = s.shifts(start, end);
        prop_assert_eq!(shifts.len(), 1);
        prop_assert_eq!(shifts[0].user.as_str(), "zoe");
    }
}

#[test]
fn the_icalendar_feed_has_one_event_per_shift_in_utc() {
    let s = daily("Europe/Berlin", &["alice", "bob"]);
    let shifts: Vec<(String, Shift)> = s
        .shifts(ts("2026-03-23T08:00:00Z"), ts("2026-03-25T08:00:00Z"))
        .into_iter()
        .map(|sh| ("Primary, EU".to_owned(), sh))
        .collect();
    let ics = icalendar("On call; Primary", "schedule-1", &shifts, ts("2026-03-01T00:00:00Z"));
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
    assert!(ics.ends_with("END:VCALENDAR\r\n"));
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 2);
    assert!(ics.contains("DTSTART:20260323T080000Z\r\nDTEND:20260324T080000Z"));
    assert!(ics.contains("SUMMARY:On call: @bob (Primary\\, EU)"));
    assert!(ics.contains("X-WR-CALNAME:On call\\; Primary"));
}
