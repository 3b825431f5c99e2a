use super::*;

fn scope(c: &str) -> ScopeKey {
    ScopeKey {
        customer: c.into(),
        media: "LTO".into(),
    }
}

/// A record as the spill encodes it: a line number, then anything (the memo never looks in).
fn encoded(line: u64, body: &str) -> Vec<u8> {
    let mut e = line.to_le_bytes().to_vec();
    e.extend_from_slice(body.as_bytes());
    e
}

/// One night: each line is a record of scope `C<n>` (its first character's number) or, when
/// it starts with `-`, no record. Lines the memo of the night before has are taken from it,
/// as pass 1 does.
fn write(settings: &MemoSettings, old: Option<Arc<LineMemo>>, lines: &[&str]) -> bool {
    let mut w = MemoWriter::new(settings.clone(), old.clone());
    let mut scopes: Vec<ScopeKey> = Vec::new();
    let mut cursor = Cursor::default();
    let mut records = Records::default();
    for (i, line) in lines.iter().enumerate() {
        let fp = fingerprint(line);
        if line.starts_with('-') {
            w.no_record(fp).unwrap();
            continue;
        }
        let key = scope(&line[..1]);
        let n = scopes.iter().position(|s| *s == key).unwrap_or_else(|| {
            scopes.push(key);
            scopes.len() - 1
        });
        let mine = encoded(i as u64 + 1, &format!("rec {line}"));
        let mut copied = Vec::new();
        let stored = old.as_ref().and_then(|m| {
            let hit = m.find(i as u64, fp, &mut cursor)?;
            records
                .put(m, &hit, i as u64 + 1, &mut copied)
                .then_some(hit.stored)
        });
        if stored.is_some() {
            assert_eq!(copied, mine, "{line}");
        }
        w.record(fp, n, &mine, stored).unwrap();
    }
    w.finish(&scopes).unwrap()
}

fn as_str(lines: &[String]) -> Vec<&str> {
    lines.iter().map(String::as_str).collect()
}

fn data_len(s: &MemoSettings) -> u64 {
    std::fs::metadata(s.data_path()).unwrap().len()
}

fn settings(dir: &tempfile::TempDir) -> MemoSettings {
    MemoSettings::at(dir.path().join("lines").join("m.tsm"), "key 1")
}

/// What `find` gives each line of `lines`, looked up in order with one cursor.
fn found(memo: &LineMemo, lines: &[&str]) -> Vec<Option<String>> {
    let mut cursor = Cursor::default();
    let mut records = Records::default();
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let h = memo.find(i as u64, fingerprint(line), &mut cursor)?;
            let mut out = Vec::new();
            if !records.put(memo, &h, 99, &mut out) {
                return None;
            }
            assert_eq!(out[..8], 99u64.to_le_bytes());
            Some(format!(
                "{}:{}",
                h.scope.customer,
                std::str::from_utf8(&out[8..]).unwrap()
            ))
        })
        .collect()
}

#[test]
fn a_memo_gives_back_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    assert_eq!(LineMemo::load(&s).err(), Some(Unusable::Absent));
    assert!(write(&s, None, &["1a", "2b", "-x", "1c"]));
    let memo = LineMemo::load(&s).unwrap();
    assert_eq!(memo.len(), 4);
    assert_eq!(
        found(&memo, &["1a", "2b", "-x", "1c", "1d"]),
        [
            Some("1:rec 1a".to_string()),
            Some("2:rec 2b".to_string()),
            None,
            Some("1:rec 1c".to_string()),
            None
        ]
    );
}

#[test]
fn lines_that_moved_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let night: Vec<String> = (0..200).map(|i| format!("{}line {i}", i % 3)).collect();
    let lines: Vec<&str> = night.iter().map(String::as_str).collect();
    write(&s, None, &lines);
    let memo = LineMemo::load(&s).unwrap();
    // Two lines inserted at the top: the neighbours find the rest.
    let mut shifted = vec!["0new", "1new"];
    shifted.extend(&lines);
    let hits = found(&memo, &shifted);
    assert_eq!(hits.iter().filter(|h| h.is_some()).count(), 200);
    assert!(memo.by_fingerprint.get().is_none(), "no index was needed");
    // Thirty lines inserted, and the report's halves swapped: the index finds them.
    let mut moved: Vec<String> = (0..30).map(|i| format!("2inserted {i}")).collect();
    moved.extend(night[100..].iter().cloned());
    moved.extend(night[..100].iter().cloned());
    let moved: Vec<&str> = moved.iter().map(String::as_str).collect();
    let hits = found(&memo, &moved);
    assert_eq!(hits[..30], vec![None; 30]);
    assert!(hits[30..].iter().all(Option::is_some));
    assert_eq!(hits[30], Some("1:rec 1line 100".to_string()));
}

#[test]
fn an_unchanged_night_writes_nothing_and_a_changed_one_keeps_the_same_part() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let first = ["1a", "2b", "-x", "1c", "3d"];
    assert!(write(&s, None, &first));
    let inode = std::fs::metadata(&s.path).unwrap().ino();
    let old = Arc::new(LineMemo::load(&s).unwrap());
    assert!(!write(&s, Some(Arc::clone(&old)), &first));
    assert_eq!(std::fs::metadata(&s.path).unwrap().ino(), inode);
    for next in [
        &["1a", "2b", "-x", "1C", "3d"][..],
        &["1a", "2b", "-x"][..],
        &["1a", "2b", "-x", "1c", "3d", "4e"][..],
        &["-y", "1a"][..],
        &[][..],
    ] {
        // Each case starts from the first night's memo.
        write(&s, None, &first);
        let old = Arc::new(LineMemo::load(&s).unwrap());
        assert!(write(&s, Some(old), next), "{next:?}");
        let memo = LineMemo::load(&s).unwrap();
        assert_eq!(memo.len(), next.len());
        let expected: Vec<Option<String>> = next
            .iter()
            .map(|l| (!l.starts_with('-')).then(|| format!("{}:rec {l}", &l[..1])))
            .collect();
        assert_eq!(found(&memo, next), expected, "{next:?}");
    }
    // A memo whose data file was written over since it was read appends to the file it
    // read; the index it leaves names that file, so the next run finds no memo rather than
    // another file's records.
    write(&s, None, &first);
    let old = Arc::new(LineMemo::load(&s).unwrap());
    write(&s, None, &first);
    assert!(write(&s, Some(old), &["1a", "2z"]));
    assert_eq!(LineMemo::load(&s).err(), Some(Unusable::Absent));
}

#[test]
fn a_damaged_or_foreign_memo_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    write(&s, None, &["1a", "2b", "1c"]);
    let good = std::fs::read(&s.path).unwrap();
    let other = MemoSettings::at(s.path.clone(), "key 2");
    assert_eq!(LineMemo::load(&other).err(), Some(Unusable::Absent));
    for at in [0, 9, 20, good.len() / 2, good.len() - 30, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        std::fs::write(&s.path, &bad).unwrap();
        assert!(
            matches!(LineMemo::load(&s), Err(Unusable::Damaged(_))),
            "byte {at}"
        );
    }
    for len in [0, 7, 30, good.len() - 1] {
        std::fs::write(&s.path, &good[..len]).unwrap();
        assert!(
            matches!(LineMemo::load(&s), Err(Unusable::Damaged(_))),
            "{len} bytes"
        );
    }
}

#[test]
fn a_changed_night_appends_what_changed_and_a_fresh_file_follows_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let mut night: Vec<String> = (0..400).map(|i| format!("{}line {i}", i % 3)).collect();
    write(&s, None, &as_str(&night));
    let fresh = data_len(&s);
    let id = LineMemo::load(&s).unwrap().data_id;
    // Each night four lines change: four records are appended, nothing else is written to
    // the data file, until the appended records pass a tenth of those in use.
    let mut fresh_again = false;
    for n in 1..=15 {
        for k in 0..4 {
            night[(n * 37 + k * 101) % 400] = format!("{}changed {n} {k}", k % 3);
        }
        let before = data_len(&s);
        let old = Arc::new(LineMemo::load(&s).unwrap());
        assert!(write(&s, Some(Arc::clone(&old)), &as_str(&night)));
        let memo = LineMemo::load(&s).unwrap();
        let expected: Vec<Option<String>> = night
            .iter()
            .map(|l| Some(format!("{}:rec {l}", &l[..1])))
            .collect();
        assert_eq!(found(&memo, &as_str(&night)), expected, "night {n}");
        if memo.data_id == id {
            assert!(!fresh_again, "night {n}: appended to a file written over");
            assert!(data_len(&s) > before, "night {n}");
            assert!(
                data_len(&s) - before < (fresh - DATA_HEAD) / 50,
                "night {n}"
            );
        } else {
            fresh_again = true;
            assert!(
                data_len(&s) * 10 <= fresh * 11,
                "night {n}: fresh file of {} bytes",
                data_len(&s)
            );
        }
    }
    assert!(fresh_again, "the data file was never written fresh");
}

#[test]
fn a_damaged_record_is_derived_and_a_missing_or_foreign_data_file_is_no_memo() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let lines = ["1a", "2b", "1c"];
    write(&s, None, &lines);
    let good = std::fs::read(s.data_path()).unwrap();
    // The last byte belongs to the last record.
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 1;
    std::fs::write(s.data_path(), &bad).unwrap();
    let memo = LineMemo::load(&s).unwrap();
    assert_eq!(
        found(&memo, &lines),
        [
            Some("1:rec 1a".to_string()),
            Some("2:rec 2b".to_string()),
            None
        ]
    );
    // Another memo's data file.
    let mut foreign = good.clone();
    foreign[8] ^= 1;
    std::fs::write(s.data_path(), &foreign).unwrap();
    assert_eq!(LineMemo::load(&s).err(), Some(Unusable::Absent));
    std::fs::remove_file(s.data_path()).unwrap();
    assert_eq!(LineMemo::load(&s).err(), Some(Unusable::Absent));
}
