//! JSON fusion for filters: the conjuncts of a filter that read nothing but JSON paths of one
//! column (`json_extract_scalar(event_data, '$["with_mfa"]') IS NULL AND …`) become a single
//! predicate that walks each document once for all their paths, then evaluates the conjuncts
//! in order, each on the rows the previous ones kept.
//!
//! Why: the Parquet scan runs each pushed-down conjunct as its own row filter, decoding the
//! column (Snappy, pages) and parsing every document again per conjunct; the weak-security
//! report queries have four or five such conjuncts on `event_data`. As one predicate, the
//! column is decoded once and each document parsed once. The rule runs before the physical
//! filter pushdown, so the fused predicate is what the scan receives; its only child is the
//! JSON column, so the scan can remap that column to the file's schema and keep the fusion.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, internal_err};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::utils::{conjunction, split_conjunction};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};

use super::fusion::{Spec, fusable};
use super::json;

/// Conjuncts on one JSON column: (column index, the column, the conjuncts).
type Group = (usize, Arc<dyn PhysicalExpr>, Vec<Arc<dyn PhysicalExpr>>);

/// The physical optimizer rule; put it before `FilterPushdown`.
#[derive(Debug, Default)]
pub struct FilterFusion;

/// Name of the `i`-th extracted value in a conjunct's template.
fn slot_name(i: usize) -> String {
    format!("__fused_json_{i}")
}

/// The JSON column a conjunct reads, when every column it reads is the document of a fusable
/// call on that one column.
fn json_column(c: &Arc<dyn PhysicalExpr>) -> Option<(usize, Arc<dyn PhysicalExpr>)> {
    let mut found: Option<(usize, Arc<dyn PhysicalExpr>)> = None;
    let mut other = false;
    c.apply(|e| {
        if let Some((col, _)) = fusable(e) {
            match &found {
                Some((c0, _)) if *c0 != col => other = true,
                Some(_) => {}
                None => {
                    let f = e.downcast_ref::<ScalarFunctionExpr>().expect("fusable");
                    found = Some((col, Arc::clone(&f.args()[0])));
                }
            }
            // The call's own arguments (the column, the literal path) are accounted for.
            return Ok(TreeNodeRecursion::Jump);
        }
        if e.downcast_ref::<Column>().is_some() {
            other = true;
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .ok()?;
    if other { None } else { found }
}

/// The conjunct with each fusable call replaced by the column of its spec in `specs` (added
/// when new).
fn template(c: &Arc<dyn PhysicalExpr>, specs: &mut Vec<Spec>) -> Result<Arc<dyn PhysicalExpr>> {
    Arc::clone(c)
        .transform_down(|e| {
            let Some((_, spec)) = fusable(&e) else {
                return Ok(Transformed::no(e));
            };
            let slot = match specs.iter().position(|s| *s == spec) {
                Some(i) => i,
                None => {
                    specs.push(spec);
                    specs.len() - 1
                }
            };
            Ok(Transformed::new(
                Arc::new(Column::new(&slot_name(slot), slot)) as Arc<dyn PhysicalExpr>,
                true,
                TreeNodeRecursion::Jump,
            ))
        })
        .data()
}

impl PhysicalOptimizerRule for FilterFusion {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|p| {
            let Some(filter) = p.downcast_ref::<FilterExec>() else {
                return Ok(Transformed::no(p));
            };
            let conjuncts: Vec<Arc<dyn PhysicalExpr>> = split_conjunction(filter.predicate())
                .into_iter()
                .cloned()
                .collect();
            // Group the JSON-only conjuncts by column, in their order.
            let mut groups: Vec<Group> = Vec::new();
            let mut rest = Vec::new();
            for c in conjuncts {
                match json_column(&c) {
                    Some((col, input)) => match groups.iter_mut().find(|g| g.0 == col) {
                        Some(g) => g.2.push(c),
                        None => groups.push((col, input, vec![c])),
                    },
                    None => rest.push(c),
                }
            }
            let mut changed = false;
            for (_, input, members) in groups {
                let mut specs = Vec::new();
                let templates = members
                    .iter()
                    .map(|c| template(c, &mut specs))
                    .collect::<Result<Vec<_>>>()?;
                // One conjunct of one path has nothing to share.
                if members.len() < 2 && specs.len() < 2 {
                    rest.extend(members);
                    continue;
                }
                changed = true;
                rest.push(Arc::new(FusedFilterExpr::new(input, specs, templates)));
            }
            if !changed {
                return Ok(Transformed::no(p));
            }
            let predicate = conjunction(rest);
            // Everything else of the filter (projection, selectivity, fetch) is kept.
            let new = FilterExecBuilder::from(filter)
                .with_predicate(predicate)
                .build()?;
            Ok(Transformed::yes(Arc::new(new) as Arc<dyn ExecutionPlan>))
        })
        .data()
    }

    fn name(&self) -> &str {
        "json_filter_fusion"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Conjuncts over the JSON paths of one column, served by one pass per document.
///
/// Filter semantics (it is only ever a conjunct of a filter): a row is kept when every
/// conjunct is true; a false or NULL conjunct drops the row and later conjuncts never see it,
/// exactly as the Parquet scan's chain of row filters treats separate conjuncts.
#[derive(Debug)]
pub struct FusedFilterExpr {
    input: Arc<dyn PhysicalExpr>,
    specs: Vec<Spec>,
    /// The extracted values' schema, which the templates are evaluated on.
    schema: SchemaRef,
    conjuncts: Vec<Arc<dyn PhysicalExpr>>,
}

impl FusedFilterExpr {
    fn new(
        input: Arc<dyn PhysicalExpr>,
        specs: Vec<Spec>,
        conjuncts: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Self {
        let fields: Vec<Field> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| Field::new(slot_name(i), s.0.data_type(), true))
            .collect();
        FusedFilterExpr {
            input,
            specs,
            schema: Arc::new(Schema::new(fields)),
            conjuncts,
        }
    }
}

impl PartialEq for FusedFilterExpr {
    fn eq(&self, o: &Self) -> bool {
        self.input.eq(&o.input) && self.specs == o.specs && self.conjuncts == o.conjuncts
    }
}
impl Eq for FusedFilterExpr {}
impl Hash for FusedFilterExpr {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.specs.hash(h);
        self.conjuncts.len().hash(h);
    }
}

impl fmt::Display for FusedFilterExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fused_json_filter({}; ", self.input)?;
        for (i, c) in self.conjuncts.iter().enumerate() {
            if i > 0 {
                write!(f, " AND ")?;
            }
            write!(f, "{c}")?;
        }
        write!(f, "; ")?;
        for (i, (mode, path)) in self.specs.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(
                f,
                "{}={mode:?} {}",
                slot_name(i),
                super::fusion::render(path)
            )?;
        }
        write!(f, ")")
    }
}

impl PhysicalExpr for FusedFilterExpr {
    fn data_type(&self, _: &Schema) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, _: &Schema) -> Result<bool> {
        Ok(false)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let n = batch.num_rows();
        let docs = self.input.evaluate(batch)?.into_array(n)?;
        let strs = super::Strs::new(&docs)?;
        let columns = json::extract_many(&strs, n, &self.specs);
        let values = RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )?;
        // `live[i]`: the row of `values` that row i of `current` is.
        let mut keep = vec![false; n];
        let mut live: Vec<usize> = (0..n).collect();
        let mut current = values;
        for (k, c) in self.conjuncts.iter().enumerate() {
            if live.is_empty() {
                break;
            }
            let out = c.evaluate(&current)?.into_array(current.num_rows())?;
            let Some(out) = out.as_any().downcast_ref::<BooleanArray>() else {
                return internal_err!("a fused filter conjunct is not boolean: {c}");
            };
            let pass: BooleanArray = (0..out.len())
                .map(|i| Some(out.is_valid(i) && out.value(i)))
                .collect();
            live = live
                .iter()
                .zip(pass.values().iter())
                .filter(|(_, p)| *p)
                .map(|(r, _)| *r)
                .collect();
            if k + 1 < self.conjuncts.len() && live.len() < current.num_rows() {
                current = filter_record_batch(&current, &pass)?;
            }
        }
        for r in live {
            keep[r] = true;
        }
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(keep))))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let [input] = <[_; 1]>::try_from(children).map_err(|_| {
            datafusion::common::DataFusionError::Internal(
                "a fused filter has one child".to_string(),
            )
        })?;
        // The scan remaps the JSON column to the file's schema: the templates read only the
        // extracted values, so they stay as they are.
        Ok(Arc::new(FusedFilterExpr {
            input,
            specs: self.specs.clone(),
            schema: Arc::clone(&self.schema),
            conjuncts: self.conjuncts.clone(),
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
