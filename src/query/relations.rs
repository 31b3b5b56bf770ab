//! Which relations a statement sent to Athena may name: an allow-list, checked before anything
//! is sent. A CTE only shadows a bare name, so without this a statement could read the Glue
//! table qualified (`db.table`, `"awsdatacatalog"."db"."table"`), another Glue table, or
//! `information_schema`, unscoped by tenant and days. Allowed: the views, `events`,
//! `identities` (both re-defined tenant-scoped by our header), and the statement's own CTEs —
//! each only where SQL scoping makes the name resolve to that CTE. Everything else is refused
//! with an error naming the relation.
//!
//! This is client-side defence in depth; the hard boundary is Lake Formation row filters or a
//! workgroup and IAM role per tenant (README, "Security").

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, Query, Statement, TableFactor, Visit, Visitor,
};

use crate::error::{Error, Result};

/// Checks every relation `stmt` names against `allowed` (lower-case names, unqualified) and the
/// statement's own CTEs in scope.
pub fn check(stmt: &Statement, allowed: &BTreeSet<String>) -> Result<()> {
    let mut v = Scopes {
        allowed,
        frames: Vec::new(),
    };
    match stmt.visit(&mut v) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

fn norm(i: &Ident) -> String {
    i.value.to_ascii_lowercase()
}

/// The CTE names visible inside one query's body, and for each of its own CTE definitions the
/// names visible inside that definition (only the earlier ones: WITH is not recursive here).
struct Frame {
    query: *const Query,
    visible: Vec<String>,
    ctes: Vec<(*const Query, Vec<String>)>,
}

struct Scopes<'a> {
    allowed: &'a BTreeSet<String>,
    frames: Vec<Frame>,
}

impl Scopes<'_> {
    fn visible(&self) -> &[String] {
        self.frames
            .last()
            .map(|f| f.visible.as_slice())
            .unwrap_or(&[])
    }
}

fn refuse(what: String) -> ControlFlow<Error> {
    ControlFlow::Break(Error::NotAllowed(what))
}

impl Visitor for Scopes<'_> {
    type Break = Error;

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<Error> {
        let ptr: *const Query = q;
        // A CTE definition sees the CTEs before it; any other nested query sees all of its
        // enclosing query's CTEs.
        let base: Vec<String> = match self.frames.last() {
            None => Vec::new(),
            Some(f) => f
                .ctes
                .iter()
                .find(|(p, _)| *p == ptr)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| f.visible.clone()),
        };
        let mut ctes = Vec::new();
        let mut visible = base.clone();
        if let Some(with) = &q.with {
            if with.recursive {
                return refuse("WITH RECURSIVE is not supported on Athena".into());
            }
            for c in &with.cte_tables {
                ctes.push((&*c.query as *const Query, visible.clone()));
                visible.push(norm(&c.alias.name));
            }
        }
        self.frames.push(Frame {
            query: ptr,
            visible,
            ctes,
        });
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, q: &Query) -> ControlFlow<Error> {
        if self.frames.last().is_some_and(|f| std::ptr::eq(f.query, q)) {
            self.frames.pop();
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<Error> {
        match t {
            TableFactor::Table {
                args: Some(_),
                name,
                ..
            } => refuse(format!(
                "table function '{name}' is not allowed on Athena from here"
            )),
            TableFactor::Table { .. }
            | TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::UNNEST { .. } => ControlFlow::Continue(()),
            other => refuse(format!(
                "relation '{other}' is not allowed on Athena from here (tables, subqueries, joins and UNNEST only)"
            )),
        }
    }

    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<Error> {
        let parts: Vec<&Ident> = name
            .0
            .iter()
            .filter_map(|p| match p {
                ObjectNamePart::Identifier(i) => Some(i),
                _ => None,
            })
            .collect();
        if parts.len() != 1 || name.0.len() != 1 {
            return refuse(format!(
                "relation '{name}' is not allowed: name the views, `events` or `identities` unqualified (the tenant scope applies only to those)"
            ));
        }
        let n = norm(parts[0]);
        if self.allowed.contains(&n) || self.visible().contains(&n) {
            ControlFlow::Continue(())
        } else {
            refuse(format!(
                "relation '{name}' is not allowed: only the views, `events`, `identities` and the statement's own CTEs can be queried on Athena"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn run(sql: &str) -> Result<()> {
        let allowed: BTreeSet<String> = ["events", "identities", "session_start"]
            .into_iter()
            .map(String::from)
            .collect();
        let stmts = Parser::parse_sql(&GenericDialect {}, sql).expect("parse");
        check(&stmts[0], &allowed)
    }

    #[test]
    fn allowed_relations() {
        for ok in [
            "SELECT * FROM events",
            "SELECT * FROM session_start s JOIN events e ON s.uid = e.uid",
            "SELECT * FROM \"EVENTS\"",
            "WITH a AS (SELECT * FROM events), b AS (SELECT * FROM a) SELECT * FROM b",
            "SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) y",
            "SELECT (SELECT count(*) FROM events) AS n",
            "SELECT * FROM events WHERE uid IN (SELECT uid FROM identities)",
            "SELECT * FROM events CROSS JOIN UNNEST(ARRAY[1,2]) AS t(x)",
            "SELECT 1 UNION ALL SELECT count(*) FROM events",
            "SELECT 1",
        ] {
            run(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn refused_relations() {
        for bad in [
            "SELECT * FROM auditlake.events WHERE tenant_id = 'globex'",
            "SELECT * FROM \"awsdatacatalog\".\"auditlake\".\"events\"",
            "SELECT * FROM audit_events",
            "SELECT * FROM information_schema.tables",
            "SELECT * FROM system.runtime.queries",
            "SELECT * FROM events e JOIN other_table o ON true",
            "SELECT * FROM events WHERE uid IN (SELECT uid FROM secrets)",
            "SELECT (SELECT max(x) FROM db.t)",
            "SELECT 1 UNION SELECT * FROM db.t",
            // A CTE name is only a CTE where it is in scope: outside, it is the Glue table.
            "SELECT * FROM (WITH secret AS (SELECT 1) SELECT * FROM secret) x, secret",
            // A CTE sees only the CTEs before it.
            "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a",
            "WITH RECURSIVE r AS (SELECT 1) SELECT * FROM r",
        ] {
            let e = run(bad).expect_err(bad);
            assert!(
                e.to_string().contains("not allowed") || e.to_string().contains("RECURSIVE"),
                "{bad}: {e}"
            );
        }
    }
}
