//! Access Monitoring over Flight: saved queries and reports as custom actions, with Teleport's
//! verbs enforced per token (`list`, `read`, `use` on `audit_query` and `security_report`).
//! `RunReport` runs like any query: admitted, on the query runtime, under the deadline.

use serde::{Deserialize, Serialize};
use tonic::Status;

use super::auth::TokenEntry;
use super::{AuditFlight, status};
use crate::query::engine::Engine;

/// The custom actions (type, description) `list_actions` shows.
pub const REPORT_ACTIONS: &[(&str, &str)] = &[
    (
        "ListSavedQueries",
        "names of saved audit queries (list on audit_query)",
    ),
    (
        "GetSavedQuery",
        "body: name; the saved query as JSON (read on audit_query)",
    ),
    (
        "ListReports",
        "names of reports, the built-in one first (list on security_report)",
    ),
    (
        "GetReport",
        "body: name; the report's queries as JSON (read on security_report)",
    ),
    (
        "RunReport",
        "body: {\"name\", \"days\"}; runs it in the token's tenant, returns Teleport's report-result JSON (use on security_report and audit_query)",
    ),
];

/// Largest action body read, in bytes (a name or a small JSON object).
const MAX_ACTION_BODY: usize = 64 * 1024;

/// Body of a `RunReport` action.
#[derive(Deserialize)]
struct RunReportBody {
    #[serde(default = "builtin_report_name")]
    name: String,
    #[serde(default)]
    days: Option<u32>,
}

fn builtin_report_name() -> String {
    crate::analysis::report::BUILTIN_NAMES[0].to_string()
}

impl AuditFlight {
    pub(super) async fn report_action(
        &self,
        t: &TokenEntry,
        kind: &str,
        body: &[u8],
    ) -> Result<String, Status> {
        if body.len() > MAX_ACTION_BODY {
            return Err(Status::resource_exhausted(format!(
                "action body of {} bytes is over the {MAX_ACTION_BODY}-byte limit",
                body.len()
            )));
        }
        let lake = &self.template.lake;
        let cat = crate::analysis::report::saved(lake, Some(&t.tenant));
        let text = || {
            std::str::from_utf8(body)
                .map(str::trim)
                .map_err(|_| Status::invalid_argument("action body must be UTF-8"))
        };
        match kind {
            "ListSavedQueries" => {
                t.require("audit_query", "list")?;
                json(&cat.queries().await.map_err(|e| status(&e))?)
            }
            "GetSavedQuery" => {
                t.require("audit_query", "read")?;
                json(&cat.query(text()?).await.map_err(|e| status(&e))?)
            }
            "ListReports" => {
                t.require("security_report", "list")?;
                let mut names = vec![crate::analysis::report::BUILTIN_NAMES[0].to_string()];
                names.extend(cat.reports().await.map_err(|e| status(&e))?);
                json(&names)
            }
            "GetReport" => {
                t.require("security_report", "read")?;
                let name = text()?;
                let r = crate::analysis::report::resolve(lake, Some(&t.tenant), name)
                    .await
                    .map_err(|e| status(&e))?;
                json(&r)
            }
            "RunReport" => {
                t.require("security_report", "use")?;
                // Running a report runs its SQL.
                t.require("audit_query", "use")?;
                let req: RunReportBody = if body.is_empty() {
                    RunReportBody {
                        name: builtin_report_name(),
                        days: None,
                    }
                } else {
                    serde_json::from_slice(body)
                        .map_err(|e| Status::invalid_argument(format!("RunReport body: {e}")))?
                };
                let report = crate::analysis::report::resolve(lake, Some(&t.tenant), &req.name)
                    .await
                    .map_err(|e| status(&e))?;
                let _permit = self.admission.admit(&t.sha256, &t.name)?;
                let mut opts = self.template.clone();
                opts.tenant = Some(t.tenant.clone());
                opts.days = req.days.or(Some(30));
                let by = crate::analysis::report::RunBy {
                    who: format!("flight:{}", t.name),
                    tenant: Some(t.tenant.clone()),
                    days: opts.days,
                };
                let lake = lake.clone();
                let res = self
                    .queries
                    .run(self.deadline(), "RunReport", async move {
                        // Built per run (its days window is the caller's), over the shared pool.
                        let engine = Engine::new(opts).await.map_err(|e| status(&e))?;
                        crate::analysis::report::run_and_record(&engine, &report, &lake, &by)
                            .await
                            .map_err(|e| status(&e))
                    })
                    .await?;
                json(&res)
            }
            other => Err(Status::invalid_argument(format!(
                "unknown action '{}' (list_actions names them)",
                other.chars().take(100).collect::<String>()
            ))),
        }
    }
}

/// JSON of an action result.
fn json<T: Serialize>(v: &T) -> Result<String, Status> {
    serde_json::to_string(v).map_err(|e| Status::internal(e.to_string()))
}
