//! Paths ↔ partitions: `data/{tenant_id}/{YYYY-MM-DD}/{uuidv7}.parquet`, the layout Athena's
//! projection template (`storage.location.template = …/data/${tenant_id}/${event_date}/`) reads.

use chrono::NaiveDate;
use object_store::path::Path;

use super::Lake;

/// Top directory of the partitions, under the lake root.
pub const DATA_DIR: &str = "data";

/// `data/`
pub fn data_prefix(lake: &Lake) -> Path {
    lake.path(DATA_DIR)
}

/// `data/{tenant}/`
pub fn tenant_prefix(lake: &Lake, tenant: &str) -> Path {
    lake.path(&format!("{DATA_DIR}/{tenant}"))
}

/// `data/{tenant}/{date}/`
pub fn partition_prefix(lake: &Lake, tenant: &str, date: NaiveDate) -> Path {
    lake.path(&format!("{DATA_DIR}/{tenant}/{}", date.format("%Y-%m-%d")))
}

/// A new file name in a partition: a UUIDv7, so names sort roughly by write time (as Teleport's).
pub fn new_file_path(lake: &Lake, tenant: &str, date: NaiveDate) -> Path {
    let id = uuid::Uuid::now_v7();
    lake.path(&format!(
        "{DATA_DIR}/{tenant}/{}/{id}.parquet",
        date.format("%Y-%m-%d")
    ))
}

/// Can this date name a partition directory: a four-digit year, so `YYYY-MM-DD` is exactly ten
/// characters and `parse_date` (every reader's listing) reads it back?
pub fn is_partition_date(date: NaiveDate) -> bool {
    use chrono::Datelike;
    (0..=9999).contains(&date.year())
}

/// Parses a partition date directory name.
pub fn parse_date(segment: &str) -> Option<NaiveDate> {
    if segment.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(segment, "%Y-%m-%d").ok()
}

/// Is this object a data file of the lake (not a temporary or foreign file)?
pub fn is_data_file(path: &Path) -> bool {
    path.filename()
        .is_some_and(|f| f.ends_with(".parquet") && !f.starts_with('.') && !f.starts_with('_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_cannot_escape() {
        assert!(crate::tenant::valid("acme"));
        assert!(crate::tenant::valid("acme-prod_2.eu"));
        for bad in ["", "..", ".", "a/b", "a b", "ü", "a\\b"] {
            assert!(!crate::tenant::valid(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(
            parse_date("2024-03-20"),
            NaiveDate::from_ymd_opt(2024, 3, 20)
        );
        assert_eq!(parse_date("2024-3-20"), None);
        assert_eq!(parse_date("2024-02-30"), None);
        assert_eq!(parse_date("tmp"), None);
    }

    #[test]
    fn partition_dates_round_trip() {
        for (y, ok) in [
            (1970, true),
            (9999, true),
            (10000, false),
            (-2, false),
            (0, true),
        ] {
            let d = NaiveDate::from_ymd_opt(y, 1, 1).unwrap();
            assert_eq!(is_partition_date(d), ok, "{y}");
            if ok {
                let seg = d.format("%Y-%m-%d").to_string();
                assert_eq!(parse_date(&seg), Some(d), "{seg}");
            }
        }
    }

    #[test]
    fn data_files_only() {
        assert!(is_data_file(&Path::from("data/a/2024-01-01/0190.parquet")));
        assert!(!is_data_file(&Path::from(
            "data/a/2024-01-01/0190.parquet#1"
        )));
        assert!(!is_data_file(&Path::from("data/a/2024-01-01/_tmp.parquet")));
    }
}
