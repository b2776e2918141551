//! Backup file formats: telling them apart by their first bytes (files from other tools
//! come without a manifest), and checking on the host, in one streaming pass, that a file is
//! whole: its sha256, and its structure (the zstd or gzip stream to its end, the tar index,
//! the RDB header and CRC-64 trailer, the custom-format dump's header).

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::kind::Kind;

/// How a backup file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `pg_dump -Fc`: PostgreSQL's custom format (compressed by pg_dump).
    PgCustom,
    /// Plain SQL text (`pg_dump` without `-Fc`, `mysqldump`, exports of other tools).
    Sql,
    SqlGz,
    SqlZst,
    /// A Redis RDB snapshot.
    Rdb,
    /// A zstd-compressed tar of volumes.
    TarZst,
}

impl Format {
    /// The file name extension devtui gives it.
    pub fn extension(self) -> &'static str {
        match self {
            Format::PgCustom => "dump",
            Format::Sql => "sql",
            Format::SqlGz => "sql.gz",
            Format::SqlZst => "sql.zst",
            Format::Rdb => "rdb",
            Format::TarZst => "tar.zst",
        }
    }

    /// In words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Format::PgCustom => "a PostgreSQL custom-format dump",
            Format::Sql => "a plain SQL file",
            Format::SqlGz => "a gzip-compressed SQL file",
            Format::SqlZst => "a zstd-compressed SQL file",
            Format::Rdb => "a Redis RDB snapshot",
            Format::TarZst => "a tar of volumes",
        }
    }

    /// Whether a service of `kind` can be restored from it.
    pub fn fits(self, kind: Kind) -> bool {
        match self {
            Format::PgCustom => kind == Kind::Postgres,
            Format::Sql | Format::SqlGz | Format::SqlZst => {
                matches!(kind, Kind::Postgres | Kind::Mysql)
            }
            Format::Rdb => kind == Kind::Redis,
            Format::TarZst => kind == Kind::Volume,
        }
    }

    fn is_sql(self) -> bool {
        matches!(self, Format::Sql | Format::SqlGz | Format::SqlZst)
    }
}

const PG_MAGIC: &[u8] = b"PGDMP";
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const RDB_MAGIC: &[u8] = b"REDIS";
/// How much of a SQL file is read to tell whose dump it is.
const SQL_HEAD: usize = 64 * 1024;

/// The format of the file at `path`, from its first bytes; `None` for what is none of them
/// (a binary file that is not a backup).
pub fn sniff(path: &Path) -> io::Result<Option<Format>> {
    let mut head = Vec::with_capacity(512);
    File::open(path)?.take(512).read_to_end(&mut head)?;
    Ok(sniff_bytes(&head, path))
}

fn sniff_bytes(head: &[u8], path: &Path) -> Option<Format> {
    let name = path.to_string_lossy();
    if head.starts_with(PG_MAGIC) {
        Some(Format::PgCustom)
    } else if head.starts_with(RDB_MAGIC) {
        Some(Format::Rdb)
    } else if head.starts_with(ZSTD_MAGIC) {
        // devtui's own volume backups end in .tar.zst; a zstd stream is SQL otherwise.
        Some(if name.ends_with(".tar.zst") {
            Format::TarZst
        } else {
            Format::SqlZst
        })
    } else if head.starts_with(GZIP_MAGIC) {
        Some(Format::SqlGz)
    } else if !head.contains(&0) {
        Some(Format::Sql)
    } else {
        None
    }
}

/// Whose SQL this is, from its first lines: the dump headers and statements only one of the
/// two servers understands. `None`: it does not say (loaded as it is).
pub fn sql_dialect(head: &[u8]) -> Option<Kind> {
    let text = String::from_utf8_lossy(head);
    let mysql = [
        "-- MySQL dump",
        "-- MariaDB dump",
        "/*!40101 SET",
        "/*M!999999",
        "ENGINE=InnoDB",
        "LOCK TABLES `",
    ];
    let postgres = [
        "-- PostgreSQL database dump",
        "SET statement_timeout",
        "pg_catalog.set_config",
        "\\connect ",
        "COPY public.",
    ];
    if mysql.iter().any(|m| text.contains(m)) {
        Some(Kind::Mysql)
    } else if postgres.iter().any(|m| text.contains(m)) {
        Some(Kind::Postgres)
    } else {
        None
    }
}

/// What a whole-file check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub sha256: String,
    pub size: u64,
    /// What was checked besides the hash, in words.
    pub structure: String,
    /// For SQL: whose dump it is, when it says.
    pub dialect: Option<Kind>,
    /// For SQL: its first bytes (decompressed), to decide how it is loaded.
    pub head: Vec<u8>,
}

/// Reads the whole file once: its sha256 and, as `format` has it, its structure. `Err` says
/// in words what is wrong.
pub fn check(path: &Path, format: Format) -> Result<Checked, String> {
    let file = File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let size = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?
        .len();
    let mut reader = HashReader::new(BufReader::with_capacity(256 * 1024, file));
    let mut head = Vec::new();
    let structure = match format {
        Format::PgCustom => {
            let mut magic = [0u8; 5];
            reader
                .read_exact(&mut magic)
                .map_err(|_| "it is empty or truncated".to_string())?;
            if magic != PG_MAGIC {
                return Err("it has no PostgreSQL custom-format header".into());
            }
            drain(&mut reader)?;
            "custom-format header".to_string()
        }
        Format::Sql => {
            let n = read_head(&mut reader, &mut head)?;
            if head.contains(&0) {
                return Err("it is not text (a NUL byte in its first lines)".into());
            }
            drain(&mut reader)?;
            format!(
                "plain text ({})",
                crate::ops::backup::human_bytes(size.max(n))
            )
        }
        Format::SqlGz => {
            let mut decoder = flate2::read::MultiGzDecoder::new(&mut reader);
            read_head(&mut decoder, &mut head).map_err(|e| format!("gzip stream: {e}"))?;
            let rest = drain(&mut decoder).map_err(|e| format!("gzip stream: {e}"))?;
            format!(
                "gzip stream whole ({} of SQL)",
                crate::ops::backup::human_bytes(head.len() as u64 + rest)
            )
        }
        Format::SqlZst | Format::TarZst => {
            let mut decoder = zstd::stream::read::Decoder::new(&mut reader)
                .map_err(|e| format!("zstd stream: {e}"))?;
            if format == Format::SqlZst {
                read_head(&mut decoder, &mut head).map_err(|e| format!("zstd stream: {e}"))?;
                let rest = drain(&mut decoder).map_err(|e| format!("zstd stream: {e}"))?;
                format!(
                    "zstd stream whole ({} of SQL)",
                    crate::ops::backup::human_bytes(head.len() as u64 + rest)
                )
            } else {
                let mut archive = tar::Archive::new(decoder);
                let mut entries = 0u64;
                for entry in archive.entries().map_err(|e| format!("tar index: {e}"))? {
                    let mut entry = entry.map_err(|e| format!("tar index: {e}"))?;
                    io::copy(&mut entry, &mut io::sink()).map_err(|e| format!("tar entry: {e}"))?;
                    entries += 1;
                }
                // The archive's end: anything after it is read so the hash covers the file.
                let mut rest = archive.into_inner();
                drain(&mut rest).map_err(|e| format!("zstd stream: {e}"))?;
                format!("zstd stream and tar index whole ({entries} entries)")
            }
        }
        Format::Rdb => check_rdb(&mut reader, size)?,
    };
    // What a decoder left unread still counts for the hash.
    drain(&mut reader)?;
    let dialect = format.is_sql().then(|| sql_dialect(&head)).flatten();
    Ok(Checked {
        sha256: reader.hex(),
        size,
        structure,
        dialect,
        head,
    })
}

/// The RDB header (`REDIS` and a version), then, from version 5, the CRC-64 of everything
/// before the 8-byte trailer.
fn check_rdb(reader: &mut impl Read, size: u64) -> Result<String, String> {
    let mut header = [0u8; 9];
    reader
        .read_exact(&mut header)
        .map_err(|_| "it is empty or truncated".to_string())?;
    if &header[..5] != RDB_MAGIC {
        return Err("it has no RDB header".into());
    }
    let version: u32 = std::str::from_utf8(&header[5..])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or("its RDB version is not a number")?;
    if version < 5 {
        drain(reader)?;
        return Ok(format!("RDB version {version} header"));
    }
    if size < 9 + 9 {
        return Err("it is truncated (no end marker)".into());
    }
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
    let mut digest = crc.digest();
    digest.update(&header);
    let body = size - 9 - 8;
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = body;
    let mut last = 0u8;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        reader
            .read_exact(&mut buf[..want])
            .map_err(|_| "it is truncated".to_string())?;
        digest.update(&buf[..want]);
        last = buf[want - 1];
        left -= want as u64;
    }
    let mut trailer = [0u8; 8];
    reader
        .read_exact(&mut trailer)
        .map_err(|_| "it is truncated".to_string())?;
    // 0xFF is the EOF opcode that precedes the checksum.
    if last != 0xFF {
        return Err("it is truncated (no RDB end marker)".into());
    }
    let stored = u64::from_le_bytes(trailer);
    // A server with rdbchecksum off writes zero.
    if stored != 0 && stored != digest.finalize() {
        return Err("its CRC-64 does not match (the file is damaged)".into());
    }
    Ok(format!("RDB version {version}, end marker and CRC-64"))
}

fn read_head(reader: &mut impl Read, head: &mut Vec<u8>) -> Result<u64, String> {
    reader
        .take(SQL_HEAD as u64)
        .read_to_end(head)
        .map(|n| n as u64)
        .map_err(|e| e.to_string())
}

fn drain(reader: &mut impl Read) -> Result<u64, String> {
    io::copy(reader, &mut io::sink()).map_err(|e| format!("cannot read it: {e}"))
}

/// A reader that hashes what passes through it.
pub struct HashReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    pub fn hex(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes and counts what passes through it.
pub struct HashWriter<W> {
    pub inner: W,
    hasher: Sha256,
    pub written: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// The sha256 so far, as hex, and the writer back.
    pub fn finish(self) -> (String, u64, W) {
        (
            hex::encode(self.hasher.finalize()),
            self.written,
            self.inner,
        )
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }

    #[test]
    fn sniffs_formats_and_dialects() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        let pg = write(d, "a.dump", b"PGDMP\x01\x0e\x00");
        assert_eq!(sniff(&pg).expect("read"), Some(Format::PgCustom));
        let sql = write(
            d,
            "a.sql",
            b"-- PostgreSQL database dump\nSET statement_timeout = 0;\n",
        );
        assert_eq!(sniff(&sql).expect("read"), Some(Format::Sql));
        let checked = check(&sql, Format::Sql).expect("fine");
        assert_eq!(checked.dialect, Some(Kind::Postgres));
        let mut z = zstd::Encoder::new(Vec::new(), 3).expect("enc");
        z.write_all(b"-- MariaDB dump 10.19\n").expect("w");
        let z = z.finish().expect("finish");
        let zp = write(d, "b.sql.zst", &z);
        assert_eq!(sniff(&zp).expect("read"), Some(Format::SqlZst));
        assert_eq!(
            check(&zp, Format::SqlZst).expect("fine").dialect,
            Some(Kind::Mysql)
        );
        let cut = write(d, "c.sql.zst", &z[..z.len() - 3]);
        assert!(check(&cut, Format::SqlZst).is_err());
        let bin = write(d, "x.bin", b"\x00\x01\x02");
        assert_eq!(sniff(&bin).expect("read"), None);
    }

    #[test]
    fn rdb_crc_catches_damage() {
        let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
        let mut body = b"REDIS0011\xfa\x09redis-ver\x057.0.0\xfe\x00\xff".to_vec();
        let sum = crc.checksum(&body);
        body.extend_from_slice(&sum.to_le_bytes());
        let dir = tempfile::tempdir().expect("tmp");
        let good = write(dir.path(), "a.rdb", &body);
        check(&good, Format::Rdb).expect("whole");
        let mut bad = body.clone();
        bad[12] ^= 1;
        let bad = write(dir.path(), "b.rdb", &bad);
        assert!(check(&bad, Format::Rdb).unwrap_err().contains("CRC-64"));
        let short = write(dir.path(), "c.rdb", &body[..body.len() - 4]);
        assert!(check(&short, Format::Rdb).is_err());
    }
}
