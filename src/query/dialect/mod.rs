//! Athena (Trino) SQL as investigators write it, made into SQL DataFusion
//! plans: a few rewrites of the syntax tree, each to DataFusion's spelling
//! of the same thing.
//!
//! - `IPADDRESS '1.2.3.4'`, `IPPREFIX '10.0.0.0/8'` and `CAST(x AS
//!   IPADDRESS)` become `ipaddress(...)` / `ipprefix(...)` calls
//!   ([`super::functions`]);
//! - `try(CAST(...))` is `TRY_CAST(...)`; `try(e)` otherwise is `e` (a
//!   function that can fail here gives NULL already);
//! - `count_if(c)`, `max_by(x, y)`, `min_by(x, y)`, `arbitrary(x)`,
//!   `slice(a, s, n)`, `year(t)` and the other date
//!   parts, `day_of_week(t)`: DataFusion's equivalents;
//! - result columns are named as Athena names them: a field reached through
//!   structs (`useridentity.sessioncontext.sessionissuer.arn`) by its last
//!   name (`arn`), in every query and subquery; in the outermost query, an
//!   unnamed expression `_col<N>` by its position;
//! - names as saved ([`names_as_saved`]): a query naming one table reads
//!   the lake whatever the name (`cloudtrail_logs`, `"db"."table"`,
//!   `default.cloudtrail_logs_bucket`), quoted identifiers match whatever
//!   their case (`"eventName"`), and the partition columns of common Athena
//!   tables (`date_partition`, `dt`, `"timestamp"` as `yyyy/MM/dd`,
//!   `account_partition`, `region_partition`, `yyyy`/`mm`/`dd`) are
//!   `year/month/day`, `account` and `region`, pruning at every level;
//! - relations DataFusion cannot plan as written (UNNEST and LATERAL joins,
//!   subqueries over an outer row's struct field, window queries over
//!   struct fields) folded into derived tables.
//!
//! By theme: [`text`] (before parsing), [`names`], [`calls`] (functions
//! and lambdas), [`relations`]; this file walks the tree and names the
//! result columns.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, DataType, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Ident, Join, JoinConstraint, JoinOperator, OrderByKind, Query, SelectItem,
    SetExpr, Subscript, TableFactor, TableWithJoins, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

mod calls;
mod names;
mod relations;
#[cfg(test)]
mod tests;
mod text;

use calls::*;
pub use names::names_as_saved;
use relations::*;
pub use text::prepare;

/// ORs this many and more of `x = literal` become `x IN (...)`.
const OR_CHAIN_AS_IN_LIST: usize = 8;

/// `x = 'a' OR x = 'b' OR ...` (one expression `x`, literals of one kind:
/// strings or numbers) as `x IN ('a', 'b', ...)`, which answers the same,
/// NULLs included. DataFusion's type coercion walks the whole subtree at
/// each OR, so a WHERE of 10,000 ORs took 35 s to plan; as a list it is
/// one set lookup per row.
fn or_chain_as_in_list(e: &Expr) -> Option<Expr> {
    use datafusion::sql::sqlparser::ast::BinaryOperator;
    if !matches!(
        e,
        Expr::BinaryOp {
            op: BinaryOperator::Or,
            ..
        }
    ) {
        return None;
    }
    // The chain's terms, in order, without recursion (it nests as deep as
    // it is long).
    let mut stack = vec![e];
    let mut target: Option<&Expr> = None;
    let mut kind = None;
    let mut list = Vec::new();
    while let Some(node) = stack.pop() {
        match node {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Or,
                right,
            } => {
                stack.push(right);
                stack.push(left);
            }
            Expr::Nested(inner)
                if matches!(
                    **inner,
                    Expr::BinaryOp {
                        op: BinaryOperator::Or,
                        ..
                    }
                ) =>
            {
                stack.push(inner);
            }
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => {
                let (x, v) = match (&**left, &**right) {
                    (Expr::Value(_), Expr::Value(_)) => return None,
                    (x, Expr::Value(v)) | (Expr::Value(v), x) => (x, v),
                    _ => return None,
                };
                use datafusion::sql::sqlparser::ast::Value;
                if !matches!(v.value, Value::SingleQuotedString(_) | Value::Number(..)) {
                    return None;
                }
                let k = std::mem::discriminant(&v.value);
                if *kind.get_or_insert(k) != k || **target.get_or_insert(x) != *x {
                    return None;
                }
                list.push(Expr::Value(v.clone()));
            }
            _ => return None,
        }
    }
    let target = target?;
    (list.len() >= OR_CHAIN_AS_IN_LIST).then(|| Expr::InList {
        expr: Box::new(target.clone()),
        list,
        negated: false,
    })
}

/// Rewrites one parsed statement in place.
pub fn rewrite(stmt: &mut datafusion::sql::parser::Statement, table_names: &[String]) {
    if let datafusion::sql::parser::Statement::Statement(s) = stmt {
        names_as_saved(s, table_names);
        let _ = s.visit(&mut Rewriter { depth: 0 });
    }
}

struct Rewriter {
    /// Queries entered and not yet left (1 in the outermost).
    depth: usize,
}

fn parse_expr(text: &str) -> Option<Expr> {
    Parser::new(&crate::query::athena::Athena)
        .try_with_sql(text)
        .ok()?
        .parse_expr()
        .ok()
}

/// An identifier as the planner compares it: lower case unless quoted.
fn normalized(id: &Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_ascii_lowercase()
    }
}

/// What Athena names a field reached through structs: its last name.
fn last_field(e: &Expr) -> Option<Ident> {
    match e {
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => parts.last().cloned(),
        _ => None,
    }
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Some(list) = or_chain_as_in_list(e) {
            *e = list;
        }
        if let Expr::Lambda(l) = e {
            lambda_fields(l);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Some(new) = rewrite_expr(e) {
            *e = new;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        lateral_unnest(q);
        outer_fields(q);
        window_fields(q);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        let outermost = self.depth == 1;
        self.depth -= 1;
        // `FETCH FIRST n ROWS ONLY` (without PERCENT or WITH TIES) is LIMIT n.
        if let Some(fetch) = &q.fetch {
            if !fetch.percent && !fetch.with_ties && q.limit_clause.is_none() {
                let n = fetch
                    .quantity
                    .clone()
                    .unwrap_or_else(|| parse_expr("1").expect("parses"));
                q.limit_clause = Some(datafusion::sql::sqlparser::ast::LimitClause::LimitOffset {
                    limit: Some(n),
                    offset: None,
                    limit_by: Vec::new(),
                });
                q.fetch = None;
            }
        }
        // Every SELECT of the query's body: a UNION's, EXCEPT's or
        // INTERSECT's branches too (the first names the result's columns).
        let mut generated: Vec<(Expr, Ident)> = Vec::new();
        let mut first = true;
        for_each_select(q.body.as_mut(), &mut |select| {
            let g = name_columns(select, outermost);
            if first {
                generated = g;
                first = false;
            }
        });
        // ORDER BY the expression of a result column that got a name: the
        // name (SELECT DISTINCT allows only result columns there).
        if let Some(order_by) = q.order_by.as_mut() {
            if let OrderByKind::Expressions(exprs) = &mut order_by.kind {
                for o in exprs {
                    if let Some((_, alias)) = generated.iter().find(|(e, _)| *e == o.expr) {
                        o.expr = Expr::Identifier(alias.clone());
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Calls `f` on each SELECT of a query body, left to right.
fn for_each_select(
    body: &mut SetExpr,
    f: &mut dyn FnMut(&mut datafusion::sql::sqlparser::ast::Select),
) {
    match body {
        SetExpr::Select(select) => f(select),
        SetExpr::SetOperation { left, right, .. } => {
            for_each_select(left, f);
            for_each_select(right, f);
        }
        _ => {}
    }
}

/// Names a SELECT's result columns as Athena does; returns the
/// expressions it named, with their names.
fn name_columns(
    select: &mut datafusion::sql::sqlparser::ast::Select,
    outermost: bool,
) -> Vec<(Expr, Ident)> {
    // Names already given, which a generated name must not repeat.
    let mut taken: Vec<String> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(normalized(alias)),
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => Some(normalized(id)),
            _ => None,
        })
        .collect();
    let mut generated: Vec<(Expr, Ident)> = Vec::new();
    for (i, item) in select.projection.iter_mut().enumerate() {
        let SelectItem::UnnamedExpr(e) = item else {
            continue;
        };
        let alias = match last_field(e) {
            Some(name) => Some(name),
            None if outermost
                && !matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) =>
            {
                Some(Ident::new(format!("_col{i}")))
            }
            None => None,
        };
        if let Some(mut alias) = alias {
            // Athena allows two result columns of one name; DataFusion
            // does not, so a repeated one gets a suffix, as DuckDB's do.
            let base = normalized(&alias);
            let mut n = 0;
            while taken.contains(&normalized(&alias)) {
                n += 1;
                alias = Ident::new(format!("{base}_{n}"));
            }
            taken.push(normalized(&alias));
            generated.push((e.clone(), alias.clone()));
            *item = SelectItem::ExprWithAlias {
                expr: e.clone(),
                alias,
            };
        }
    }
    generated
}
