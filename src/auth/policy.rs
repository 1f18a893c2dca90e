//! Who may do what: the route × role table. The HTTP gate looks every authenticated `/api/v1`
//! request up here (one place, not per handler), the README prints it, and the authorization
//! test walks it route by route and role by role.

use super::Role;

/// A route (OpenAPI path template) and the roles that may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub roles: &'static [Role],
}

const ALL: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent];
const STAFF: &[Role] = &[Role::Admin, Role::Supervisor];
const ADMIN: &[Role] = &[Role::Admin];

const fn rule(method: &'static str, path: &'static str, roles: &'static [Role]) -> Rule {
    Rule {
        method,
        path,
        roles,
    }
}

/// Routes anyone may call without a token.
pub const PUBLIC: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
];

/// Every authenticated `/api/v1` route. A route missing here is still authenticated, and the
/// authorization test fails until it is added.
pub const RULES: &[Rule] = &[
    // The caller itself.
    rule("GET", "/api/v1/auth/me", ALL),
    rule("POST", "/api/v1/auth/logout", ALL),
    rule("GET", "/api/v1/openapi.json", ALL),
    // Calls: everyone reads them and adds notes.
    rule("GET", "/api/v1/calls", ALL),
    rule("GET", "/api/v1/calls/{id}", ALL),
    rule("GET", "/api/v1/calls/{id}/messages", ALL),
    rule("GET", "/api/v1/calls/{id}/messages/analytics", ALL),
    rule("GET", "/api/v1/calls/{id}/transcript", ALL),
    rule("GET", "/api/v1/calls/{id}/summary", ALL),
    rule("GET", "/api/v1/calls/{id}/recording", ALL),
    rule("POST", "/api/v1/calls/{id}/notes", ALL),
    // Post-call analysis: everyone sees a call's job; staff run it again; admins define the
    // organization's fields.
    rule("GET", "/api/v1/calls/{id}/analysis", ALL),
    rule("POST", "/api/v1/calls/{id}/analysis", STAFF),
    rule("GET", "/api/v1/analysis/fields", ALL),
    rule("PUT", "/api/v1/analysis/fields/{name}", ADMIN),
    rule("DELETE", "/api/v1/analysis/fields/{name}", ADMIN),
    // AI health: staff; usage and its cap: admins.
    rule("GET", "/api/v1/ai/health", STAFF),
    rule("GET", "/api/v1/usage", ADMIN),
    rule("GET", "/api/v1/usage/cap", ADMIN),
    rule("PUT", "/api/v1/usage/cap", ADMIN),
    // The cluster's nodes, and draining one: admins.
    rule("GET", "/api/v1/cluster", ADMIN),
    rule("POST", "/api/v1/cluster/nodes/{id}/drain", ADMIN),
    // Writing a call's messages (external transcription, imports, corrections): admins and
    // their integrations' keys.
    rule("POST", "/api/v1/calls/{id}/messages", ADMIN),
    rule("POST", "/api/v1/calls/{id}/messages/bulk", ADMIN),
    rule("PATCH", "/api/v1/calls/{id}/messages/{message_id}", ADMIN),
    rule("DELETE", "/api/v1/calls/{id}/messages/{message_id}", ADMIN),
    // Supervising live calls: supervisors and admins.
    rule("GET", "/api/v1/calls/live", STAFF),
    rule("GET", "/api/v1/calls/{id}/supervise", STAFF),
    rule("POST", "/api/v1/calls/{id}/whisper", STAFF),
    rule("POST", "/api/v1/calls/{id}/barge", STAFF),
    rule("POST", "/api/v1/calls/{id}/unbarge", STAFF),
    rule("POST", "/api/v1/calls/{id}/takeover", STAFF),
    rule("POST", "/api/v1/calls/{id}/release", STAFF),
    rule("POST", "/api/v1/calls/{id}/hangup", STAFF),
    // The organization's whole picture: supervisors and admins.
    rule("GET", "/api/v1/analytics", STAFF),
    rule("GET", "/api/v1/conversations", STAFF),
    rule("GET", "/api/v1/conversations/{id}", STAFF),
    rule("GET", "/api/v1/customers/{id}/timeline", STAFF),
    rule("GET", "/api/v1/events", STAFF),
    // Administration.
    rule("GET", "/api/v1/users", ADMIN),
    rule("POST", "/api/v1/users", ADMIN),
    rule("PATCH", "/api/v1/users/{id}", ADMIN),
    rule("GET", "/api/v1/api-keys", ADMIN),
    rule("POST", "/api/v1/api-keys", ADMIN),
    rule("DELETE", "/api/v1/api-keys/{id}", ADMIN),
    rule("GET", "/api/v1/organization/credentials", ADMIN),
    rule("PUT", "/api/v1/organization/credentials", ADMIN),
    rule("GET", "/api/v1/security-events", ADMIN),
    // Lines: agent profiles, webhook tools, IVR menus, phone numbers.
    rule("GET", "/api/v1/agent-profiles", ADMIN),
    rule("POST", "/api/v1/agent-profiles", ADMIN),
    rule("GET", "/api/v1/agent-profiles/{id}", ADMIN),
    rule("PUT", "/api/v1/agent-profiles/{id}", ADMIN),
    rule("DELETE", "/api/v1/agent-profiles/{id}", ADMIN),
    rule("GET", "/api/v1/agent-profiles/{id}/versions", ADMIN),
    rule("GET", "/api/v1/tools", ADMIN),
    rule("PUT", "/api/v1/tools/{name}", ADMIN),
    rule("DELETE", "/api/v1/tools/{name}", ADMIN),
    rule("POST", "/api/v1/organization/tool-secret", ADMIN),
    rule("GET", "/api/v1/ivr-menus", ADMIN),
    rule("POST", "/api/v1/ivr-menus", ADMIN),
    rule("PUT", "/api/v1/ivr-menus/{id}", ADMIN),
    rule("DELETE", "/api/v1/ivr-menus/{id}", ADMIN),
    rule("GET", "/api/v1/phone-numbers", ADMIN),
    rule("POST", "/api/v1/phone-numbers", ADMIN),
    rule("PUT", "/api/v1/phone-numbers/{id}", ADMIN),
    rule("DELETE", "/api/v1/phone-numbers/{id}", ADMIN),
];

impl Rule {
    pub fn allows(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// How many of `path`'s segments match this rule literally (`None`: it does not match).
    fn matches(&self, path: &str) -> Option<usize> {
        let mut literal = 0;
        let mut want = self.path.trim_matches('/').split('/');
        let mut got = path.trim_matches('/').split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return Some(literal),
                (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => {}
                (Some(w), Some(g)) if w == g => literal += 1,
                _ => return None,
            }
        }
    }
}

/// The rule for a request (HEAD as GET); the most literal one when templates overlap.
pub fn rule_for(method: &str, path: &str) -> Option<&'static Rule> {
    let method = if method == "HEAD" { "GET" } else { method };
    RULES
        .iter()
        .filter(|r| r.method == method)
        .filter_map(|r| r.matches(path).map(|literal| (literal, r)))
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, r)| r)
}

/// Whether a request needs no token.
pub fn is_public(method: &str, path: &str) -> bool {
    PUBLIC.iter().any(|(m, p)| *m == method && *p == path)
}

/// The table as Markdown (for the README).
pub fn markdown() -> String {
    let mut out = String::from("| route | admin | supervisor | agent |\n|---|---|---|---|\n");
    for r in RULES {
        let mark = |role| if r.allows(role) { "✔" } else { "–" };
        out.push_str(&format!(
            "| `{} {}` | {} | {} | {} |\n",
            r.method,
            r.path,
            mark(Role::Admin),
            mark(Role::Supervisor),
            mark(Role::Agent)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_find_their_rule_and_the_most_literal_wins() {
        let r = rule_for("GET", "/api/v1/calls/CA123/messages/analytics").unwrap();
        assert_eq!(r.path, "/api/v1/calls/{id}/messages/analytics");
        let r = rule_for("PATCH", "/api/v1/calls/CA123/messages/m1").unwrap();
        assert_eq!(r.path, "/api/v1/calls/{id}/messages/{message_id}");
        let r = rule_for("HEAD", "/api/v1/calls/CA123/recording").unwrap();
        assert!(r.allows(Role::Agent));
        assert!(rule_for("GET", "/api/v1/calls//transcript").is_none());
        assert!(rule_for("GET", "/api/v1/nothing").is_none());
        assert!(
            !rule_for("GET", "/api/v1/analytics")
                .unwrap()
                .allows(Role::Agent)
        );
        assert!(is_public("POST", "/api/v1/auth/login"));
        assert!(!is_public("GET", "/api/v1/auth/login"));
    }

    #[test]
    fn the_readme_shows_this_table() {
        let readme = include_str!("../../README.md");
        let table = markdown();
        assert!(
            readme.contains(&table),
            "README.md's role table is out of date; it should read:\n{table}"
        );
    }

    #[test]
    fn every_rule_is_unique_and_admins_may_do_everything() {
        for (i, a) in RULES.iter().enumerate() {
            assert!(a.allows(Role::Admin), "{a:?}");
            for b in &RULES[i + 1..] {
                assert!((a.method, a.path) != (b.method, b.path), "{a:?} twice");
            }
        }
        assert!(markdown().lines().count() == RULES.len() + 2);
    }
}
