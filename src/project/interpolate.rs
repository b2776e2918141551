//! Compose's variable interpolation, for the one place devtui reads a compose file itself:
//! the `x-devtui.native` block when `up` runs without compose (a native-only profile).
//! Supports what that block needs: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?message}`, `${VAR?message}` (defaults may hold variables), and `$$`, which is kept
//! as `$$` as `docker compose config` keeps it, so both paths go through the same unescaping.

/// `text` with its variables replaced through `lookup`; an error for a required variable
/// that is missing (its message, as compose gives it) or a malformed `${`.
pub fn interpolate(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push_str("$$");
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body).ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            out.push_str(&expand(&body[..end], lookup)?);
            rest = &body[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..len]).unwrap_or_default());
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Where the `}` matching an opened `${` is in `body` (nested `${...}` skipped).
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// One `${...}` body: `VAR`, then an optional operator and its word.
fn expand(body: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let (name, op) = body.split_at(name_len);
    if name.is_empty() {
        return Err(format!("invalid interpolation ${{{body}}}"));
    }
    let value = lookup(name);
    let set = value.as_deref().is_some_and(|v| !v.is_empty());
    let word = |w: &str| interpolate(w, lookup);
    let required = |w: &str, ok: bool| -> Result<String, String> {
        if ok {
            return Ok(value.clone().unwrap_or_default());
        }
        let message = word(w)?;
        Err(if message.is_empty() {
            format!("required variable {name} is missing a value")
        } else {
            format!("required variable {name} is missing a value: {message}")
        })
    };
    if op.is_empty() {
        return Ok(value.unwrap_or_default());
    }
    if let Some(w) = op.strip_prefix(":-") {
        return if set {
            Ok(value.unwrap_or_default())
        } else {
            word(w)
        };
    }
    if let Some(w) = op.strip_prefix(":?") {
        return required(w, set);
    }
    if let Some(w) = op.strip_prefix('-') {
        return match value {
            Some(v) => Ok(v),
            None => word(w),
        };
    }
    if let Some(w) = op.strip_prefix('?') {
        return required(w, value.is_some());
    }
    Err(format!("invalid interpolation ${{{body}}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_required_and_escapes() {
        let vars = |k: &str| match k {
            "PORT" => Some("9000".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let i = |t: &str| interpolate(t, &vars);
        assert_eq!(i("127.0.0.1:${PORT:-8000}").unwrap(), "127.0.0.1:9000");
        assert_eq!(
            i("${NOPE:-8000}/${EMPTY:-x}/${EMPTY-y}").unwrap(),
            "8000/x/"
        );
        assert_eq!(i("${NOPE:-${PORT}}").unwrap(), "9000");
        assert_eq!(i("$PORT-$$HOME-$").unwrap(), "9000-$$HOME-$");
        let e = i("${NOPE:?NOPE must be set in .env}").unwrap_err();
        assert!(e.contains("NOPE must be set in .env"), "{e}");
        assert!(i("${EMPTY:?x}").is_err());
        assert_eq!(i("${EMPTY?x}").unwrap(), "");
        assert!(i("${PORT").is_err());
    }
}
