//! Types that cross the `Target` seam: what a scope download returns, what an apply sends and
//! answers, and what a sync session records. The embedded store returns them directly; the HTTP
//! server serialises exactly these as JSON, so both targets speak one language.

use crate::field::Field;
use crate::strict;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A scope: the volumes of one media type of one customer. Read strictly (no unknown
/// members), as the API's description promises for `POST /api/v1/scope-versions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeKey {
    pub customer: String,
    pub media: String,
}

impl fmt::Display for ScopeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.customer, self.media)
    }
}

/// One volume as the inventory holds it. `fields` holds only attributes that have a value, in
/// canonical form (see [`crate::canonicalise`]); an absent key means "no value".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeState {
    pub volume: String,
    pub version: u64,
    #[serde(default)]
    pub fields: BTreeMap<Field, String>,
}

/// A repository of a customer (e.g. `LIBR` library, `OFFS` offsite vault).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryInfo {
    pub id: String,
    #[serde(default)]
    pub description: String,
}

/// Everything the runtime caches for one scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeSnapshot {
    /// Whether the customer exists (if not, nothing else does either).
    pub customer_exists: bool,
    /// Whether the media type exists for the customer.
    pub media_exists: bool,
    /// The customer's repositories, for REPOSITORY checks and REPOSITORY_DESC look-ups.
    pub repositories: Vec<RepositoryInfo>,
    /// Every volume of the scope.
    pub volumes: Vec<VolumeState>,
}

/// A change to one volume: the fields to set (`Some`) or clear (`None`).
///
/// Read strictly, as the API's description promises (docs/openapi.json): no unknown members,
/// and `set` names each field once, by its canonical upper-case name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeChange {
    pub volume: String,
    /// The version the change was diffed against; `None` asks to create the volume, which is a
    /// conflict if it exists by then.
    #[serde(default, deserialize_with = "strict::optional_u64")]
    pub expected_version: Option<u64>,
    #[serde(deserialize_with = "strict::canonical_field_map")]
    pub set: BTreeMap<Field, Option<String>>,
}

/// A batch of changes to one scope, applied atomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyBatch {
    /// Unique per batch and stable across retries: a target that sees the same key twice
    /// answers with the first outcome instead of applying again.
    pub idempotency_key: String,
    /// The sync session the changes belong to (for the audit trail).
    #[serde(default, deserialize_with = "strict::optional_i64")]
    pub session: Option<i64>,
    /// Create the volumes the batch names that the scope does not hold (`tapesync run
    /// --add-new`); without it such changes are rejected per volume. Without `create` (older
    /// clients) it also creates a missing customer, media and repositories.
    #[serde(default)]
    pub create_missing: bool,
    /// The customer, media and repositories the batch may create if they are missing; any
    /// other unknown one rejects the changes that name it. Absent: `create_missing` decides
    /// for them too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<CreateIds>,
    pub changes: Vec<VolumeChange>,
}

/// What an [`ApplyBatch`] may create besides volumes (`tapesync run` sends what the
/// definition names under `--add-new`, everything with `--add-new-ids`; docs/running.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateIds {
    /// The batch's customer, if it is missing.
    #[serde(default)]
    pub customer: bool,
    /// The batch's media, if it is missing.
    #[serde(default)]
    pub media: bool,
    /// These repositories of the customer, if they are missing.
    #[serde(default)]
    pub repositories: Vec<String>,
}

/// What happened to one volume of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum VolumeOutcome {
    Applied {
        version: u64,
    },
    Created {
        version: u64,
    },
    /// The volume's version was not the expected one (someone else changed it); nothing written.
    Conflict {
        current_version: Option<u64>,
    },
    /// The change cannot be applied (e.g. an unknown repository the batch may not create).
    Rejected {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<Field>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeResult {
    pub volume: String,
    #[serde(flatten)]
    pub outcome: VolumeOutcome,
}

/// One batch of a [`BatchGroup`]: the scope it applies to, and the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopedBatch {
    pub customer: String,
    pub media: String,
    pub batch: ApplyBatch,
}

/// Several batches, of one scope or several, applied in one transaction: all of them or none
/// (`POST /api/v1/batches`). A night's changes then cost one durable commit per group instead
/// of one per batch. Each batch keeps its own idempotency key: a batch recorded before answers
/// with its recorded response inside the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchGroup {
    pub batches: Vec<ScopedBatch>,
}

/// The answer to a [`BatchGroup`]: one [`ApplyResponse`] per batch, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchGroupResponse {
    pub responses: Vec<ApplyResponse>,
}

/// Most batches one [`BatchGroup`] may hold. The store refuses a larger group, and so does
/// the server before it reads the store.
pub const MAX_GROUP_BATCHES: usize = 1_000;
/// Most changes the batches of one [`BatchGroup`] may hold together: as many as one batch
/// may hold, so a group never keeps a transaction open longer than the largest batch.
pub const MAX_GROUP_CHANGES: usize = 50_000;

/// The answer to an [`ApplyBatch`]: one result per change, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyResponse {
    /// True when this key had been applied before and this answer is the recorded one.
    #[serde(default)]
    pub replayed: bool,
    pub results: Vec<VolumeResult>,
    /// How the batch moved its scope's version (see [`ScopeVersions`]); absent from answers
    /// recorded before stores kept scope versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_version: Option<ScopeVersionStep>,
    /// The pending moves the batch created, changed, cancelled or completed (a volume whose
    /// CURRENT_REPOSITORY differs from its REPOSITORY has a pending move); absent when it
    /// touched none.
    #[serde(default, skip_serializing_if = "MoveCounts::is_zero")]
    pub moves: MoveCounts,
    /// Fields the store wrote that the changes did not set (a new volume's CURRENT_REPOSITORY
    /// from its REPOSITORY, or the other way round), sorted: a client that keeps a copy of the
    /// scope with one of these columns cannot bring it up to date from its own changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub implied: Vec<Field>,
}

/// What a batch did to pending moves. A move is *created* when a volume that was where it
/// should be gets another target (or is found elsewhere), *changed* when a pending move gets
/// another target, *cancelled* when its target goes back to where the volume is, and
/// *completed* when the volume is reported (or confirmed) at its target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveCounts {
    #[serde(default, deserialize_with = "strict::u64")]
    pub created: u64,
    #[serde(default, deserialize_with = "strict::u64")]
    pub changed: u64,
    #[serde(default, deserialize_with = "strict::u64")]
    pub cancelled: u64,
    #[serde(default, deserialize_with = "strict::u64")]
    pub completed: u64,
}

impl MoveCounts {
    pub fn is_zero(&self) -> bool {
        *self == MoveCounts::default()
    }

    pub fn add(&mut self, other: &MoveCounts) {
        self.created += other.created;
        self.changed += other.changed;
        self.cancelled += other.cancelled;
        self.completed += other.completed;
    }
}

/// A scope's version before and after one batch, read inside the batch's transaction.
///
/// `only_this_batch` is true when nothing but this batch's own write of the scope's volumes
/// moved the version in between (and the batch created no customer, media type or
/// repository): a client that held the scope's table at `before` then holds it at `after`
/// once it applies the batch's own outcomes to it. Anything else leaves such a copy in doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeVersionStep {
    pub before: u64,
    pub after: u64,
    pub only_this_batch: bool,
}

/// The scopes whose versions a client asks for, in one request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeVersionsRequest {
    pub scopes: Vec<ScopeKey>,
}

/// The store's identity and the current version of each scope asked for.
///
/// A scope's version is a counter that moves in the same transaction as every write that
/// changes what a scope download returns: its volumes, and the existence, media types and
/// repositories of its customer. Two downloads of a scope at the same version of the same
/// store are identical. `store` is created once per store (a copy made by export and import
/// is another store). Scopes of customers the caller may not read are left out, exactly as
/// if they did not exist; a readable scope that does not exist has version 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeVersions {
    pub store: String,
    pub scopes: Vec<ScopeVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeVersion {
    pub customer: String,
    pub media: String,
    pub version: u64,
}

/// How a sync session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionOutcome {
    Running,
    Completed,
    DryRun,
    Failed,
    /// Marked by the store, never sent: the run stopped without finishing (killed, lost its
    /// connection) — its client began again, or it was idle too long. Its run may still
    /// finish it.
    Abandoned,
}

/// What a sync session says about itself when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionStart {
    /// SHA-256 of the definition file text, hex.
    pub definition_hash: String,
    pub definition_name: String,
    /// Where the records came from (file path, `-` for stdin, or the command).
    pub source_name: String,
}

/// Statistics of one sync session. Printed as a table, written by `--stats-json`, and
/// recorded with the session in the inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncStatistics {
    #[serde(deserialize_with = "strict::u64")]
    pub records_read: u64,
    #[serde(deserialize_with = "strict::u64")]
    pub records_excluded: u64,
    #[serde(deserialize_with = "strict::u64")]
    pub records_rejected: u64,
    #[serde(deserialize_with = "strict::u64")]
    pub volumes_unchanged: u64,
    #[serde(deserialize_with = "strict::u64")]
    pub volumes_updated: u64,
    #[serde(deserialize_with = "strict::u64")]
    pub volumes_added: u64,
    #[serde(deserialize_with = "strict::u64")]
    pub volumes_not_in_inventory: u64,
    /// Volumes of a synced scope that the report did not name.
    #[serde(deserialize_with = "strict::u64")]
    pub volumes_not_in_report: u64,
    #[serde(deserialize_with = "strict::u64")]
    pub conflicts: u64,
    /// Volumes whose update an `AddSkipOnRepositoryChange` rule vetoed.
    #[serde(deserialize_with = "strict::u64")]
    pub volumes_skipped: u64,
    /// Pending moves created, changed, cancelled and completed by the run's batches (absent
    /// from statistics recorded before the store kept current locations).
    #[serde(default)]
    pub moves: MoveCounts,
    #[serde(deserialize_with = "strict::u64")]
    pub scope_downloads: u64,
    /// Scopes whose table came from the local scope cache instead of a download (absent from
    /// statistics recorded before the cache existed).
    #[serde(default, deserialize_with = "strict::u64")]
    pub scopes_from_cache: u64,
    #[serde(deserialize_with = "strict::u64")]
    pub apply_batches: u64,
    /// Distinct scopes seen in the input.
    #[serde(deserialize_with = "strict::u64")]
    pub scopes: u64,
    /// True when the input arrived unsorted and was grouped by scope before syncing.
    pub grouped_by_scope: bool,
    #[serde(deserialize_with = "strict::u64")]
    pub elapsed_ms: u64,
}

/// A recorded sync session as listed by the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: i64,
    pub user: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub definition_name: String,
    pub definition_hash: String,
    pub source_name: String,
    pub outcome: SessionOutcome,
    pub statistics: Option<SyncStatistics>,
}

/// One entry of a volume's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub user: String,
    pub session: Option<i64>,
    pub field: Field,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A whole inventory (or part of it) as plain data: what `tapesync admin import` loads and
/// `tapesync admin export` writes. Sorted and free of timestamps, so that two inventories with
/// the same content export to the same text (run-case snapshots rely on it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDump {
    #[serde(default)]
    pub customers: Vec<CustomerDump>,
    #[serde(default)]
    pub volumes: Vec<VolumeDump>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDump {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub media: Vec<MediaDump>,
    #[serde(default)]
    pub repositories: Vec<RepositoryInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaDump {
    pub id: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeDump {
    pub customer: String,
    pub media: String,
    pub volume: String,
    /// Present in exports; ignored on import (imported volumes start at version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default)]
    pub fields: BTreeMap<Field, String>,
}
