//! JSON extraction fusion: every `json_extract_scalar`/`json_extract`/R1 call on the same column
//! with a literal path inside one projection is served by a single pass over each document.
//!
//! A view projects 10–40 JSON paths from `event_data`; unfused, each re-parses the document from
//! the start. This physical rule runs last and replaces those calls in a `ProjectionExec` by
//! `FusedJsonExpr`s that share one `FusedJson`: the first expression evaluated on a batch
//! extracts all paths in one walk (`json::PathSet`), the others take their column from it.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};

use super::JSON_ARRAY_VARCHAR;
use super::json::{self, Mode, Seg};

/// The physical optimizer rule; add it last (after projection pushdown).
#[derive(Debug, Default)]
pub struct JsonFusion;

/// A path to extract and how (shared with the filter fusion).
pub(super) type Spec = (Mode, Vec<Seg>);

/// A fusable call: `(column index, mode, path)`.
pub(super) fn fusable(e: &Arc<dyn PhysicalExpr>) -> Option<(usize, Spec)> {
    let f = e.downcast_ref::<ScalarFunctionExpr>()?;
    let mode = match f.name() {
        "json_extract_scalar" => Mode::Scalar,
        "json_extract" => Mode::Json,
        JSON_ARRAY_VARCHAR => Mode::ArrayVarchar,
        _ => return None,
    };
    let [doc, path] = f.args() else { return None };
    let col = doc.downcast_ref::<Column>()?;
    let lit = path.downcast_ref::<Literal>()?;
    let p = match lit.value() {
        ScalarValue::Utf8(Some(p))
        | ScalarValue::Utf8View(Some(p))
        | ScalarValue::LargeUtf8(Some(p)) => p,
        _ => return None,
    };
    Some((col.index(), (mode, json::parse_path(p).ok()?)))
}

impl PhysicalOptimizerRule for JsonFusion {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|p| {
            let Some(proj) = p.downcast_ref::<ProjectionExec>() else {
                return Ok(Transformed::no(p));
            };
            // Collect distinct specs per column across all projection expressions.
            let mut groups: Vec<(usize, Vec<Spec>, Arc<dyn PhysicalExpr>)> = Vec::new();
            for pe in proj.expr() {
                pe.expr.apply(|e| {
                    if let Some((col, spec)) = fusable(e) {
                        let f = e.downcast_ref::<ScalarFunctionExpr>().expect("checked");
                        match groups.iter_mut().find(|g| g.0 == col) {
                            Some(g) => {
                                if !g.1.contains(&spec) {
                                    g.1.push(spec)
                                }
                            }
                            None => groups.push((col, vec![spec], Arc::clone(&f.args()[0]))),
                        }
                    }
                    Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
                })?;
            }
            let shared: Vec<(usize, Arc<FusedJson>)> = groups
                .into_iter()
                .filter(|g| g.1.len() >= 2)
                .map(|(col, specs, input)| (col, Arc::new(FusedJson::new(input, specs))))
                .collect();
            if shared.is_empty() {
                return Ok(Transformed::no(p));
            }
            let mut exprs = Vec::with_capacity(proj.expr().len());
            for pe in proj.expr() {
                let e = Arc::clone(&pe.expr)
                    .transform_up(|e| {
                        let Some((col, spec)) = fusable(&e) else {
                            return Ok(Transformed::no(e));
                        };
                        let Some((_, s)) = shared.iter().find(|s| s.0 == col) else {
                            return Ok(Transformed::no(e));
                        };
                        let slot = s
                            .specs
                            .iter()
                            .position(|x| *x == spec)
                            .expect("collected above");
                        Ok(Transformed::yes(Arc::new(FusedJsonExpr {
                            shared: Arc::clone(s),
                            slot,
                        })
                            as Arc<dyn PhysicalExpr>))
                    })
                    .data()?;
                exprs.push(ProjectionExpr {
                    expr: e,
                    alias: pe.alias.clone(),
                });
            }
            let new = ProjectionExec::try_new(exprs, Arc::clone(proj.input()))?;
            Ok(Transformed::yes(Arc::new(new) as Arc<dyn ExecutionPlan>))
        })
        .data()
    }

    fn name(&self) -> &str {
        "json_fusion"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The shared state of one fused group: the paths, and the outputs of batches in flight.
#[derive(Debug)]
pub struct FusedJson {
    input: Arc<dyn PhysicalExpr>,
    specs: Vec<Spec>,
    /// Batches whose outputs are not all taken yet. Each entry holds its input array, so the
    /// pointer it is matched by cannot be reused by another batch while it lives.
    cache: Mutex<Vec<Entry>>,
}

#[derive(Debug)]
struct Entry {
    input: ArrayRef,
    outputs: Vec<Option<ArrayRef>>,
}

/// Entries beyond this are dropped oldest first (a CASE can evaluate a call on a sub-batch
/// whose siblings never come).
const MAX_IN_FLIGHT: usize = 16;

impl FusedJson {
    fn new(input: Arc<dyn PhysicalExpr>, specs: Vec<Spec>) -> Self {
        FusedJson {
            input,
            specs,
            cache: Mutex::new(Vec::new()),
        }
    }

    fn get(&self, slot: usize, docs: &ArrayRef) -> Result<ArrayRef> {
        {
            let mut cache = self.cache.lock().expect("fusion cache poisoned");
            if let Some(pos) = cache.iter().position(|e| Arc::ptr_eq(&e.input, docs))
                && let Some(out) = cache[pos].outputs[slot].take()
            {
                if cache[pos].outputs.iter().all(Option::is_none) {
                    cache.remove(pos);
                }
                return Ok(out);
            }
        }
        let strs = super::Strs::new(docs)?;
        let mut outputs: Vec<Option<ArrayRef>> = json::extract_many(&strs, docs.len(), &self.specs)
            .into_iter()
            .map(Some)
            .collect();
        let mine = outputs[slot].take().expect("fresh");
        let mut cache = self.cache.lock().expect("fusion cache poisoned");
        cache.retain(|e| !Arc::ptr_eq(&e.input, docs));
        if cache.len() >= MAX_IN_FLIGHT {
            cache.remove(0);
        }
        cache.push(Entry {
            input: Arc::clone(docs),
            outputs,
        });
        Ok(mine)
    }
}

/// One call served by a `FusedJson`.
#[derive(Debug)]
pub struct FusedJsonExpr {
    shared: Arc<FusedJson>,
    slot: usize,
}

impl PartialEq for FusedJsonExpr {
    fn eq(&self, o: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &o.shared) && self.slot == o.slot
    }
}
impl Eq for FusedJsonExpr {}
impl Hash for FusedJsonExpr {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.shared.specs[self.slot].hash(h);
    }
}

impl fmt::Display for FusedJsonExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mode, path) = &self.shared.specs[self.slot];
        write!(
            f,
            "fused_json[{}/{}]({}, {:?} {})",
            self.slot + 1,
            self.shared.specs.len(),
            self.shared.input,
            mode,
            render(path)
        )
    }
}

pub(super) fn render(path: &[Seg]) -> String {
    let mut s = String::from("$");
    for p in path {
        match p {
            Seg::Key(k) => s.push_str(&format!("[\"{k}\"]")),
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

impl PhysicalExpr for FusedJsonExpr {
    fn data_type(&self, _: &Schema) -> Result<DataType> {
        Ok(self.shared.specs[self.slot].0.data_type())
    }

    fn nullable(&self, _: &Schema) -> Result<bool> {
        Ok(true)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let docs = self
            .shared
            .input
            .evaluate(batch)?
            .into_array(batch.num_rows())?;
        Ok(ColumnarValue::Array(self.shared.get(self.slot, &docs)?))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.shared.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        if children.len() == 1 && children[0].eq(&self.shared.input) {
            return Ok(self);
        }
        // A rewritten input (another rule remapped columns): un-fuse, correct on its own.
        let spec = self.shared.specs[self.slot].clone();
        Ok(Arc::new(FusedJsonExpr {
            shared: Arc::new(FusedJson::new(Arc::clone(&children[0]), vec![spec])),
            slot: 0,
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mode, path) = &self.shared.specs[self.slot];
        let name = match mode {
            Mode::Scalar => "json_extract_scalar",
            Mode::Json => "json_extract",
            Mode::ArrayVarchar => JSON_ARRAY_VARCHAR,
        };
        write!(f, "{name}({}, '{}')", self.shared.input, render(path))
    }
}
