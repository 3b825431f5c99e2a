//! The volume list of the web page over HTTP (the real server, the API's token): key paging
//! through a list larger than a page, the CSV export of the filtered list, rights (404 across
//! customers) and bad filters. The browser-driven side is in `web_page.rs`.

use crate::server_support::{admin, client, logon, Server};
use serde_json::json;

/// ACME: 250 LTO volumes (A00000–A00249; the first 40 in OFFS and scratch, the rest in LIBR
/// and active) and 3 DLT volumes in no repository; BETA: one volume. `viewer` reads ACME only.
fn seed(store: &std::path::Path) {
    let mut volumes: Vec<_> = (0..250)
        .map(|i| {
            let (repository, scratch) = if i < 40 {
                ("OFFS", "true")
            } else {
                ("LIBR", "false")
            };
            json!({"customer": "ACME", "media": "LTO", "volume": format!("A{i:05}"),
                   "fields": {"REPOSITORY": repository, "SCRATCH": scratch,
                              "DESCRIPTION": format!("tape, \"{i}\"")}})
        })
        .collect();
    volumes.extend((0..3).map(
        |i| json!({"customer": "ACME", "media": "DLT", "volume": format!("D{i:05}"), "fields": {}}),
    ));
    volumes.push(json!({"customer": "BETA", "media": "LTO", "volume": "B00001", "fields": {}}));
    let dump = json!({
        "customers": [
            {"id": "ACME", "name": "Acme", "media": [{"id": "LTO"}, {"id": "DLT"}],
             "repositories": [{"id": "LIBR"}, {"id": "OFFS"}]},
            {"id": "BETA", "name": "Beta", "media": [{"id": "LTO"}], "repositories": []}
        ],
        "volumes": volumes
    });
    let file = store.with_file_name("dump.json");
    std::fs::write(&file, dump.to_string()).unwrap();
    admin(store, &["import", file.to_str().unwrap()], None);
    admin(store, &["user", "add", "viewer"], Some("viewer pass"));
    admin(store, &["grant", "viewer", "ACME", "read"], None);
}

fn get(base: &str, path: &str, token: &str) -> (u16, String, String) {
    let r = client()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, r.text().unwrap())
}

/// The Volume-IDs of a list page, in order, and its "Next page" link.
fn rows(page: &str) -> (Vec<String>, Option<String>) {
    let ids = page
        .split("data-volume=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect();
    let next = page
        .split("id=\"next-page\" href=\"")
        .nth(1)
        .map(|s| s[..s.find('"').unwrap()].replace("&amp;", "&"));
    (ids, next)
}

#[test]
fn the_volume_list_pages_filters_and_exports_what_the_user_may_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inventory.db");
    seed(&store);
    let server = Server::start(&store, 0);
    let base = server.url();
    let token = logon(&base, "viewer", "viewer pass");

    // Every page of the LTO list, by its "Next page" links: each volume once, in order.
    let mut seen = Vec::new();
    let mut path = Some("/volumes?customer=acme&media=LTO".to_string());
    let mut pages = 0;
    while let Some(p) = path {
        let (status, content_type, page) = get(&base, &p, &token);
        assert_eq!(status, 200, "{p}: {page}");
        assert!(content_type.starts_with("text/html"), "{content_type}");
        assert!(
            page.contains("<span id=\"list-total\">250</span>"),
            "{page}"
        );
        let (ids, next) = rows(&page);
        assert!(ids.len() <= 100);
        seen.extend(ids);
        path = next;
        pages += 1;
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..250).map(|i| format!("A{i:05}")).collect();
    assert_eq!(seen, expected);

    // Filters: repository, scratch state, none, text.
    let count = |query: &str| {
        let (status, _, page) = get(&base, &format!("/volumes?{query}"), &token);
        assert_eq!(status, 200, "{query}: {page}");
        let start = page.find("<span id=\"list-total\">").unwrap() + 22;
        page[start..start + page[start..].find('<').unwrap()]
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(count("customer=ACME&repository=OFFS"), 40);
    assert_eq!(count("customer=ACME&scratch=active"), 210);
    assert_eq!(count("customer=ACME&repository=-"), 3);
    assert_eq!(count("customer=ACME&repository=LIBR&scratch=scratch"), 0);
    // The filter form's "any" sends empty values.
    assert_eq!(
        count("customer=ACME&media=&repository=&scratch=&text=a0024"),
        10
    );

    // The CSV export: every filtered volume, not one page, with every field quoted as CSV.
    let (status, content_type, csv) =
        get(&base, "/volumes.csv?customer=ACME&repository=LIBR", &token);
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let first: Vec<&str> = header.iter().take(4).collect();
    assert_eq!(first, ["CUSTOMER", "MEDIA", "VOLUME", "VERSION"]);
    let repository = header.iter().position(|h| h == "REPOSITORY").unwrap();
    let description = header.iter().position(|h| h == "DESCRIPTION").unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 210);
    assert!(records.iter().all(|r| &r[repository] == "LIBR"));
    assert_eq!(&records[0][2], "A00040");
    assert_eq!(&records[0][description], "tape, \"40\"");

    // Another customer's list is not found, like a customer that does not exist.
    for path in [
        "/volumes?customer=BETA",
        "/volumes.csv?customer=BETA",
        "/volumes?customer=NONE",
    ] {
        let (status, _, page) = get(&base, path, &token);
        assert_eq!(status, 404, "{path}");
        assert!(page.contains("that you may read"), "{page}");
        assert!(!page.contains("B00001"));
    }
    // Bad filters are refused with what to do.
    for (query, says) in [
        (
            "customer=ACME&scratch=maybe",
            "scratch is one of scratch, active or unknown",
        ),
        ("customer=ACME&text=50%25", "letters, digits and"),
        ("customer=ACME&after=A00010", "MEDIA/VOLUME"),
        ("customer=ACME&media=TOOLONG", "MEDIA"),
        ("media=LTO", "name the customer"),
        ("customer=ACME&colour=red", "unknown field"),
    ] {
        let (status, _, page) = get(&base, &format!("/volumes?{query}"), &token);
        assert_eq!(status, 400, "{query}: {page}");
        assert!(page.contains(says), "{query}: {page}");
    }
    // Without a logon: the logon form.
    let r = client()
        .get(format!("{base}/volumes?customer=ACME"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}
