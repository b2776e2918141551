//! Which server a logical dump came from, read from the dump itself (a file from anywhere
//! has no manifest), and whether an older server may load it. Logical dumps go into the same
//! or a newer version, never an older one: pg_restore refuses a newer archive format
//! ("unsupported version (1.16) in file header") and PostgreSQL does not promise that an
//! older server loads what a newer pg_dump writes; an older MariaDB fails on what it lacks
//! (11.8's VECTOR type in 10.11: "Unknown data type") half-way through a load that has
//! already dropped the database.

/// The versions a dump names: the server it was taken from and the pg_dump that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpOrigin {
    /// `17.2 (Debian 17.2-1)`, as the server reported it.
    pub server: String,
    /// The pg_dump version, when the dump says.
    pub pg_dump: Option<String>,
}

impl DumpOrigin {
    /// The newest major version the dump needs: pg_dump's, which is never older than the
    /// server's (pg_dump refuses newer servers), else the server's.
    pub fn needs(&self) -> Option<Major> {
        let server = Major::parse(&self.server);
        let tool = self.pg_dump.as_deref().and_then(Major::parse);
        server.max(tool)
    }
}

/// A PostgreSQL major version: `17` from `17.2 (Debian …)`; before 10 the first two numbers
/// (`9.6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Major(u32, u32);

impl Major {
    pub fn parse(version: &str) -> Option<Major> {
        let mut numbers = version
            .split(|c: char| !c.is_ascii_digit())
            .take_while(|n| !n.is_empty())
            .map(|n| n.parse::<u32>().ok());
        let first = numbers.next()??;
        if first >= 10 {
            return Some(Major(first, 0));
        }
        Some(Major(first, numbers.next().flatten().unwrap_or(0)))
    }
}

impl std::fmt::Display for Major {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Major(m, _) if *m >= 10 => write!(f, "{m}"),
            Major(m, n) => write!(f, "{m}.{n}"),
        }
    }
}

/// The header of a custom-format dump (`pg_dump -Fc`): `PGDMP`, the archive version, sizes,
/// the compression, the creation time, then the database name, the server's version and
/// pg_dump's, as length-prefixed strings. `None` when `head` is too short or not one.
pub fn pg_custom(head: &[u8]) -> Option<DumpOrigin> {
    let mut r = Header {
        bytes: head.strip_prefix(b"PGDMP")?,
        int_size: 0,
    };
    let (major, minor, _rev) = (r.byte()?, r.byte()?, r.byte()?);
    let version = (major, minor);
    // The name and versions follow from archive version 1.10 (PostgreSQL 8.4) on.
    if version < (1, 10) {
        return None;
    }
    r.int_size = usize::from(r.byte()?);
    let _offset_size = r.byte()?;
    let _format = r.byte()?;
    // 1.15 (PostgreSQL 16) stores the compression as one byte, before it as an int.
    if version >= (1, 15) {
        r.byte()?;
    } else {
        r.int()?;
    }
    for _ in 0..7 {
        r.int()?; // sec, min, hour, mday, mon, year, isdst
    }
    let _database = r.string()?;
    let server = r.string()??;
    let pg_dump = r.string()?;
    Some(DumpOrigin { server, pg_dump })
}

/// The comment lines of a plain SQL dump: `-- Dumped from database version 17.2 (…)` and
/// `-- Dumped by pg_dump version 17.2 (…)`.
pub fn pg_sql(head: &[u8]) -> Option<DumpOrigin> {
    let text = String::from_utf8_lossy(head);
    let find = |prefix: &str| {
        text.lines()
            .take(40)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
    };
    Some(DumpOrigin {
        server: find("-- Dumped from database version ")?,
        pg_dump: find("-- Dumped by pg_dump version "),
    })
}

/// The server line of a `mariadb-dump`/`mysqldump` header:
/// `-- Server version\t11.8.2-MariaDB-ubu2404`.
pub fn mysql_sql(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    text.lines()
        .take(40)
        .find_map(|l| l.strip_prefix("-- Server version"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A MariaDB or MySQL release series: `11.8` of `11.8.2-MariaDB-ubu2404`, `8.0` of `8.0.36`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Series {
    pub mariadb: bool,
    pub major: u32,
    pub minor: u32,
}

impl Series {
    pub fn parse(version: &str) -> Option<Series> {
        let mut numbers = version
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().ok());
        Some(Series {
            mariadb: version.contains("MariaDB"),
            major: numbers.next()??,
            minor: numbers.next()??,
        })
    }

    /// `MariaDB` or `MySQL`.
    pub fn product(self) -> &'static str {
        if self.mariadb { "MariaDB" } else { "MySQL" }
    }

    /// Whether a dump of `self` is of a newer series than a server of `target` runs (a
    /// MySQL dump and a MariaDB server, or the other way round, are not compared).
    pub fn newer_than(self, target: Series) -> bool {
        self.mariadb == target.mariadb && (self.major, self.minor) > (target.major, target.minor)
    }
}

impl std::fmt::Display for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Reads pg_dump's archive header fields.
struct Header<'a> {
    bytes: &'a [u8],
    int_size: usize,
}

impl Header<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(*b)
    }

    /// A sign byte, then `int_size` bytes, least significant first.
    fn int(&mut self) -> Option<i64> {
        let negative = self.byte()? != 0;
        if self.int_size == 0 || self.int_size > 8 || self.bytes.len() < self.int_size {
            return None;
        }
        let (digits, rest) = self.bytes.split_at(self.int_size);
        self.bytes = rest;
        let value = digits
            .iter()
            .rev()
            .fold(0i64, |acc, b| (acc << 8) | i64::from(*b));
        Some(if negative { -value } else { value })
    }

    /// A length (an int; -1 for none), then that many bytes.
    fn string(&mut self) -> Option<Option<String>> {
        let len = self.int()?;
        if len < 0 {
            return Some(None);
        }
        let len = usize::try_from(len).ok()?;
        if self.bytes.len() < len {
            return None;
        }
        let (text, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Some(Some(String::from_utf8_lossy(text).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(value: i64) -> Vec<u8> {
        let mut v = vec![u8::from(value < 0)];
        v.extend_from_slice(&(value.unsigned_abs() as u32).to_le_bytes());
        v
    }

    fn string(text: &str) -> Vec<u8> {
        let mut v = int(text.len() as i64);
        v.extend_from_slice(text.as_bytes());
        v
    }

    fn header(minor: u8, server: &str, pg_dump: &str) -> Vec<u8> {
        let mut h = b"PGDMP".to_vec();
        h.extend_from_slice(&[1, minor, 0, 4, 8, 1]);
        if minor >= 15 {
            h.push(1);
        } else {
            h.extend(int(-1));
        }
        for t in [37, 0, 18, 30, 10, 126, 0] {
            h.extend(int(t));
        }
        h.extend(string("postgres"));
        h.extend(string(server));
        h.extend(string(pg_dump));
        h.extend_from_slice(b"\x00\x00rest of the archive");
        h
    }

    #[test]
    fn reads_the_versions_of_custom_format_headers() {
        // As PostgreSQL 15 (archive 1.14) and 17 (1.16) write them.
        let old = pg_custom(&header(14, "15.20 (Debian 15.20-0+deb12u1)", "15.20")).expect("1.14");
        assert_eq!(old.server, "15.20 (Debian 15.20-0+deb12u1)");
        assert_eq!(old.needs(), Some(Major(15, 0)));
        let new = pg_custom(&header(16, "17.12", "17.12 (Debian)")).expect("1.16");
        assert_eq!(new.pg_dump.as_deref(), Some("17.12 (Debian)"));
        assert_eq!(new.needs(), Some(Major(17, 0)));
        // pg_dump 17 of a 15 server still needs 17.
        let mixed = pg_custom(&header(16, "15.4", "17.0")).expect("mixed");
        assert_eq!(mixed.needs(), Some(Major(17, 0)));
        let whole = header(16, "17.12", "17.12");
        assert_eq!(pg_custom(&whole[..40]), None);
        assert_eq!(pg_custom(b"REDIS0011"), None);
    }

    #[test]
    fn reads_the_versions_of_plain_dumps_and_orders_majors() {
        let sql = b"--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 16.4\n-- Dumped by pg_dump version 17.2 (Debian 17.2-1)\n\nSET x = 0;\n";
        let origin = pg_sql(sql).expect("header");
        assert_eq!(origin.server, "16.4");
        assert_eq!(origin.needs(), Some(Major(17, 0)));
        assert_eq!(pg_sql(b"CREATE TABLE t (x int);\n"), None);
        assert!(Major::parse("9.6.24").expect("9.6") < Major::parse("10.1").expect("10"));
        assert_eq!(Major::parse("15.20 (Debian)"), Some(Major(15, 0)));
        assert_eq!(Major::parse("9.6.3").expect("9.6").to_string(), "9.6");
        assert_eq!(Major::parse("devel"), None);
    }

    #[test]
    fn reads_the_server_of_mariadb_dumps_and_compares_series() {
        let dump = b"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.20-11.8.9-MariaDB, for debian-linux-gnu (x86_64)\n--\n-- Host: localhost    Database: shop\n-- ------------------------------------------------------\n-- Server version\t11.8.9-MariaDB-0+deb13u1 from Debian\n";
        let server = mysql_sql(dump).expect("server line");
        assert_eq!(server, "11.8.9-MariaDB-0+deb13u1 from Debian");
        let new = Series::parse(&server).expect("11.8");
        let old = Series::parse("10.11.19-MariaDB-0+deb12u1").expect("10.11");
        assert_eq!((new.to_string(), new.product()), ("11.8".into(), "MariaDB"));
        assert!(new.newer_than(old));
        assert!(!old.newer_than(new));
        assert!(!old.newer_than(Series::parse("10.11.6-MariaDB").expect("same series")));
        let mysql = Series::parse("8.4.1").expect("mysql");
        assert_eq!(mysql.product(), "MySQL");
        assert!(!new.newer_than(mysql) && !mysql.newer_than(old));
        assert_eq!(mysql_sql(b"CREATE TABLE t (x INT);\n"), None);
    }
}
