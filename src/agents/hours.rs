//! Business hours: a weekly schedule in an IANA time zone (daylight saving included) and
//! holidays, on which the line is closed all day. A number with hours runs its after-hours action
//! when [`BusinessHours::is_open`] says no.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Invalid;

/// The days of `weekly`, as written.
const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

/// See the module documentation. Example:
/// `{"time_zone": "America/New_York", "weekly": {"mon": [["09:00", "17:00"]]}, "holidays": ["2026-12-25"]}`
/// (a day not listed is closed; `"24:00"` ends a day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    pub time_zone: String,
    /// Opening intervals per day (`mon` … `sun`): `[["09:00", "12:30"], ["13:30", "17:00"]]`.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub weekly: BTreeMap<String, Vec<[String; 2]>>,
    /// Dates (`YYYY-MM-DD`, in the time zone) on which the line is closed.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// Minutes since midnight of `HH:MM` (`24:00` is 1440).
fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

impl BusinessHours {
    pub fn validate(&self, field: &str) -> Result<(), Invalid> {
        self.time_zone.parse::<Tz>().map_err(|_| {
            Invalid::new(
                format!("{field}.time_zone"),
                "is not an IANA time zone (e.g. America/New_York)",
            )
        })?;
        for (day, intervals) in &self.weekly {
            if !DAYS.iter().any(|(name, _)| name == day) {
                return Err(Invalid::new(
                    format!("{field}.weekly.{day}"),
                    "is not a day (mon tue wed thu fri sat sun)",
                ));
            }
            let mut last_end = 0;
            for (i, [open, close]) in intervals.iter().enumerate() {
                let at = format!("{field}.weekly.{day}[{i}]");
                let (Some(open), Some(close)) = (minutes(open), minutes(close)) else {
                    return Err(Invalid::new(at, "times are HH:MM (00:00 to 24:00)"));
                };
                if open >= close || open < last_end {
                    return Err(Invalid::new(
                        at,
                        "intervals open before they close, in order, without overlapping",
                    ));
                }
                last_end = close;
            }
        }
        for (i, day) in self.holidays.iter().enumerate() {
            if NaiveDate::parse_from_str(day, "%Y-%m-%d").is_err() {
                return Err(Invalid::new(
                    format!("{field}.holidays[{i}]"),
                    "is not a date (YYYY-MM-DD)",
                ));
            }
        }
        Ok(())
    }

    /// Whether the line is open at `at` (a definition that does not validate is closed).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let Ok(tz) = self.time_zone.parse::<Tz>() else {
            return false;
        };
        let local = at.with_timezone(&tz);
        let date = local.date_naive().format("%Y-%m-%d").to_string();
        if self.holidays.contains(&date) {
            return false;
        }
        let Some((day, _)) = DAYS.iter().find(|(_, w)| *w == local.weekday()) else {
            return false;
        };
        let now = local.time();
        let now = now.hour() * 60 + now.minute();
        self.weekly.get(*day).is_some_and(|intervals| {
            intervals.iter().any(|[open, close]| {
                matches!((minutes(open), minutes(close)), (Some(o), Some(c)) if o <= now && now < c)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn weekdays_9_to_5() -> BusinessHours {
        serde_json::from_value(serde_json::json!({
            "time_zone": "America/New_York",
            "weekly": {
                "mon": [["09:00", "12:00"], ["13:00", "17:00"]],
                "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
                "thu": [["09:00", "17:00"]], "fri": [["09:00", "24:00"]]
            },
            "holidays": ["2026-12-25"]
        }))
        .unwrap()
    }

    #[test]
    fn open_in_the_schedule_of_the_time_zone_closed_on_holidays() {
        let hours = weekdays_9_to_5();
        hours.validate("hours").unwrap();
        let ny = |y, mo, d, h, mi| {
            chrono_tz::America::New_York
                .with_ymd_and_hms(y, mo, d, h, mi, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        // Monday 7 December 2026.
        assert!(hours.is_open(ny(2026, 12, 7, 9, 0)));
        assert!(!hours.is_open(ny(2026, 12, 7, 12, 30)), "lunch");
        assert!(!hours.is_open(ny(2026, 12, 7, 17, 0)), "closing time");
        assert!(!hours.is_open(ny(2026, 12, 7, 8, 59)));
        assert!(
            hours.is_open(ny(2026, 12, 11, 23, 59)),
            "Friday to midnight"
        );
        assert!(!hours.is_open(ny(2026, 12, 12, 10, 0)), "Saturday");
        assert!(
            !hours.is_open(ny(2026, 12, 25, 10, 0)),
            "Christmas, a Friday"
        );
        // 14:30 UTC is 09:30 in New York in winter (UTC-5), 10:30 in summer (UTC-4).
        assert!(hours.is_open(Utc.with_ymd_and_hms(2026, 12, 7, 14, 30, 0).unwrap()));
        assert!(!hours.is_open(Utc.with_ymd_and_hms(2026, 12, 7, 13, 30, 0).unwrap()));
        assert!(hours.is_open(Utc.with_ymd_and_hms(2026, 7, 6, 13, 30, 0).unwrap()));
    }

    #[test]
    fn bad_schedules_name_the_field() {
        let mut hours = weekdays_9_to_5();
        hours.time_zone = "Mars/Olympus".into();
        assert_eq!(
            hours.validate("hours").unwrap_err().field,
            "hours.time_zone"
        );
        let mut hours = weekdays_9_to_5();
        hours.weekly.insert("funday".into(), vec![]);
        assert_eq!(
            hours.validate("hours").unwrap_err().field,
            "hours.weekly.funday"
        );
        let mut hours = weekdays_9_to_5();
        hours
            .weekly
            .insert("sat".into(), vec![["10:00".into(), "09:00".into()]]);
        assert_eq!(
            hours.validate("hours").unwrap_err().field,
            "hours.weekly.sat[0]"
        );
        let mut hours = weekdays_9_to_5();
        hours
            .weekly
            .insert("sun".into(), vec![["9:00".into(), "25:00".into()]]);
        assert!(hours.validate("hours").is_err());
        let mut hours = weekdays_9_to_5();
        hours.holidays.push("next tuesday".into());
        assert_eq!(
            hours.validate("hours").unwrap_err().field,
            "hours.holidays[1]"
        );
    }
}
