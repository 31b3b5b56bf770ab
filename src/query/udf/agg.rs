//! Trino aggregates DataFusion lacks: `count_if`, `max_by`, `min_by`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

pub fn functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::new_from_impl(CountIf {
            sig: Signature::exact(vec![DataType::Boolean], Volatility::Immutable),
        }),
        AggregateUDF::new_from_impl(By {
            name: "max_by",
            max: true,
            sig: Signature::any(2, Volatility::Immutable),
        }),
        AggregateUDF::new_from_impl(By {
            name: "min_by",
            max: false,
            sig: Signature::any(2, Volatility::Immutable),
        }),
    ]
}

/// `count_if(condition)`: rows where the condition is true.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CountIf {
    sig: Signature,
}

impl AggregateUDFImpl for CountIf {
    fn name(&self) -> &str {
        "count_if"
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn is_nullable(&self) -> bool {
        false
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(CountIfAcc(0)))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}_count", args.name),
            DataType::Int64,
            false,
        ))])
    }
}

#[derive(Debug)]
struct CountIfAcc(i64);

impl Accumulator for CountIfAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let b = values[0].as_boolean();
        self.0 += (0..b.len())
            .filter(|&i| b.is_valid(i) && b.value(i))
            .count() as i64;
        Ok(())
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.0)))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.0))])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let c = states[0].as_primitive::<Int64Type>();
        self.0 += c.iter().flatten().sum::<i64>();
        Ok(())
    }
}

/// `max_by(x, y)` / `min_by(x, y)`: the `x` of the row with the largest / smallest `y`
/// (rows with a NULL `y` are ignored, as in Trino).
#[derive(Debug, PartialEq, Eq, Hash)]
struct By {
    name: &'static str,
    max: bool,
    sig: Signature,
}

impl AggregateUDFImpl for By {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn return_type(&self, t: &[DataType]) -> Result<DataType> {
        if t.len() != 2 {
            return plan_err!("{}(x, y) takes 2 arguments", self.name);
        }
        Ok(t[0].clone())
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let xt = args.expr_fields[0].data_type();
        let yt = args.expr_fields[1].data_type();
        Ok(Box::new(ByAcc {
            max: self.max,
            best: None,
            x_null: ScalarValue::try_from(xt)?,
            y_null: ScalarValue::try_from(yt)?,
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}_x", args.name),
                args.input_fields[0].data_type().clone(),
                true,
            )),
            Arc::new(Field::new(
                format!("{}_y", args.name),
                args.input_fields[1].data_type().clone(),
                true,
            )),
        ])
    }
}

#[derive(Debug)]
struct ByAcc {
    max: bool,
    best: Option<(ScalarValue, ScalarValue)>,
    x_null: ScalarValue,
    y_null: ScalarValue,
}

impl ByAcc {
    fn offer(&mut self, xs: &ArrayRef, ys: &ArrayRef) -> Result<()> {
        for i in 0..ys.len() {
            if ys.is_null(i) {
                continue;
            }
            let y = ScalarValue::try_from_array(ys, i)?;
            let better = match &self.best {
                None => true,
                Some((_, by)) => match y.partial_cmp(by) {
                    Some(std::cmp::Ordering::Greater) => self.max,
                    Some(std::cmp::Ordering::Less) => !self.max,
                    _ => false,
                },
            };
            if better {
                self.best = Some((ScalarValue::try_from_array(xs, i)?, y));
            }
        }
        Ok(())
    }
}

impl Accumulator for ByAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.offer(&values[0], &values[1])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self
            .best
            .as_ref()
            .map(|b| b.0.clone())
            .unwrap_or_else(|| self.x_null.clone()))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .best
                .as_ref()
                .map(|(x, y)| x.size() + y.size())
                .unwrap_or(0)
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(match &self.best {
            Some((x, y)) => vec![x.clone(), y.clone()],
            None => vec![self.x_null.clone(), self.y_null.clone()],
        })
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.offer(&states[0], &states[1])
    }
}
