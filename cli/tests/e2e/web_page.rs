//! The web page in a real browser: headless Chromium logs on through the page's own form
//! against a running `tapesync serve`, and the numbers of the database must appear in the DOM
//! it renders. Without Chromium the test is skipped with a notice — but never under CI
//! (`CI` set), where a missing browser fails it.

use crate::server_support::{admin, Server};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use tapesync_model::{Field, ScopeKey, SessionOutcome, SessionStart, SyncStatistics, VolumeChange};
use tapesync_runtime::{HttpTarget, Target};

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let out = Command::new("which").arg(name).output().ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        })
}

/// Chromium, or `None` with a notice that the test is skipped — but never under CI (`CI`
/// set), where a missing browser fails the test.
fn chromium_or_skip() -> Option<PathBuf> {
    let browser = chromium();
    if browser.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but Chromium is not installed (apt-get install chromium)");
        }
        eprintln!(
            "NOTICE: web_page test SKIPPED: Chromium is not installed (apt-get install chromium)"
        );
    }
    browser
}

/// Loads `url` in headless Chromium with the profile `profile` (cookies persist in it) and
/// returns the DOM after the page (and any navigation it starts) has loaded.
fn dump_dom(browser: &Path, profile: &Path, url: &str) -> String {
    dump_dom_with(browser, profile, url, &[])
}

fn dump_dom_with(browser: &Path, profile: &Path, url: &str, flags: &[&str]) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn seed(store: &Path) {
    let mut volumes = Vec::new();
    let mut add =
        |media: &str, n: usize, repository: Option<&str>, scratch: Option<bool>, first: usize| {
            for i in 0..n {
                let mut fields = serde_json::Map::new();
                if let Some(r) = repository {
                    fields.insert("REPOSITORY".into(), json!(r));
                }
                if let Some(s) = scratch {
                    fields.insert("SCRATCH".into(), json!(s.to_string()));
                }
                volumes.push(json!({"customer": "ACME", "media": media,
                                "volume": format!("V{:05}", first + i), "fields": fields}));
            }
        };
    add("LTO", 17, Some("LIBR"), Some(false), 0);
    add("LTO", 5, Some("OFFS"), Some(true), 100);
    add("DLT", 3, None, None, 200);
    let dump = json!({
        "customers": [
            {"id": "ACME", "name": "Acme Corp", "media": [{"id": "LTO", "description": "LTO-8"}, {"id": "DLT"}],
             "repositories": [{"id": "LIBR", "description": "Library"}, {"id": "OFFS", "description": "Vault"}]},
            {"id": "EVIL", "name": "<script>alert(1)</script> & co", "media": [{"id": "LTO"}], "repositories": []}
        ],
        "volumes": volumes
    });
    let file = store.with_file_name("dump.json");
    std::fs::write(&file, serde_json::to_string_pretty(&dump).unwrap()).unwrap();
    admin(store, &["import", file.to_str().unwrap()], None);
    // Users exist before the first start, so `serve` creates no `admin`: add one here.
    admin(
        store,
        &["user", "add", "root", "--admin"],
        Some("root pass"),
    );
    admin(store, &["user", "add", "viewer"], Some("viewer pass"));
    admin(store, &["grant", "viewer", "ACME", "read"], None);
    admin(store, &["user", "add", "syncer"], Some("syncer pass"));
    admin(store, &["grant", "syncer", "ACME", "write"], None);
}

/// A sync session over HTTP that moves one volume to another slot, with statistics the page
/// must show.
fn record_session(base: &str) {
    let mut target = HttpTarget::connect(base, "syncer", "syncer pass").expect("logon");
    let id = target
        .begin_session(&SessionStart {
            definition_hash: "00".into(),
            definition_name: "web-test.ttidef".into(),
            // A long path without a blank: the sessions table must still fit the screen.
            source_name: format!(
                "/srv/backup/reports/{}/web-report.txt",
                "nightly-".repeat(30)
            ),
        })
        .unwrap();
    let scope = ScopeKey {
        customer: "ACME".into(),
        media: "LTO".into(),
    };
    let snapshot = target.download_scope(&scope).unwrap();
    assert_eq!(snapshot.volumes.len(), 22);
    let batch = tapesync_model::ApplyBatch {
        idempotency_key: "web-test-1".into(),
        session: Some(id),
        create_missing: false,
        create: None,
        changes: vec![VolumeChange {
            volume: "V00003".into(),
            expected_version: Some(1),
            set: [(Field::Slot, Some("S-0042".to_string()))]
                .into_iter()
                .collect(),
        }],
    };
    target.apply(&scope, &batch).unwrap();
    let stats = SyncStatistics {
        records_read: 4242,
        volumes_updated: 1,
        volumes_unchanged: 4241,
        scope_downloads: 1,
        apply_batches: 1,
        scopes: 1,
        ..SyncStatistics::default()
    };
    target
        .finish_session(id, SessionOutcome::Completed, &stats)
        .unwrap();
    // Every request counted: one logon, one download, one apply, begin + finish.
    let trips = target.round_trips();
    assert_eq!(
        (
            trips.logons,
            trips.scope_downloads,
            trips.applies,
            trips.session_calls,
            trips.retries
        ),
        (1, 1, 1, 2, 0)
    );
}

#[test]
fn the_page_shows_the_inventory_in_a_real_browser() {
    let Some(browser) = chromium_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inventory.db");
    seed(&store);
    let server = Server::start(&store, 0);
    let base = server.url();
    record_session(&base);

    // The page's real form, submitted by the browser from a page of the server's own origin
    // (a cross-site post is refused: login CSRF); the server answers with a cookie and a
    // redirect to the overview, which is what the DOM dump shows.
    let front = SameOriginFront::start(server.port);
    let logon_page = |user: &str, password: &str| {
        format!(
            "http://127.0.0.1:{}/logon-page/{}/{}",
            front.port,
            user.replace(' ', "%20"),
            password.replace(' ', "%20")
        )
    };

    // The read-only viewer: ACME only, with its counts and the session.
    let profile = tempfile::tempdir().unwrap();
    let dom = dump_dom(
        &browser,
        profile.path(),
        &logon_page("viewer", "viewer pass"),
    );
    assert!(
        dom.contains("Logged on as <strong id=\"user-name\">viewer</strong>"),
        "{dom}"
    );
    // Every count links to the volume list behind it.
    let row = |media: &str, repo: &str, scratch: &str, n: u64| {
        format!(
            "data-media=\"{media}\" data-repository=\"{repo}\" data-scratch=\"{scratch}\">\
             <td>{media}</td><td>{}</td><td>{scratch}</td><td class=\"n count\">\
             <a href=\"/volumes?customer=ACME&amp;media={media}&amp;repository={}&amp;scratch={scratch}\">{n}</a></td>",
            if repo.is_empty() { "(none)" } else { repo },
            if repo.is_empty() { "-" } else { repo },
        )
    };
    for expected in [
        row("LTO", "LIBR", "active", 17),
        row("LTO", "OFFS", "scratch", 5),
        row("DLT", "", "unknown", 3),
        "<a class=\"total\" href=\"/volumes?customer=ACME\">25</a>".to_string(),
        "<td class=\"n records-read\">4242</td>".to_string(),
        "<td class=\"n updated\">1</td>".to_string(),
        "web-test.ttidef".to_string(),
    ] {
        assert!(dom.contains(&expected), "missing {expected:?} in\n{dom}");
    }
    assert!(!dom.contains("EVIL"), "viewer must not see EVIL:\n{dom}");
    assert_fits_1280(&browser, &base, "viewer", "viewer pass", dir.path());

    // Every count of the overview links to a list of exactly that many volumes.
    let links: Vec<(String, u64)> = dom
        .split("<td class=\"n count\"><a href=\"")
        .skip(1)
        .map(|s| {
            let href = s[..s.find('"').unwrap()].replace("&amp;", "&");
            let n = s[s.find('>').unwrap() + 1..s.find("</a>").unwrap()]
                .parse()
                .unwrap();
            (href, n)
        })
        .collect();
    assert_eq!(links.len(), 3, "{dom}");
    for (href, n) in &links {
        let list = dump_dom(&browser, profile.path(), &format!("{base}{href}"));
        assert!(
            list.contains(&format!("<span id=\"list-total\">{n}</span>")),
            "{href}: {list}"
        );
        assert_eq!(
            list.matches("<tr data-volume=").count() as u64,
            *n,
            "{href}"
        );
    }

    // The filter form as the browser submits it: every field, "any" as an empty value. The
    // form's own fields are read from the page, so a renamed field fails here.
    let list = dump_dom(
        &browser,
        profile.path(),
        &format!("{base}/volumes?customer=ACME"),
    );
    for field in ["customer", "media", "repository", "scratch", "text"] {
        assert!(
            list.contains(&format!("name=\"{field}\"")),
            "the filter form has no {field}: {list}"
        );
    }
    assert!(list.contains("<span id=\"list-total\">25</span>"), "{list}");
    let filtered = dump_dom(
        &browser,
        profile.path(),
        &format!("{base}/volumes?customer=ACME&media=LTO&repository=OFFS&scratch=scratch&text="),
    );
    assert!(
        filtered.contains("<span id=\"list-total\">5</span>"),
        "{filtered}"
    );
    assert!(
        filtered.contains("<option value=\"OFFS\" selected=\"\">OFFS</option>"),
        "the form keeps the chosen filter: {filtered}"
    );
    // The export link carries the same filters.
    assert!(
        filtered.contains(
            "id=\"csv-export\" href=\"/volumes.csv?customer=ACME&amp;media=LTO&amp;repository=OFFS&amp;scratch=scratch\""
        ),
        "{filtered}"
    );
    let text = dump_dom(
        &browser,
        profile.path(),
        &format!("{base}/volumes?customer=ACME&text=0010"),
    );
    // V00010 (LTO, LIBR) and V00100–V00104 (LTO, OFFS).
    assert!(text.contains("<span id=\"list-total\">6</span>"), "{text}");

    // The volume search, in the same browser profile (the cookie persists): state + history.
    let dom = dump_dom(
        &browser,
        profile.path(),
        &format!("{base}/volume?volume=v00003"),
    );
    assert!(
        dom.contains("<span id=\"volume-version\">2</span>"),
        "{dom}"
    );
    assert!(
        dom.contains("<td>SLOT</td><td></td><td>S-0042</td>"),
        "{dom}"
    );
    assert!(dom.contains("syncer"), "{dom}");
    let dom = dump_dom(
        &browser,
        profile.path(),
        &format!("{base}/volume?volume=NOPE1"),
    );
    assert!(dom.contains("id=\"not-found\""), "{dom}");

    // The administrator sees EVIL, whose name is shown as text, never run as markup.
    let admin_profile = tempfile::tempdir().unwrap();
    let dom = dump_dom(
        &browser,
        admin_profile.path(),
        &logon_page("root", "root pass"),
    );
    assert!(
        dom.contains("EVIL — &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"),
        "{dom}"
    );
    assert!(!dom.contains("<script>alert"), "{dom}");

    // A wrong password leaves the browser on the form with the message.
    let other = tempfile::tempdir().unwrap();
    let dom = dump_dom(&browser, other.path(), &logon_page("viewer", "wrong"));
    assert!(dom.contains("id=\"logon-error\""), "{dom}");
}

/// ACME: M1–M3 in LIBR bound for OFFS (due at once), M4 bound for OFFS on 2099-01-01, S1
/// where it should be. `op` has a write grant on ACME.
fn seed_moves(store: &Path) {
    let volume = |v: &str, target: &str, current: &str, date: Option<&str>| {
        let mut fields = json!({"REPOSITORY": target, "CURRENT_REPOSITORY": current, "SLOT": "9"});
        if let Some(d) = date {
            fields["MOVEDATE"] = json!(d);
        }
        json!({"customer": "ACME", "media": "LTO", "volume": v, "fields": fields})
    };
    let dump = json!({
        "customers": [{"id": "ACME", "name": "Acme Corp", "media": [{"id": "LTO"}],
                       "repositories": [{"id": "LIBR"}, {"id": "OFFS"}]}],
        "volumes": [
            volume("M1", "OFFS", "LIBR", None),
            volume("M2", "OFFS", "LIBR", None),
            volume("M3", "OFFS", "LIBR", None),
            volume("M4", "OFFS", "LIBR", Some("2099-01-01")),
            volume("S1", "LIBR", "LIBR", None),
        ]
    });
    let file = store.with_file_name("dump.json");
    std::fs::write(&file, dump.to_string()).unwrap();
    admin(store, &["import", file.to_str().unwrap()], None);
    admin(store, &["user", "add", "op"], Some("op pass"));
    admin(store, &["grant", "op", "ACME", "write"], None);
}

/// The Volume-IDs of the rows of a volume list (as the server or the browser rendered it).
pub(crate) fn rows(dom: &str) -> Vec<String> {
    dom.split("<tr data-volume=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

#[test]
fn an_operator_confirms_the_days_moves_in_a_real_browser() {
    let Some(browser) = chromium_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inventory.db");
    seed_moves(&store);
    let server = Server::start(&store, 0);
    let base = server.url();
    let front = SameOriginFront::start(server.port);
    let profile = tempfile::tempdir().unwrap();
    let dom = dump_dom(
        &browser,
        profile.path(),
        &format!("http://127.0.0.1:{}/logon-page/op/op%20pass", front.port),
    );
    assert!(
        dom.contains("<strong id=\"user-name\">op</strong>"),
        "{dom}"
    );

    // The picking list of the day: M1–M3 out of LIBR (M4 is due in 2099), and the form.
    let day = "/moves?customer=ACME&due=2026-11-30";
    let list = dump_dom(&browser, profile.path(), &format!("{base}{day}"));
    assert!(list.contains("Take out of LIBR (3)"), "{list}");
    assert_eq!(rows(&list), ["M1", "M2", "M3"]);
    assert!(list.contains("id=\"confirm-form\""), "{list}");

    // The form, filled in and sent by the browser: M1 and M2 were carried, M3 was not — the
    // one discrepancy.
    let filled = format!("http://127.0.0.1:{}/fill/M1%0AM2%0A{day}", front.port);
    let result = dump_dom(&browser, profile.path(), &filled);
    assert!(
        result.contains("<span id=\"confirmed-count\">2</span>"),
        "{result}"
    );
    assert!(
        result.contains("<span id=\"discrepancy-count\">1</span>"),
        "{result}"
    );
    assert!(
        result.contains("<tr data-volume=\"M3\" data-problem=\"not_scanned\">"),
        "{result}"
    );
    assert!(
        result.contains("<strong id=\"confirmed-by\">op</strong>"),
        "{result}"
    );
    let token = crate::server_support::logon(&base, "op", "op pass");
    let now_in = |volume: &str| {
        let (_, v) = crate::server_support::get(
            &base,
            &format!("/api/v1/customers/ACME/media/LTO/volumes/{volume}"),
            &token,
        );
        v["fields"]["CURRENT_REPOSITORY"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        [now_in("M1"), now_in("M2"), now_in("M3")],
        ["OFFS", "OFFS", "LIBR"]
    );

    // The volume list's filters, the new pending-move one among them: M3 and M4 are still
    // to move; the export link carries the filters.
    let all = dump_dom(
        &browser,
        profile.path(),
        &format!("{base}/volumes?customer=ACME"),
    );
    for field in ["media", "repository", "scratch", "pending", "text"] {
        assert!(
            all.contains(&format!("name=\"{field}\"")),
            "no {field} filter: {all}"
        );
    }
    let moving = dump_dom(
        &browser,
        profile.path(),
        &format!(
            "{base}/volumes?customer=ACME&media=LTO&repository=OFFS&scratch=&pending=yes&text="
        ),
    );
    assert_eq!(rows(&moving), ["M3", "M4"]);
    assert!(
        moving.contains("<span id=\"list-total\">2</span>"),
        "{moving}"
    );
    let settled = dump_dom(
        &browser,
        profile.path(),
        &format!("{base}/volumes?customer=ACME&media=&repository=&scratch=&pending=no&text=M"),
    );
    assert_eq!(rows(&settled), ["M1", "M2"]);

    // The CSV export behind the link the browser shows.
    let href = moving
        .split("id=\"csv-export\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    assert_eq!(
        href,
        "/volumes.csv?customer=ACME&media=LTO&repository=OFFS&pending=yes"
    );
    let csv = crate::server_support::client()
        .get(format!("{base}{href}"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let volumes: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(volumes, ["M3", "M4"], "{csv}");
}

/// A same-origin front for the server, as a TLS proxy would be: it serves a page whose script
/// submits the real logon form (`/logon-page/USER/PASSWORD`, the page the server itself does not
/// have, since it runs no scripts), the server's own page with a script that fills in and
/// submits its form (`/fill/TEXT/PATH`, see [`filled_form_page`]), and forwards every other
/// connection to the server unchanged. Cookies do not depend on the port, so the session then
/// works on the server's own address.
struct SameOriginFront {
    port: u16,
}

impl SameOriginFront {
    fn start(server_port: u16) -> SameOriginFront {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match client.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head).to_string();
                    let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
                    if let Some(rest) = path.strip_prefix("/logon-page/") {
                        let (user, password) = rest.split_once('/').unwrap_or((rest, ""));
                        let body = format!(
                            "<!DOCTYPE html><html><body><form method=\"post\" action=\"/logon\">\
                             <input name=\"user\" value=\"{}\"><input name=\"password\" value=\"{}\">\
                             </form><script>document.forms[0].submit()</script></body></html>",
                            user.replace("%20", " "),
                            password.replace("%20", " ")
                        );
                        let _ = write!(
                            client,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                             Connection: close\r\n\r\n{body}",
                            body.len()
                        );
                        return;
                    }
                    if let Some(rest) = path.strip_prefix("/fill/") {
                        let body = filled_form_page(server_port, &text, rest);
                        let _ = write!(
                            client,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        return;
                    }
                    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", server_port)) else {
                        return;
                    };
                    if upstream.write_all(&head).is_err() {
                        return;
                    }
                    let (mut up_read, mut client_write) =
                        (upstream.try_clone().unwrap(), client.try_clone().unwrap());
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut up_read, &mut client_write);
                        let _ = client_write.shutdown(std::net::Shutdown::Both);
                    });
                    let _ = std::io::copy(&mut client, &mut upstream);
                    let _ = upstream.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        SameOriginFront { port }
    }
}

/// `/fill/TEXT/PATH?QUERY`: the server's own page `PATH?QUERY`, fetched with the browser's
/// cookie, and a script that puts the percent-encoded TEXT into its `textarea` and submits the
/// form it is in — the page's real form, field names and action, as a person would send it.
/// The page forbids scripts (its Content-Security-Policy header), which this copy, served by
/// the front, does not carry.
fn filled_form_page(server_port: u16, head: &str, rest: &str) -> String {
    let (text, path) = rest.split_once('/').unwrap_or((rest, ""));
    let text = percent_decode(text);
    let cookie = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("cookie")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    let page = crate::server_support::client()
        .get(format!("http://127.0.0.1:{server_port}/{path}"))
        .header("cookie", cookie)
        .send()
        .and_then(|r| r.text())
        .unwrap_or_else(|e| format!("<p>the front could not fetch the page: {e}</p>"));
    let script = format!(
        "<script>const box = document.querySelector('textarea'); box.value = {};\
         box.form.submit();</script></body>",
        serde_json::to_string(&text)
            .unwrap()
            .replace('<', "\\u003c")
    );
    page.replace("</body>", &script)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The overview, as the server renders it for `user`, laid out by Chromium in a window 1280
/// pixels wide: nothing may reach past the right edge, and no table needs scrolling. The page forbids scripts (its
/// Content-Security-Policy header), so the measuring script runs on a saved copy of the very
/// same HTML, which carries no such header.
fn assert_fits_1280(browser: &Path, base: &str, user: &str, password: &str, dir: &Path) {
    let token = crate::server_support::logon(base, user, password);
    let html = crate::server_support::client()
        .get(format!("{base}/"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(html.contains("nightly-nightly-"), "{html}");
    let measured = html.replace(
        "</body>",
        "<script>document.body.dataset.scrollWidth = document.documentElement.scrollWidth;\
         document.body.dataset.clientWidth = document.documentElement.clientWidth;\
         document.body.dataset.boxOverflow = Math.max(0, ...Array.from(\
           document.querySelectorAll('.wide'), e => e.scrollWidth - e.clientWidth));</script></body>",
    );
    let file = dir.join("overview-1280.html");
    std::fs::write(&file, measured).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let dom = dump_dom_with(
        browser,
        profile.path(),
        &format!("file://{}", file.display()),
        &["--window-size=1280,900", "--hide-scrollbars"],
    );
    let attr = |name: &str| -> u32 {
        let start = dom
            .find(&format!("data-{name}=\""))
            .unwrap_or_else(|| panic!("no {name} measured in\n{dom}"))
            + name.len()
            + 7;
        dom[start..start + dom[start..].find('"').unwrap()]
            .parse()
            .unwrap()
    };
    let (scroll, client) = (attr("scroll-width"), attr("client-width"));
    // Wide tables may scroll inside their own box; the sessions table must not need to.
    let overflow = attr("box-overflow");
    assert_eq!(
        overflow, 0,
        "a table scrolls {overflow} pixels sideways in its box"
    );
    assert!(client <= 1280 && client > 1000, "window width {client}");
    assert!(
        scroll <= client,
        "the overview is {scroll} pixels wide in a {client}-pixel window"
    );
}
