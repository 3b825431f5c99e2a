//! Settled scopes: scopes whose comparison tonight is known before it is made, because the
//! report gives them the very lines of a run that left them equal to the inventory, and no
//! one has written to them since (docs/running.md, "Settled scopes").
//!
//! A run records, per scope that ended *clean* — every record of the scope equal to its
//! volume once the run's own changes were applied: no rejection, no skipped change, no volume
//! missing from the inventory or from the report, every change applied by the run's own
//! writes — the scope's version after the run, a digest of the scope's lines (the wrapping
//! sum of their fingerprints, and their number) and how many volumes the lines name. The
//! next run whose lines of the scope have the same digest, against the scope at the same
//! version (the versions call tells), would compare every record unchanged: it counts them
//! so and neither loads nor compares the scope. Valid only where a record depends on its line
//! alone (the line memo's plans, `line_memo::eligible`), and only for the same plan, input,
//! executable, target and store (the file's key).
//!
//! File format (little-endian): magic `TSSETTLE`, format (u32), the key (u32 length, UTF-8),
//! the number of scopes (u32), per scope the customer and media (u16 length and UTF-8 each),
//! the version (u64), the digest (u128), the number of lines (u64) and of volumes (u64), and
//! the volumes missing from the report as the statistics list them (u32 count, then u16
//! length and UTF-8 each); then a CRC-32 of everything before it (u32). Written to a
//! temporary file and renamed.

use crate::cache_file::{put_text, replace, Reader};
use crate::observer::Observer;
use crate::scope::cache::ScopeCache;
use crate::spill::Spill;
use crate::stats::{RunStats, LIST_CAP};
use rustc_hash::FxHashMap;
use std::io;
use std::path::{Path, PathBuf};
use tapesync_model::ScopeKey;

const MAGIC: &[u8; 8] = b"TSSETTLE";
const FORMAT: u32 = 1;

/// The lines of one scope in a run: the wrapping sum of their fingerprints, and how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LineDigest {
    pub(crate) sum: u128,
    pub(crate) lines: u64,
}

impl LineDigest {
    pub(crate) fn add(&mut self, fp: u128) {
        self.sum = self.sum.wrapping_add(fp);
        self.lines += 1;
    }
}

/// A scope that a run left clean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settlement {
    pub(crate) scope: ScopeKey,
    /// The scope's version when the run left it.
    pub(crate) version: u64,
    pub(crate) digest: LineDigest,
    /// Volumes the lines name (each counted unchanged when the scope is settled).
    pub(crate) volumes: u64,
    /// The scope's volumes the lines do not name, as the statistics list them.
    pub(crate) unreported: Vec<String>,
}

/// What pass 2 tells about the scopes it compared.
#[derive(Debug, Default)]
pub(crate) struct Compared {
    /// The scopes it left clean (their digests are filled in by [`Settling::finish`]).
    pub(crate) clean: Vec<Settlement>,
    /// Where each scope's volumes missing from the report are in the statistics' list.
    pub(crate) unreported: Vec<(ScopeKey, std::ops::Range<usize>)>,
}

/// The settlements a run left, when they were left for `key`; `Ok(vec![])` when there is no
/// file or it is another key's; `Err` when it is damaged.
pub(crate) fn load(path: &Path, key: &str) -> Result<Vec<Settlement>, String> {
    load_if(path, |k| k == key)
}

/// The scopes that tonight's run is likely to settle, told before pass 1 so that pass 1 need
/// not keep their lines (`Spill::expect_settled`): those the last run left settled for `key`
/// (the memo's key and the target) whose version is still the one it left, by a versions call
/// of their own. Only a guess — the run settles nothing on it — so anything amiss (no file, a
/// damaged one, a failed call) gives none.
pub(crate) fn likely_settled(
    path: &Path,
    key: &str,
    target: &mut dyn crate::target::Target,
) -> Vec<ScopeKey> {
    let prefix = format!("{key}\nstore=");
    let mut store = String::new();
    let Ok(left) = load_if(path, |k| match k.strip_prefix(&prefix) {
        Some(s) => {
            store = s.to_string();
            true
        }
        None => false,
    }) else {
        return Vec::new();
    };
    if left.is_empty() {
        return Vec::new();
    }
    let scopes: Vec<ScopeKey> = left.iter().map(|s| s.scope.clone()).collect();
    let Ok(now) = target.scope_versions(&scopes) else {
        return Vec::new();
    };
    if now.store != store {
        return Vec::new();
    }
    let versions: FxHashMap<(&str, &str), u64> = now
        .scopes
        .iter()
        .map(|v| ((v.customer.as_str(), v.media.as_str()), v.version))
        .collect();
    left.into_iter()
        .filter(|s| {
            versions.get(&(s.scope.customer.as_str(), s.scope.media.as_str())) == Some(&s.version)
        })
        .map(|s| s.scope)
        .collect()
}

/// [`load`] for a key that `accept` accepts.
fn load_if(path: &Path, mut accept: impl FnMut(&str) -> bool) -> Result<Vec<Settlement>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let damaged = |why: &str| format!("{}: {why}", path.display());
    if bytes.len() < 24 || &bytes[..8] != MAGIC {
        return Err(damaged("not a file of settled scopes"));
    }
    let crc_at = bytes.len() - 4;
    if crc32fast::hash(&bytes[..crc_at])
        != u32::from_le_bytes(bytes[crc_at..].try_into().expect("4 bytes"))
    {
        return Err(damaged("damaged or truncated (checksum)"));
    }
    let mut r = Reader::new(&bytes[..crc_at]);
    r.bytes(8);
    let parsed = (|| {
        if r.u32()? != FORMAT {
            return Some(None);
        }
        let key_len = r.u32()? as usize;
        match std::str::from_utf8(r.bytes(key_len)?) {
            Ok(k) if accept(k) => {}
            _ => return Some(None),
        }
        let count = r.u32()?;
        let mut out = Vec::new();
        for _ in 0..count {
            let customer = r.text()?;
            let media = r.text()?;
            out.push(Settlement {
                scope: ScopeKey { customer, media },
                version: r.u64()?,
                digest: LineDigest {
                    sum: r.u128()?,
                    lines: r.u64()?,
                },
                volumes: r.u64()?,
                unreported: (0..r.u32()?).map(|_| r.text()).collect::<Option<_>>()?,
            });
        }
        r.is_done().then_some(Some(out))
    })();
    match parsed {
        Some(Some(settled)) => Ok(settled),
        Some(None) => Ok(Vec::new()),
        None => Err(damaged("inconsistent content")),
    }
}

/// Writes the settlements of a run for `key` (replacing the file).
pub(crate) fn save(path: &Path, key: &str, settled: &[Settlement]) -> io::Result<()> {
    let mut b = Vec::new();
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&FORMAT.to_le_bytes());
    b.extend_from_slice(&(key.len() as u32).to_le_bytes());
    b.extend_from_slice(key.as_bytes());
    b.extend_from_slice(&(settled.len() as u32).to_le_bytes());
    for s in settled {
        put_text(&mut b, &s.scope.customer, "a scope name")?;
        put_text(&mut b, &s.scope.media, "a scope name")?;
        b.extend_from_slice(&s.version.to_le_bytes());
        b.extend_from_slice(&s.digest.sum.to_le_bytes());
        b.extend_from_slice(&s.digest.lines.to_le_bytes());
        b.extend_from_slice(&s.volumes.to_le_bytes());
        b.extend_from_slice(&(s.unreported.len() as u32).to_le_bytes());
        for text in &s.unreported {
            put_text(&mut b, text, "a volume name")?;
        }
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    replace(path, ".tapesync-settled", &[&b])
}

/// Settled scopes in one run: what the last run left, the digests of tonight's lines, and
/// the settlements to leave.
pub(crate) struct Settling {
    path: PathBuf,
    /// The memo's key and the target; the store's identity is added once known.
    key: String,
    /// Tonight's lines per scope.
    digests: FxHashMap<ScopeKey, LineDigest>,
    /// Scopes settled tonight: their settlements stand as they were.
    carried: Vec<Settlement>,
    /// What the last run left for the scopes not settled tonight (compared in part where
    /// they can be, `partial.rs`).
    pub(crate) left: FxHashMap<ScopeKey, Settlement>,
}

impl Settling {
    pub(crate) fn new(
        path: PathBuf,
        key: String,
        scopes: &[ScopeKey],
        digests: Vec<LineDigest>,
    ) -> Settling {
        Settling {
            path,
            key,
            digests: scopes.iter().cloned().zip(digests).collect(),
            carried: Vec::new(),
            left: FxHashMap::default(),
        }
    }

    fn key_for(&self, cache: &ScopeCache) -> Option<String> {
        Some(format!("{}\nstore={}", self.key, cache.store()?))
    }

    /// Takes the scopes of `spill` that the last run settled and that are still as it left
    /// them (same version now, same lines tonight) out of pass 2, counting their volumes
    /// unchanged. Returns the number settled.
    pub(crate) fn settle(
        &mut self,
        cache: &ScopeCache,
        spill: &mut Spill,
        stats: &mut RunStats,
        observer: &mut dyn Observer,
    ) -> u64 {
        let Some(key) = self.key_for(cache) else {
            return 0;
        };
        let left = match load(&self.path, &key) {
            Ok(left) => left,
            Err(why) => {
                observer.warning(&format!(
                    "settled scopes: {why}; every scope is compared, and the file is written again"
                ));
                Vec::new()
            }
        };
        let left: FxHashMap<&ScopeKey, &Settlement> = left.iter().map(|s| (&s.scope, s)).collect();
        let mut settled = 0;
        let keep: Vec<bool> = spill
            .scopes()
            .iter()
            .map(|scope| {
                let still = left.get(scope).filter(|s| {
                    cache.version_of(scope) == Some(s.version)
                        && self.digests.get(scope) == Some(&s.digest)
                });
                let Some(s) = still else {
                    return true;
                };
                stats.statistics.volumes_unchanged += s.volumes;
                // Listed in scope order once pass 2 is done ([`Settling::list_unreported`]).
                stats.statistics.volumes_not_in_report += s.unreported.len() as u64;
                stats.statistics.scopes_from_cache += 1;
                stats.scopes_settled += 1;
                self.carried.push((*s).clone());
                settled += 1;
                false
            })
            .collect();
        if settled > 0 {
            spill.retain_scopes(&keep);
        }
        let carried: rustc_hash::FxHashSet<&ScopeKey> =
            self.carried.iter().map(|s| &s.scope).collect();
        self.left = left
            .into_iter()
            .filter(|(k, _)| !carried.contains(k))
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        settled
    }

    /// Puts the volumes of settled scopes missing from the report into the statistics'
    /// list, where a run comparing every scope would have listed them: in scope order
    /// (`scopes`, all of the run's), up to [`LIST_CAP`]. Pass 2 listed those of the scopes it
    /// compared at `compared` (inserting before them only moves them further back, so what
    /// the cap dropped in pass 2 is dropped here too).
    pub(crate) fn list_unreported(
        &self,
        scopes: &[ScopeKey],
        compared: &[(ScopeKey, std::ops::Range<usize>)],
        stats: &mut RunStats,
    ) {
        if self.carried.iter().all(|s| s.unreported.is_empty()) {
            return;
        }
        let settled: FxHashMap<&ScopeKey, &Settlement> =
            self.carried.iter().map(|s| (&s.scope, s)).collect();
        let listed: FxHashMap<&ScopeKey, &std::ops::Range<usize>> =
            compared.iter().map(|(k, r)| (k, r)).collect();
        let mut list = Vec::new();
        for scope in scopes {
            if let Some(s) = settled.get(scope) {
                list.extend(s.unreported.iter().cloned());
            } else if let Some(range) = listed.get(scope) {
                list.extend_from_slice(&stats.not_in_report[(*range).clone()]);
            }
            if list.len() >= LIST_CAP {
                break;
            }
        }
        list.truncate(LIST_CAP);
        stats.not_in_report = list;
    }

    /// Removes the settlements the last run left, so that the next run settles nothing and
    /// compares every scope in full.
    pub(crate) fn forget(&self, observer: &mut dyn Observer) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => observer.warning(&format!(
                "settled scopes: {}: {e}; remove it by hand so that the next run compares every scope",
                self.path.display()
            )),
        }
    }

    /// Leaves tonight's settlements: the scopes settled tonight, and those pass 2 left clean
    /// (`clean`, their digests filled in here).
    pub(crate) fn finish(
        self,
        cache: &ScopeCache,
        clean: Vec<Settlement>,
        observer: &mut dyn Observer,
    ) {
        let Some(key) = self.key_for(cache) else {
            return;
        };
        let mut all = self.carried;
        for mut s in clean {
            if let Some(d) = self.digests.get(&s.scope) {
                s.digest = *d;
                all.push(s);
            }
        }
        if let Err(e) = save(&self.path, &key, &all) {
            observer.warning(&format!(
                "settled scopes: {}: {e}; the next run compares every scope",
                self.path.display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settlement(c: &str, version: u64) -> Settlement {
        Settlement {
            scope: ScopeKey {
                customer: c.into(),
                media: "LTO".into(),
            },
            version,
            digest: LineDigest {
                sum: u128::MAX - 7,
                lines: 12,
            },
            volumes: 11,
            unreported: vec!["C1.LTO V1".into(), "C1.LTO V7".into()],
        }
    }

    #[test]
    fn settlements_are_read_back_for_their_key_only_and_damage_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.tss");
        assert_eq!(load(&path, "k"), Ok(vec![]));
        let all = vec![settlement("C1", 3), settlement("C2", 9)];
        save(&path, "k", &all).unwrap();
        assert_eq!(load(&path, "k"), Ok(all));
        assert_eq!(load(&path, "other"), Ok(vec![]));
        let good = std::fs::read(&path).unwrap();
        for at in [0, 12, good.len() / 2, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 4;
            std::fs::write(&path, &bad).unwrap();
            assert!(load(&path, "k").is_err(), "byte {at}");
        }
        std::fs::write(&path, &good[..good.len() - 9]).unwrap();
        assert!(load(&path, "k").is_err());
    }
}
