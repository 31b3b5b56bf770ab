//! The session's schema: its tables as registered, and the catalog's views planned the first
//! time a statement names one. A cold `auditlake query` (a process per query, as scripts and
//! the benches run it) used to plan all 35 views before its own statement; now it plans the
//! one or two it reads. With acceleration on, a view reads its typed sidecar (`accel.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::ViewTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;

use super::accel::AccelView;
use super::table::EventsTable;

/// A schema whose views are planned on first use, over an inner schema holding the tables.
pub struct LazyViews {
    inner: Arc<dyn SchemaProvider>,
    /// Plans view bodies: the session's state (its catalog is this schema, shared).
    state: SessionState,
    /// View name → (body, the `CREATE VIEW` text shown as its definition).
    bodies: BTreeMap<String, (String, String)>,
    planned: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
    /// Set: views read their sidecars (`accel.rs`) built over this `events` table.
    accel: Option<Arc<EventsTable>>,
}

impl std::fmt::Debug for LazyViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyViews")
            .field("views", &self.bodies.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl LazyViews {
    /// `views`: (name, body, definition) of each view.
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        state: SessionState,
        views: impl IntoIterator<Item = (String, String, String)>,
        accel: Option<Arc<EventsTable>>,
    ) -> Self {
        LazyViews {
            inner,
            state,
            bodies: views
                .into_iter()
                .map(|(name, body, ddl)| (name, (body, ddl)))
                .collect(),
            planned: Mutex::new(HashMap::new()),
            accel,
        }
    }

    async fn view(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some((body, ddl)) = self.bodies.get(name) else {
            return Ok(None);
        };
        if let Some(t) = self.lock()?.get(name) {
            return Ok(Some(Arc::clone(t)));
        }
        // Two statements naming a new view at once both plan it; the plans are equal.
        let plan = self
            .state
            .create_logical_plan(body)
            .await
            .map_err(|e| DataFusionError::Plan(format!("view {name} does not plan: {e}")))?;
        let t: Arc<dyn TableProvider> = match &self.accel {
            Some(events) => Arc::new(AccelView::new(
                name,
                body,
                plan,
                ddl.clone(),
                Arc::clone(events),
            )),
            None => Arc::new(ViewTable::new(plan, Some(ddl.clone()))),
        };
        self.lock()?.insert(name.to_string(), Arc::clone(&t));
        Ok(Some(t))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Arc<dyn TableProvider>>>> {
        self.planned
            .lock()
            .map_err(|_| DataFusionError::Internal("the view cache is poisoned".into()))
    }
}

#[async_trait]
impl SchemaProvider for LazyViews {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.extend(
            self.bodies
                .keys()
                .filter(|v| !self.inner.table_exist(v))
                .cloned(),
        );
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match self.view(name).await? {
            Some(v) => Ok(Some(v)),
            None => self.inner.table(name).await,
        }
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        if self.bodies.contains_key(name) {
            return Ok(Some(TableType::View));
        }
        self.inner.table_type(name).await
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        self.inner.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.inner.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.bodies.contains_key(name) || self.inner.table_exist(name)
    }
}
