//! The markup of the web page, written with `maud`: the templates are Rust expressions checked
//! by the compiler, and every value spliced into them is escaped unless it is wrapped in
//! `PreEscaped` (used here only for the constant style sheet). Handlers in `super` gather the
//! data; the functions here only shape it.

use super::links::{query_value, VolumeFilter};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use tapesync_model::{
    AuditEntry, CustomerDump, Field, ScopeKey, SessionOutcome, SessionRecord, VolumeState,
};
use tapesync_store::{ScratchLevel, User, VolumeCount, VolumeList};

/// The page's whole style sheet. Wide tables scroll inside their own box rather than pushing
/// the page past the screen, and long file paths break anywhere (a 1280-pixel screen must show
/// the whole page without scrolling sideways).
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:78rem;color:#222}\
.wide{max-width:100%;overflow-x:auto}\
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.875rem}th,td{border:1px solid #bbb;padding:.2rem .4rem;text-align:left;vertical-align:top}\
th{background:#eee}td.n{text-align:right}td.path{overflow-wrap:anywhere;word-break:break-all;min-width:6rem}\
.err{color:#a00;font-weight:bold}tr.short td{background:#fdd;font-weight:bold}header{display:flex;justify-content:space-between;align-items:center;flex-wrap:wrap}\
form.inline{display:inline}label{margin-right:.5rem}form.filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end}\
nav.pages a,nav.pages span{margin-right:1rem}\
@media print{header form,form,nav.pages,#confirm{display:none}body{margin:0}}";

/// A whole page around `body`.
pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — tapesync" }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

pub fn error(message: &str) -> Markup {
    html! {
        h1 { "tapesync inventory" }
        p.err { (message) }
        p { a href="/" { "Back to the overview" } }
    }
}

pub fn logon_form(message: Option<&str>) -> Markup {
    html! {
        h1 { "tapesync inventory" }
        @if let Some(m) = message {
            p.err #logon-error { (m) }
        }
        form method="post" action="/logon" #logon {
            p { label for="user" { "User" } input #user name="user" autocomplete="username" required; }
            p {
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
            }
            p { button type="submit" { "Log on" } }
        }
    }
}

pub fn header_bar(user: &User) -> Markup {
    html! {
        header {
            h1 { a href="/" { "tapesync inventory" } }
            div {
                "Logged on as " strong #user-name { (user.name) }
                @if user.is_admin { " (administrator)" }
                " "
                form.inline method="post" action="/logout" { button type="submit" { "Log off" } }
            }
        }
    }
}

pub fn search_form(volume: &str) -> Markup {
    html! {
        form method="get" action="/volume" #search {
            label for="volume" { "Find volume" }
            input #volume name="volume" value=(volume) maxlength="10" required;
            " " button type="submit" { "Search" }
        }
    }
}

fn described(id: &str, description: &str) -> Markup {
    html! {
        (id)
        @if !description.is_empty() { " (" (description) ")" }
    }
}

fn list_or_none<'a>(items: impl ExactSizeIterator<Item = (&'a str, &'a str)>) -> Markup {
    let empty = items.len() == 0;
    html! {
        @if empty { "none" }
        @for (i, (id, description)) in items.enumerate() {
            @if i > 0 { ", " }
            (described(id, description))
        }
    }
}

pub fn scratch_label(s: Option<bool>) -> &'static str {
    match s {
        Some(true) => "scratch",
        Some(false) => "active",
        None => "unknown",
    }
}

/// One customer of the overview: its media and repositories and the volume counts by media,
/// repository and scratch state, each count a link to the volumes behind it.
pub fn customer_section(
    customer: &CustomerDump,
    counts: &[VolumeCount],
    levels: &[ScratchLevel],
) -> Markup {
    let total: u64 = counts.iter().map(|c| c.count).sum();
    let all = VolumeFilter::customer(&customer.id);
    html! {
        section.customer id={ "customer-" (customer.id) } data-customer=(customer.id) {
            h3 { (customer.id) " — " (customer.name) }
            p {
                "Media: " (list_or_none(customer.media.iter().map(|m| (m.id.as_str(), m.description.as_str())))) ". "
                "Repositories: " (list_or_none(customer.repositories.iter().map(|r| (r.id.as_str(), r.description.as_str())))) ". "
                "Volumes: " a.total href=(all.href()) { (total) } ". "
                a.moves href={ "/moves?customer=" (query_value(&customer.id)) } { "Pending moves (picking lists)" } ", "
                a.moving href=(VolumeFilter { pending: Some("yes".into()), ..all.clone() }.href()) { "volumes with a pending move" } ", "
                a.reconciliations href={ "/reconciliations?customer=" (query_value(&customer.id)) } { "Reconciliations" }
            }
            table {
                thead { tr { th { "Media" } th { "Repository" } th { "Scratch state" } th { "Volumes" } } }
                tbody {
                    @for c in counts {
                        @let repository = c.repository.as_deref().unwrap_or("");
                        @let scratch = scratch_label(c.scratch);
                        @let link = VolumeFilter {
                            media: Some(c.media.clone()),
                            repository: Some(if repository.is_empty() { VolumeFilter::NO_REPOSITORY.into() } else { repository.into() }),
                            scratch: Some(scratch.into()),
                            ..all.clone()
                        };
                        tr data-media=(c.media) data-repository=(repository) data-scratch=(scratch) {
                            td { (c.media) }
                            td { @if repository.is_empty() { "(none)" } @else { (repository) } }
                            td { (scratch) }
                            td.n.count { a href=(link.href()) { (c.count) } }
                        }
                    }
                }
            }
            @if !levels.is_empty() {
                (scratch_levels(&all, levels))
            }
        }
    }
}

/// An RFC 3339 timestamp that may break between its date and its time (narrow tables).
fn timestamp(t: &str) -> Markup {
    match t.split_once('T') {
        Some((date, time)) => html! { (date) "T" wbr; (time) },
        None => html! { (t) },
    }
}

/// The scratch volumes of each place with a minimum, against the minimum; a place under its
/// minimum is marked (`class="short"`), and each level links to its scratch volumes.
fn scratch_levels(all: &VolumeFilter, levels: &[ScratchLevel]) -> Markup {
    html! {
        table.scratch-levels {
            thead { tr { th { "Media" } th { "Repository" } th { "Scratch volumes" } th { "Minimum" } th { "State" } } }
            tbody {
                @for l in levels {
                    @let link = VolumeFilter {
                        media: Some(l.media.clone()),
                        repository: Some(l.repository.clone()),
                        scratch: Some("scratch".into()),
                        ..all.clone()
                    };
                    tr class=[l.is_short().then_some("short")] data-media=(l.media) data-repository=(l.repository) {
                        td { (l.media) }
                        td { (l.repository) }
                        td.n.level { a href=(link.href()) { (l.scratch) } }
                        td.n.minimum { (l.minimum) }
                        td.state { @if l.is_short() { "below minimum" } @else { "ok" } }
                    }
                }
            }
        }
    }
}

fn outcome_label(o: SessionOutcome) -> &'static str {
    match o {
        SessionOutcome::Running => "running",
        SessionOutcome::Completed => "completed",
        SessionOutcome::DryRun => "dry run",
        SessionOutcome::Abandoned => "abandoned",
        SessionOutcome::Failed => "failed",
    }
}

/// The recent sync sessions. Definition and source are file paths of any length: they share
/// one column whose cells break anywhere, so the table fits a 1280-pixel screen.
pub fn sessions_table(sessions: &[SessionRecord]) -> Markup {
    html! {
        @if sessions.is_empty() {
            p #no-sessions { "No sync sessions yet." }
        } @else {
            div.wide {
                table #sessions {
                    thead {
                        tr {
                            th { "Session" } th { "User" } th { "Started / finished" } th { "Outcome" }
                            th { "Definition / source" } th { "Records read" } th { "Rejected" } th { "Unchanged" }
                            th { "Updated" } th { "Added" } th { "Conflicts" } th { "Scope downloads" }
                            th { "Apply batches" } th { "Elapsed ms" }
                        }
                    }
                    tbody {
                        @for s in sessions {
                            tr data-session=(s.id) {
                                td.n { (s.id) }
                                td { (s.user) }
                                td { (timestamp(&s.started_at)) br; (timestamp(s.finished_at.as_deref().unwrap_or(""))) }
                                td { (outcome_label(s.outcome)) }
                                td.path { span.definition { (s.definition_name) } br; span.source { (s.source_name) } }
                                @match &s.statistics {
                                    Some(st) => {
                                        @for (class, n) in [
                                            ("records-read", st.records_read),
                                            ("rejected", st.records_rejected),
                                            ("unchanged", st.volumes_unchanged),
                                            ("updated", st.volumes_updated),
                                            ("added", st.volumes_added),
                                            ("conflicts", st.conflicts),
                                            ("scope-downloads", st.scope_downloads),
                                            ("apply-batches", st.apply_batches),
                                            ("elapsed", st.elapsed_ms),
                                        ] {
                                            td class={ "n " (class) } { (n) }
                                        }
                                    }
                                    None => { td colspan="9" { "no statistics recorded" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn volume_not_found(volume: &str) -> Markup {
    html! { p.err #not-found { "No volume " (volume) " in the customers you may read." } }
}

pub fn volume_matches(volume: &str, scopes: &[ScopeKey]) -> Markup {
    html! {
        p { "Volume " (volume) " exists in several scopes:" }
        ul #matches {
            @for scope in scopes {
                li {
                    a href={ "/volume?customer=" (query_value(&scope.customer)) "&media=" (query_value(&scope.media)) "&volume=" (query_value(volume)) } {
                        (scope.customer) " " (scope.media) " " (volume)
                    }
                }
            }
        }
    }
}

pub fn volume_details(scope: &ScopeKey, volume: &VolumeState, history: &[AuditEntry]) -> Markup {
    html! {
        h2 #volume-title {
            "Volume " (volume.volume) " "
            small { "customer " (scope.customer) ", media " (scope.media) ", version " span #volume-version { (volume.version) } }
        }
        table #volume-fields {
            thead { tr { th { "Field" } th { "Value" } } }
            tbody {
                @for (field, value) in &volume.fields {
                    tr { th { (field) } td { (value) } }
                }
            }
        }
        h3 { "Change history" }
        @if history.is_empty() {
            p #no-history { "No recorded changes." }
        } @else {
            div.wide {
                table #history {
                    thead { tr { th { "When" } th { "User" } th { "Session" } th { "Field" } th { "Old" } th { "New" } } }
                    tbody {
                        @for e in history {
                            tr {
                                td { (timestamp(&e.at)) } td { (e.user) }
                                td { @if let Some(s) = e.session { (s) } }
                                td { (e.field) }
                                td { (e.old.as_deref().unwrap_or("")) }
                                td { (e.new.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The volume list of one customer: the filter form, the CSV link, one page of volumes and
/// the links to the next page and back to the start.
pub fn volume_list(
    user: &User,
    customer: &CustomerDump,
    filter: &VolumeFilter,
    list: &VolumeList,
) -> Markup {
    let selected = |value: &Option<String>, option: &str| value.as_deref() == Some(option);
    let repository_label = |r: &str| {
        if r == VolumeFilter::NO_REPOSITORY {
            "(none)".to_string()
        } else {
            r.to_string()
        }
    };
    html! {
        (header_bar(user))
        h2 #list-title { "Volumes of " (customer.id) " — " (customer.name) }
        form.filters method="get" action="/volumes" #filters {
            input type="hidden" name="customer" value=(customer.id);
            label { "Media " select name="media" #f-media {
                option value="" { "any" }
                @for m in &customer.media {
                    option value=(m.id) selected[selected(&filter.media, &m.id)] { (m.id) }
                }
            } }
            label { "Repository " select name="repository" #f-repository {
                option value="" { "any" }
                @for r in customer.repositories.iter().map(|r| r.id.as_str()).chain([VolumeFilter::NO_REPOSITORY]) {
                    option value=(r) selected[selected(&filter.repository, r)] { (repository_label(r)) }
                }
            } }
            label { "Scratch state " select name="scratch" #f-scratch {
                option value="" { "any" }
                @for s in ["scratch", "active", "unknown"] {
                    option value=(s) selected[selected(&filter.scratch, s)] { (s) }
                }
            } }
            label { "Pending move " select name="pending" #f-pending {
                option value="" { "any" }
                @for p in ["yes", "no"] {
                    option value=(p) selected[selected(&filter.pending, p)] { (p) }
                }
            } }
            label { "Volume-ID contains "
                input type="search" name="text" #f-text maxlength="10" value=(filter.text.as_deref().unwrap_or(""));
            }
            button type="submit" { "Filter" }
        }
        p {
            span #list-total { (list.total) } " volumes match. "
            a #csv-export href=(filter.first().csv_href()) { "Export all " (list.total) " as CSV" }
        }
        @if list.volumes.is_empty() {
            p #no-volumes { "No volumes match these filters." }
        } @else {
            div.wide {
                table #volumes {
                    thead { tr {
                        th { "Media" } th { "Volume" } th { "Version" } th { "Repository" } th { "Now in" } th { "Slot" }
                        th { "Scratch" } th { "Move date" } th { "Expiry date" } th { "Description" }
                    } }
                    tbody {
                        @for v in &list.volumes {
                            @let field = |f: Field| v.volume.fields.get(&f).map(String::as_str).unwrap_or("");
                            tr data-volume=(v.volume.volume) {
                                td { (v.media) }
                                td { a href={ "/volume?customer=" (query_value(&customer.id)) "&media=" (query_value(&v.media)) "&volume=" (query_value(&v.volume.volume)) } { (v.volume.volume) } }
                                td.n { (v.volume.version) }
                                td { (field(Field::Repository)) }
                                td { (field(Field::CurrentRepository)) }
                                td { (field(Field::Slot)) }
                                td { (field(Field::Scratch)) }
                                td { (field(Field::MoveDate)) }
                                td { (field(Field::ExpiryDate)) }
                                td.path { (field(Field::Description)) }
                            }
                        }
                    }
                }
            }
        }
        nav.pages {
            @if filter.after.is_some() {
                a #first-page href=(filter.first().href()) { "First page" }
            }
            @if let (true, Some(last)) = (list.more, list.volumes.last()) {
                a #next-page href=(filter.after(&last.media, &last.volume.volume).href()) { "Next page" }
            }
        }
    }
}
