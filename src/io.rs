//! Reading a child's output line by line, whatever it writes.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// Reads the next line of a child's output, for readers that must keep draining the pipe
/// whatever arrives (a reader that stops leaves the child blocked on a full pipe): invalid
/// UTF-8 becomes U+FFFD, the trailing `\n` or `\r\n` is dropped, and a line longer than `cap`
/// bytes keeps its first `cap` bytes (cut at a character boundary) while the rest of it is
/// read and discarded. `None` at end of input; an error only from the read itself.
/// `buf` is scratch space, reused across calls.
pub async fn read_line_capped<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<String>> {
    buf.clear();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX);
    let n = (&mut *reader).take(limit).read_until(b'\n', buf).await?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    } else if n == cap {
        skip_line(reader).await?;
        // Drop a character the cut split in two, rather than show it as U+FFFD.
        if let Err(e) = std::str::from_utf8(buf)
            && e.error_len().is_none()
        {
            buf.truncate(e.valid_up_to());
        }
    }
    Ok(Some(String::from_utf8_lossy(buf).into_owned()))
}

/// Consumes input up to and including the next `\n` (or to the end), keeping none of it.
async fn skip_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<()> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(());
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let len = available.len();
                reader.consume(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn lines_of(input: &[u8], cap: usize) -> Vec<String> {
        // A small buffer, so lines and cuts straddle refills.
        let mut reader = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(line) = read_line_capped(&mut reader, &mut buf, cap)
            .await
            .expect("read")
        {
            out.push(line);
        }
        out
    }

    #[tokio::test]
    async fn lines_survive_bad_utf8_and_long_lines() {
        assert_eq!(lines_of(b"", 8).await, Vec::<String>::new());
        assert_eq!(
            lines_of(b"one\r\ntwo\n\nthree", 8).await,
            ["one", "two", "", "three"]
        );
        // Invalid UTF-8 is replaced and reading goes on.
        assert_eq!(
            lines_of(b"a\xff\xfeb\nnext\n", 8).await,
            ["a\u{fffd}\u{fffd}b", "next"]
        );
        // Over the cap: the first 8 bytes, the rest of that line dropped.
        assert_eq!(
            lines_of(b"0123456789abcdef\nafter\n", 8).await,
            ["01234567", "after"]
        );
        // Exactly the cap, with and without its newline inside the cap.
        assert_eq!(lines_of(b"01234567\nx\n", 8).await, ["01234567", "x"]);
        assert_eq!(lines_of(b"0123456\nx", 8).await, ["0123456", "x"]);
        assert_eq!(lines_of(b"0123456789", 8).await, ["01234567"]);
        // A cut through a multi-byte character drops the partial character.
        assert_eq!(
            lines_of("123456\u{e9}\u{e9}\nok\n".as_bytes(), 8).await,
            ["123456\u{e9}", "ok"]
        );
        assert_eq!(
            lines_of("1234567\u{e9}\nok\n".as_bytes(), 8).await,
            ["1234567", "ok"]
        );
    }
}
