//! Relations DataFusion cannot plan as written: UNNEST and LATERAL joins,
//! subqueries over an outer row's struct fields, window queries over
//! struct fields; each folded into a derived table.

use super::*;

/// Trino's lateral `CROSS JOIN UNNEST(a [, b ...]) [WITH ORDINALITY] AS
/// u(x [, y ...] [, n])` (or `, UNNEST(...)`) right after a relation `r`:
/// DataFusion plans no outer reference inside UNNEST in FROM, so the pair
/// becomes one derived table named as `r` is, `(SELECT r.*, unnest(a) AS x,
/// ... FROM r) AS r`, and `u.x` is read as `r.x`. Several arrays are zipped
/// (the shorter padded with NULLs) and the ordinality counts from 1, as in
/// Trino; an empty or NULL array gives no row.
pub(super) fn lateral_unnest(q: &mut Query) {
    let SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    let mut renames: Vec<(Ident, Ident)> = Vec::new();
    // `FROM r, UNNEST(...)`: the comma form, folded into the join form.
    let mut from: Vec<TableWithJoins> = Vec::new();
    for twj in std::mem::take(&mut select.from) {
        match (from.last_mut(), &twj.relation) {
            (
                Some(prev),
                TableFactor::UNNEST { .. } | TableFactor::Derived { lateral: true, .. },
            ) if twj.joins.is_empty() => {
                prev.joins.push(Join {
                    relation: twj.relation,
                    global: false,
                    join_operator: JoinOperator::CrossJoin(JoinConstraint::None),
                });
            }
            _ => from.push(twj),
        }
    }
    for twj in &mut from {
        while let Some(first) = twj.joins.first() {
            let on_true = |c: &JoinConstraint| match c {
                JoinConstraint::On(Expr::Value(v)) => matches!(
                    v.value,
                    datafusion::sql::sqlparser::ast::Value::Boolean(true)
                ),
                _ => false,
            };
            // `CROSS JOIN UNNEST`, `, UNNEST`, `JOIN UNNEST ... ON TRUE`;
            // `LEFT JOIN UNNEST ... ON TRUE` keeps a row with NULLs for an
            // empty or NULL array.
            let (cross, left) = match &first.join_operator {
                JoinOperator::CrossJoin(JoinConstraint::None)
                | JoinOperator::Join(JoinConstraint::None) => (true, false),
                JoinOperator::Join(c) | JoinOperator::Inner(c) => (on_true(c), false),
                JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (on_true(c), true),
                _ => (false, false),
            };
            let Some(qualifier) = relation_name(&twj.relation) else {
                break;
            };
            if !cross {
                break;
            }
            let derived = match &first.relation {
                TableFactor::Derived {
                    lateral: true,
                    subquery,
                    ..
                } => lateral_over(&twj.relation, &qualifier, subquery),
                _ => unnest_over(&twj.relation, &qualifier, &first.relation, left),
            };
            let Some(derived) = derived else {
                break;
            };
            if let TableFactor::UNNEST {
                alias: Some(alias), ..
            }
            | TableFactor::Derived {
                alias: Some(alias), ..
            } = &first.relation
            {
                renames.push((alias.name.clone(), qualifier.clone()));
            }
            twj.relation = derived;
            twj.joins.remove(0);
        }
    }
    select.from = from;
    if !renames.is_empty() {
        let _ = q.visit(&mut Requalify { renames });
    }
}

/// A query with window functions over one relation: each struct field it
/// names (`useridentity.arn`) computed once below the window, as a column
/// of the relation (`(SELECT c.*, c.useridentity.arn AS __field_0 FROM
/// ...) AS c`). DataFusion's window sorts its input whole; over the
/// struct it carried every field of `useridentity` through the sort
/// (`row_number() OVER (PARTITION BY useridentity.arn ...)` over 384,000
/// events: 0.91 s, DuckDB 0.33 s).
pub(super) fn window_fields(q: &mut Query) {
    use datafusion::sql::sqlparser::ast::visit_expressions_mut;
    let SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    if select.from.len() != 1 || !select.from[0].joins.is_empty() {
        return;
    }
    let Some(qualifier) = relation_name(&select.from[0].relation) else {
        return;
    };
    if !matches!(select.from[0].relation, TableFactor::Table { .. }) {
        return;
    }
    let mut windowed = false;
    let mut nested = false;
    let _ = datafusion::sql::sqlparser::ast::Visit::visit(
        select.as_ref(),
        &mut FindExprs(|e: &Expr| match e {
            Expr::Function(f) if f.over.is_some() => windowed = true,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => nested = true,
            _ => {}
        }),
    );
    if !windowed
        || nested
        || select.projection.iter().any(|i| {
            matches!(
                i,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        })
    {
        return;
    }
    let q_name = normalized(&qualifier);
    let mut fields: Vec<(String, String, Ident)> = Vec::new();
    let mut extract = |e: &mut Expr| {
        let Expr::CompoundIdentifier(parts) = e else {
            return;
        };
        let path: &[Ident] = if normalized(&parts[0]) == q_name {
            &parts[1..]
        } else {
            &parts[..]
        };
        if path.len() < 2 {
            return;
        }
        let text = format!(
            "{qualifier}.{}",
            path.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(".")
        );
        let name = match fields.iter().find(|(_, t, _)| *t == text) {
            Some((_, _, n)) => n.clone(),
            None => {
                let n = Ident::new(format!("__field_{}", fields.len()));
                fields.push((q_name.clone(), text, n.clone()));
                n
            }
        };
        *e = Expr::CompoundIdentifier(vec![qualifier.clone(), name]);
    };
    for item in select.projection.iter_mut() {
        match item {
            // Named as Athena names it (its last field) before it changes.
            SelectItem::UnnamedExpr(e) => {
                if let Some(last) = last_field(e) {
                    let mut expr = e.clone();
                    let _ = visit_expressions_mut(&mut expr, |x| {
                        extract(x);
                        ControlFlow::<()>::Continue(())
                    });
                    *item = SelectItem::ExprWithAlias { expr, alias: last };
                } else {
                    let _ = visit_expressions_mut(e, |x| {
                        extract(x);
                        ControlFlow::<()>::Continue(())
                    });
                }
            }
            SelectItem::ExprWithAlias { expr, .. } => {
                let _ = visit_expressions_mut(expr, |x| {
                    extract(x);
                    ControlFlow::<()>::Continue(())
                });
            }
            _ => {}
        }
    }
    let mut rest: Vec<&mut Expr> = Vec::new();
    rest.extend(select.selection.as_mut());
    rest.extend(select.having.as_mut());
    if let datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, _) = &mut select.group_by {
        rest.extend(g.iter_mut());
    }
    for w in select.named_window.iter_mut() {
        if let datafusion::sql::sqlparser::ast::NamedWindowExpr::WindowSpec(spec) = &mut w.1 {
            rest.extend(spec.partition_by.iter_mut());
            rest.extend(spec.order_by.iter_mut().map(|o| &mut o.expr));
        }
    }
    if let Some(order_by) = q.order_by.as_mut() {
        if let OrderByKind::Expressions(list) = &mut order_by.kind {
            rest.extend(list.iter_mut().map(|o| &mut o.expr));
        }
    }
    for e in rest {
        let _ = visit_expressions_mut(e, |x| {
            extract(x);
            ControlFlow::<()>::Continue(())
        });
    }
    let SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    with_columns(&mut select.from, &fields);
}

/// Calls its closure on every expression it visits.
pub(super) struct FindExprs<F: FnMut(&Expr)>(F);

impl<F: FnMut(&Expr)> datafusion::sql::sqlparser::ast::Visitor for FindExprs<F> {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        (self.0)(e);
        ControlFlow::Continue(())
    }
}

/// A subquery's reference to a field of an outer row (`c.useridentity.arn`
/// in `WHERE d.x = c.useridentity.arn`), which DataFusion 55 does not plan
/// ("Nested identifiers are not yet supported for OuterReferenceColumn"):
/// the outer relation `c` becomes `(SELECT c.*, c.useridentity.arn AS
/// __outer_0 FROM ...) AS c` and the subquery reads `c.__outer_0`, a
/// plain column. Left alone under `SELECT *`, which would show the column.
pub(super) fn outer_fields(q: &mut Query) {
    use datafusion::sql::sqlparser::ast::visit_expressions_mut;
    let SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    if select.projection.iter().any(|i| {
        matches!(
            i,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    }) {
        return;
    }
    let outer: Vec<(usize, String)> = select
        .from
        .iter()
        .enumerate()
        .filter(|(_, twj)| twj.joins.is_empty())
        .filter_map(|(i, twj)| relation_name(&twj.relation).map(|n| (i, normalized(&n))))
        .collect();
    if outer.is_empty() {
        return;
    }
    // (index in FROM, the field's text, its new column)
    let mut extracted: Vec<(usize, String, Ident)> = Vec::new();
    let mut in_subquery = |sub: &mut Query| {
        let inner: Vec<String> = match sub.body.as_ref() {
            SetExpr::Select(s) => s
                .from
                .iter()
                .flat_map(|twj| {
                    std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation))
                })
                .filter_map(relation_name)
                .map(|n| normalized(&n))
                .collect(),
            _ => return,
        };
        let before = extracted.len();
        let _ = visit_expressions_mut(&mut *sub, |e| {
            if let Expr::CompoundIdentifier(parts) = e {
                let first = normalized(&parts[0]);
                if parts.len() >= 3 && !inner.contains(&first) {
                    if let Some((i, _)) = outer.iter().find(|(_, n)| *n == first) {
                        let text = Expr::CompoundIdentifier(parts.clone()).to_string();
                        let name = match extracted.iter().find(|(_, t, _)| *t == text) {
                            Some((_, _, n)) => n.clone(),
                            None => {
                                let n = Ident::new(format!("__outer_{}", extracted.len()));
                                extracted.push((*i, text, n.clone()));
                                n
                            }
                        };
                        let qualifier = parts[0].clone();
                        *e = Expr::CompoundIdentifier(vec![qualifier, name]);
                    }
                }
            }
            ControlFlow::<()>::Continue(())
        });
        if extracted.len() > before {
            // Correlated: its own fields in WHERE as columns too, else
            // DataFusion's decorrelation loses them (`No field named
            // d.__datafusion_extracted_N`).
            if let SetExpr::Select(s) = sub.body.as_mut() {
                let mut fields = Vec::new();
                if let Some(w) = s.selection.as_mut() {
                    let _ = visit_expressions_mut(w, |e| {
                        if let Expr::CompoundIdentifier(parts) = e {
                            if parts.len() >= 3 && inner.contains(&normalized(&parts[0])) {
                                let text = Expr::CompoundIdentifier(parts.clone()).to_string();
                                let name = Ident::new(format!("__inner_{}", fields.len()));
                                fields.push((normalized(&parts[0]), text, name.clone()));
                                *e = Expr::CompoundIdentifier(vec![parts[0].clone(), name]);
                            }
                        }
                        ControlFlow::<()>::Continue(())
                    });
                }
                with_columns(&mut s.from, &fields);
            }
        }
    };
    let mut exprs: Vec<&mut Expr> = Vec::new();
    for item in select.projection.iter_mut() {
        match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => exprs.push(e),
            _ => {}
        }
    }
    exprs.extend(select.selection.as_mut());
    exprs.extend(select.having.as_mut());
    for e in exprs {
        let _ = visit_expressions_mut(e, |e| {
            match e {
                Expr::Subquery(sub)
                | Expr::Exists { subquery: sub, .. }
                | Expr::InSubquery { subquery: sub, .. } => in_subquery(sub),
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
    }
    let fields: Vec<(String, String, Ident)> = extracted
        .into_iter()
        .map(|(i, text, name)| {
            (
                outer[outer
                    .iter()
                    .position(|o| o.0 == i)
                    .expect("an outer relation")]
                .1
                .clone(),
                text,
                name,
            )
        })
        .collect();
    with_columns(&mut select.from, &fields);
}

/// Each relation of `from` (without joins) named in `fields` (relation,
/// expression, column) as `(SELECT r.*, expression AS column ... FROM
/// relation) AS r`.
pub(super) fn with_columns(from: &mut [TableWithJoins], fields: &[(String, String, Ident)]) {
    for twj in from.iter_mut().filter(|t| t.joins.is_empty()) {
        let Some(qualifier) = relation_name(&twj.relation) else {
            continue;
        };
        let items: Vec<String> = fields
            .iter()
            .filter(|(r, _, _)| *r == normalized(&qualifier))
            .map(|(_, text, name)| format!("{text} AS {name}"))
            .collect();
        if items.is_empty() {
            continue;
        }
        if let Some(derived) = with_items(&twj.relation, &qualifier, &items) {
            twj.relation = derived;
        }
    }
}

/// `(SELECT r.*, item, ... FROM relation) AS r`: the relation with more
/// columns, under its own name.
fn with_items(relation: &TableFactor, qualifier: &Ident, items: &[String]) -> Option<TableFactor> {
    let text = format!(
        "(SELECT {qualifier}.*, {} FROM {relation}) AS {qualifier}",
        items.join(", ")
    );
    Parser::new(&crate::query::athena::Athena)
        .try_with_sql(&text)
        .ok()?
        .parse_table_factor()
        .ok()
}

/// The name a relation's columns are qualified by.
pub(super) fn relation_name(r: &TableFactor) -> Option<Ident> {
    match r {
        TableFactor::Table {
            alias: Some(alias), ..
        }
        | TableFactor::Derived {
            alias: Some(alias), ..
        } => Some(alias.name.clone()),
        TableFactor::Table { name, .. } => name.0.last()?.as_ident().cloned(),
        _ => None,
    }
}

/// `(SELECT r.*, unnest(...) AS x ... FROM r) AS r` for one UNNEST after `r`.
pub(super) fn unnest_over(
    relation: &TableFactor,
    qualifier: &Ident,
    unnest: &TableFactor,
    left: bool,
) -> Option<TableFactor> {
    let TableFactor::UNNEST {
        alias,
        array_exprs,
        with_offset: false,
        with_offset_alias: None,
        with_ordinality,
    } = unnest
    else {
        return None;
    };
    let mut names: Vec<Ident> = match alias {
        Some(a) if !a.columns.is_empty() => a.columns.iter().map(|c| c.name.clone()).collect(),
        Some(a) => vec![a.name.clone()],
        None => (0..array_exprs.len())
            .map(|i| Ident::new(format!("_unnest{i}")))
            .collect(),
    };
    let ordinality = if *with_ordinality {
        Some(names.pop()?)
    } else {
        None
    };
    if names.len() != array_exprs.len() || array_exprs.is_empty() {
        return None;
    }
    let mut items: Vec<String> = array_exprs
        .iter()
        .zip(&names)
        .map(|(e, n)| {
            if left {
                format!("unnest(CASE WHEN array_length({e}) > 0 THEN {e} ELSE make_array(NULL) END) AS {n}")
            } else {
                format!("unnest({e}) AS {n}")
            }
        })
        .collect();
    if let Some(n) = ordinality {
        let longest = array_exprs
            .iter()
            .map(|e| format!("CAST(coalesce(array_length({e}), 0) AS BIGINT)"))
            .collect::<Vec<_>>()
            .join(", ");
        let longest = if array_exprs.len() == 1 {
            longest
        } else {
            format!("greatest({longest})")
        };
        items.push(format!("unnest(range(1, {longest} + 1)) AS {n}"));
    }
    with_items(relation, qualifier, &items)
}

/// `(SELECT r.*, e AS x ... FROM r) AS r` for `r, LATERAL (SELECT e AS x
/// ...)`: a lateral subquery of expressions only (no FROM, WHERE or
/// aggregate), which DataFusion cannot plan over an outer column.
pub(super) fn lateral_over(
    relation: &TableFactor,
    qualifier: &Ident,
    sub: &Query,
) -> Option<TableFactor> {
    let SetExpr::Select(select) = sub.body.as_ref() else {
        return None;
    };
    if !select.from.is_empty()
        || select.selection.is_some()
        || select.having.is_some()
        || sub.with.is_some()
        || sub.order_by.is_some()
        || sub.limit_clause.is_some()
        || select.distinct.is_some()
        || !matches!(&select.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty())
    {
        return None;
    }
    let items: Vec<String> = select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { expr, alias } => Some(format!("{expr} AS {alias}")),
            _ => None,
        })
        .collect::<Option<_>>()?;
    with_items(relation, qualifier, &items)
}

/// Reads `u.x...` as `r.x...` once UNNEST's table `u` is folded into `r`.
pub(super) struct Requalify {
    renames: Vec<(Ident, Ident)>,
}

impl VisitorMut for Requalify {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = e {
            if let Some(first) = parts.first_mut() {
                let name = normalized(first);
                if let Some((_, to)) = self
                    .renames
                    .iter()
                    .find(|(from, _)| normalized(from) == name)
                {
                    *first = to.clone();
                }
            }
        }
        ControlFlow::Continue(())
    }
}
