//! TMSS10Sync's command line on `tapesync run`, so that operators' batch files
//! (`TMSS10Sync -S user:password@server:port -a -d file.ttidef < report`) keep working:
//! the logon string `-S` becomes a server URL, a user and a password, and every other flag
//! TMSS10Sync documents that tapesync cannot honour is refused with what replaces it — never
//! silently ignored (docs/running.md, "Coming from TMSS10Sync"). `-a` and `-d` are
//! `--add-new` and `--definition` themselves (run.rs).

/// The port of `tapesync serve` when a logon string names none. TMSS10Sync's default, 5000,
/// is TapeTrack's own server, which tapesync does not speak to.
pub const DEFAULT_PORT: u16 = 8740;

/// TMSS10Sync's flags on `tapesync run`: `-S`, and the documented ones that are refused.
/// The refused ones are hidden from `--help`; the check in [`Compat::refusals`] explains them.
#[derive(clap::Args, Debug, Default)]
pub struct Compat {
    /// TMSS10Sync's logon string: the server (`http://SERVER:PORT`, port 8740 when none is
    /// given), the user and the password. A password here is visible to other users of the
    /// machine: prefer TAPESYNC_PASSWORD and `-S USER@SERVER:PORT`
    #[arg(
        short = 'S',
        value_name = "USER:PASSWORD@SERVER:PORT",
        conflicts_with_all = ["server", "user", "store"]
    )]
    pub logon: Option<String>,
    #[arg(short = 'A', hide = true, value_name = "N")]
    attribute_index: Option<String>,
    #[arg(short = 'c', hide = true, value_name = "FILE")]
    batch_config: Option<String>,
    #[arg(short = 'M', hide = true)]
    upper_m: bool,
    #[arg(short = 'T', hide = true)]
    upper_t: bool,
    #[arg(short = 'l', hide = true)]
    lower_l: bool,
    #[arg(short = 'p', hide = true)]
    lower_p: bool,
    #[arg(short = 's', hide = true)]
    lower_s: bool,
    #[arg(short = 't', hide = true)]
    lower_t: bool,
}

/// Why a TMSS10Sync flag without a counterpart is refused, for the flags whose meaning
/// TapeTrack's published pages no longer give.
const NO_COUNTERPART: &str = "has no counterpart in tapesync (TapeTrack's published \
                              documentation does not say what it does); remove it";

impl Compat {
    /// One line per TMSS10Sync flag given that tapesync cannot honour, each naming what to use
    /// instead; empty when there is none.
    pub fn refusals(&self) -> Vec<String> {
        let mut refused = Vec::new();
        if self.attribute_index.is_some() {
            refused.push(
                "-A (TMSS10Sync: write DESCRIPTION into an extended attribute) is not \
                 supported: the inventory has no extended attributes and DESCRIPTION is always \
                 the volume's description; remove -A, or Extract the text into another field \
                 of the inventory (docs/language.md)"
                    .to_string(),
            );
        }
        if self.batch_config.is_some() {
            refused.push(
                "-c (TMSS10Sync's batch configuration file) is not read: tapesync's settings \
                 are a TOML file given with --config FILE (docs/configuration.md)"
                    .to_string(),
            );
        }
        let flags = [
            (self.upper_m, "-M"),
            (self.upper_t, "-T"),
            (self.lower_l, "-l"),
            (self.lower_p, "-p"),
            (self.lower_s, "-s"),
            (self.lower_t, "-t"),
        ];
        for (_, flag) in flags.iter().filter(|(given, _)| *given) {
            refused.push(format!("{flag} (TMSS10Sync) {NO_COUNTERPART}"));
        }
        refused
    }
}

/// The usage error for refused flags: every one, and where the whole table is.
pub fn refusal_message(refused: &[String]) -> String {
    let mut message = String::from("TMSS10Sync flags tapesync does not take:");
    for line in refused {
        message.push_str("\n  ");
        message.push_str(line);
    }
    message.push_str(
        "\n(docs/running.md, \"Coming from TMSS10Sync\", lists every TMSS10Sync flag and its \
         replacement)",
    );
    message
}

/// What a logon string says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logon {
    /// `http://SERVER:PORT`, or the server part as written when it is a URL already.
    pub url: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// The warning printed when `-S` carries a password.
pub const PASSWORD_WARNING: &str = "warning: -S puts the password on the command line, where \
     other users of this machine can read it (ps, /proc); set TAPESYNC_PASSWORD (or `password` \
     in a private configuration file, docs/configuration.md) and write -S USER@SERVER:PORT";

/// Reads `USER:PASSWORD@SERVER:PORT`. Every part but the server may be left out
/// (`USER@SERVER`, `SERVER:PORT`). As in TapeTrack's examples (`fred:-hackme@host`), one
/// leading `-` of the password marks it as the password itself and is not part of it. The
/// password may contain `:` and `@` (the server is after the last `@`).
pub fn parse_logon(text: &str) -> Result<Logon, String> {
    let (credentials, server) = match text.rsplit_once('@') {
        Some((credentials, server)) => (Some(credentials), server),
        None => (None, text),
    };
    let (user, password) = match credentials.map(|c| c.split_once(':').ok_or(c)) {
        None => (None, None),
        Some(Ok((user, password))) => (Some(user), Some(password)),
        Some(Err(user)) => (Some(user), None),
    };
    let user = user.filter(|u| !u.is_empty()).map(str::to_string);
    let password = password
        .map(|p| p.strip_prefix('-').unwrap_or(p))
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    if let Some(p) = &password {
        if looks_like_md5(p) {
            return Err(format!(
                "-S: TMSS10Sync reads a password of 32 upper-case hexadecimal characters as the \
                 MD5 hash of the password; tapesync's server needs the password itself: set \
                 TAPESYNC_PASSWORD and write -S {}@{server}",
                user.as_deref().unwrap_or("USER")
            ));
        }
    }
    Ok(Logon {
        url: server_url(server)?,
        user,
        password,
    })
}

fn looks_like_md5(password: &str) -> bool {
    password.len() == 32
        && password
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

/// `SERVER[:PORT]` as a URL; a server written as a URL is taken as it is.
fn server_url(server: &str) -> Result<String, String> {
    let server = server.trim();
    if server.contains("://") {
        return Ok(server.to_string());
    }
    // `[::1]:8740`: the port is after the bracket.
    let (host, port) = match server.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("-S: `{server}` has no closing `]`"))?;
            (format!("[{host}]"), after.strip_prefix(':'))
        }
        None => match server.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (server.to_string(), None),
        },
    };
    if host.is_empty() || host == "[]" {
        return Err(format!(
            "-S `{server}` names no server: write -S USER@SERVER:PORT"
        ));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
            format!("-S: the port `{p}` of `{server}` is not a number from 1 to 65535")
        })?,
    };
    Ok(format!("http://{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logon(url: &str, user: Option<&str>, password: Option<&str>) -> Logon {
        Logon {
            url: url.to_string(),
            user: user.map(str::to_string),
            password: password.map(str::to_string),
        }
    }

    #[test]
    fn every_part_of_a_logon_string_is_read() {
        let cases = [
            (
                "batch:secret@tapes.example:9000",
                logon("http://tapes.example:9000", Some("batch"), Some("secret")),
            ),
            // TapeTrack's examples mark the password with one leading dash.
            (
                "fred:-hackme@host",
                logon("http://host:8740", Some("fred"), Some("hackme")),
            ),
            (
                "fred:--x@host",
                logon("http://host:8740", Some("fred"), Some("-x")),
            ),
            // The password may hold `:` and `@`; the server is after the last `@`.
            (
                "u:p:w@d@127.0.0.1:1",
                logon("http://127.0.0.1:1", Some("u"), Some("p:w@d")),
            ),
            (
                "jsmith@host:443",
                logon("http://host:443", Some("jsmith"), None),
            ),
            ("host", logon("http://host:8740", None, None)),
            ("[::1]:8740", logon("http://[::1]:8740", None, None)),
            (
                "u:-p@https://tapes.example",
                logon("https://tapes.example", Some("u"), Some("p")),
            ),
            ("u:@host", logon("http://host:8740", Some("u"), None)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_logon(text).as_ref(), Ok(&expected), "{text}");
        }
    }

    #[test]
    fn bad_logon_strings_are_usage_errors_that_say_what_to_write() {
        for (text, expected) in [
            ("u:p@", "names no server"),
            ("u:p@host:http", "not a number from 1 to 65535"),
            ("u:p@host:0", "not a number from 1 to 65535"),
            ("[::1:80", "no closing"),
            (
                "u:-0123456789ABCDEF0123456789ABCDEF@host",
                "MD5 hash of the password",
            ),
        ] {
            let err = parse_logon(text).expect_err(text);
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
