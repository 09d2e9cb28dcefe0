//! Names as saved: the table names and partition columns of saved Athena
//! queries, as the lake's.

use super::*;

/// The lake's own table names: left as they are.
use crate::query::TABLES as OWN_TABLES;

/// Table names and partition columns as saved queries write them (see the
/// module's comment). A query naming two or more tables other than its
/// CTEs is left alone (which is the lake is not for us to guess), but
/// for the `table_names` the user configured, which always name the lake
/// (`db.table` or `table`, any case).
pub fn names_as_saved(s: &mut datafusion::sql::sqlparser::ast::Statement, table_names: &[String]) {
    let configured: std::collections::BTreeSet<String> = table_names
        .iter()
        .map(|n| n.trim().to_lowercase())
        .collect();
    // `db.table` configured matches that; `table` matches it in any db.
    let is_configured = |n: &str| {
        configured.contains(n) || n.rsplit('.').next().is_some_and(|t| configured.contains(t))
    };
    let mut seen = Names::default();
    let _ = s.visit(&mut seen);
    let others: std::collections::BTreeSet<String> = seen
        .tables
        .iter()
        .filter(|n| !seen.ctes.contains(n.as_str()))
        .filter(|n| !n.starts_with("information_schema."))
        .filter(|n| !OWN_TABLES.contains(&n.as_str()))
        .cloned()
        .collect();
    let mut lake: std::collections::BTreeSet<String> = others
        .iter()
        .filter(|n| is_configured(n))
        .cloned()
        .collect();
    let unknown: Vec<&String> = others.iter().filter(|n| !is_configured(n)).collect();
    if unknown.len() == 1 && lake.is_empty() {
        lake.insert(unknown[0].clone());
    }
    let _ = s.visit(&mut SavedNames {
        tables: lake,
        aliases: seen.aliases,
    });
}

/// What a statement names: tables (lower case, dotted), CTEs, and the
/// result and table aliases it defines.
#[derive(Default)]
pub(super) struct Names {
    tables: Vec<String>,
    ctes: std::collections::BTreeSet<String>,
    aliases: std::collections::BTreeSet<String>,
}

pub(super) fn dotted(name: &datafusion::sql::sqlparser::ast::ObjectName) -> String {
    name.0
        .iter()
        .map(|p| p.to_string().trim_matches('"').to_lowercase())
        .collect::<Vec<_>>()
        .join(".")
}

impl VisitorMut for Names {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.ctes.insert(normalized(&cte.alias.name));
            }
        }
        if let SetExpr::Select(select) = q.body.as_ref() {
            for item in &select.projection {
                if let SelectItem::ExprWithAlias { alias, .. } = item {
                    self.aliases.insert(normalized(alias));
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
        match t {
            TableFactor::Table { name, alias, .. } => {
                self.tables.push(dotted(name));
                if let Some(a) = alias {
                    self.aliases.insert(normalized(&a.name));
                }
            }
            TableFactor::Derived { alias: Some(a), .. }
            | TableFactor::UNNEST { alias: Some(a), .. } => {
                self.aliases.insert(normalized(&a.name));
                for c in &a.columns {
                    self.aliases.insert(normalized(&c.name));
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Renames the lake's names to `cloudtrail` (keeping the old name as its
/// alias, so `cloudtrail_logs.eventname` still resolves) and the saved
/// partition columns to the lake's.
pub(super) struct SavedNames {
    /// The names (dotted, lower case) that read the lake here.
    tables: std::collections::BTreeSet<String>,
    aliases: std::collections::BTreeSet<String>,
}

/// A `yyyy/MM/dd` partition column of a saved table, as the lake's.
pub(super) const DATE_COLUMNS: [&str; 3] = ["date_partition", "dt", "timestamp"];

pub(super) fn date_string() -> Expr {
    parse_expr("concat(year, '/', month, '/', day)").expect("parses")
}

impl SavedNames {
    /// A partition column of a saved table that this statement does not
    /// define itself (as an alias): the lake's expression for it.
    fn column(&self, e: &Expr) -> Option<Expr> {
        let Expr::Identifier(id) = e else {
            return None;
        };
        let name = normalized(id);
        if self.aliases.contains(&name) {
            return None;
        }
        match name.as_str() {
            "account_partition" => Some(Expr::Identifier(Ident::new("account"))),
            "region_partition" => Some(Expr::Identifier(Ident::new("region"))),
            // Tables partitioned as `yyyy/mm/dd` folders.
            "yyyy" => Some(Expr::Identifier(Ident::new("year"))),
            "mm" => Some(Expr::Identifier(Ident::new("month"))),
            "dd" => Some(Expr::Identifier(Ident::new("day"))),
            n if DATE_COLUMNS.contains(&n) => Some(date_string()),
            _ => None,
        }
    }

    fn is_date(&self, e: &Expr) -> bool {
        matches!(self.column(e), Some(Expr::Function(_)))
    }

    /// `date OP e` as the comparison and the comparisons of its prefixes
    /// that it implies (`year OP' substr(e, 1, 4)`, `year/month ...`), so
    /// that the folders are pruned at every level, not only the day's.
    fn date_comparison(&self, op: &BinaryOperator, other: &Expr, date_left: bool) -> Option<Expr> {
        use BinaryOperator::*;
        let op = if date_left {
            op.clone()
        } else {
            match op {
                Gt => Lt,
                GtEq => LtEq,
                Lt => Gt,
                LtEq => GtEq,
                Eq => Eq,
                _ => return None,
            }
        };
        let prefix_op = match op {
            Gt | GtEq => ">=",
            Lt | LtEq => "<=",
            Eq => "=",
            _ => return None,
        };
        let full = Expr::BinaryOp {
            left: Box::new(date_string()),
            op: op.clone(),
            right: Box::new(other.clone()),
        };
        let other = other.to_string();
        parse_expr(&format!(
            "(year {prefix_op} substr({other}, 1, 4) AND concat(year, '/', month) {prefix_op} \
             substr({other}, 1, 7) AND ({full}))"
        ))
    }
}

impl VisitorMut for SavedNames {
    type Break = ();

    fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, alias, .. } = t else {
            return ControlFlow::Continue(());
        };
        let dotted_name = dotted(name);
        let own = dotted_name.rsplit('.').next().unwrap_or("");
        let to = if self.tables.contains(&dotted_name) {
            "cloudtrail"
        } else if dotted_name.contains('.') && OWN_TABLES.contains(&own) {
            // `traillake.cloudtrail`, the DDL's own database.
            own
        } else {
            return ControlFlow::Continue(());
        };
        if alias.is_none() {
            let last = name.0.last().map(|p| p.to_string()).unwrap_or_default();
            let last = last.trim_matches('"').to_lowercase();
            if last != to {
                *alias = Some(datafusion::sql::sqlparser::ast::TableAlias {
                    explicit: true,
                    name: Ident::new(last),
                    columns: Vec::new(),
                    at: None,
                });
            }
        }
        *name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![Ident::new(to)]);
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        match e {
            Expr::BinaryOp { left, op, right } => {
                let new = if self.is_date(left) && !self.is_date(right) {
                    self.date_comparison(op, right, true)
                } else if self.is_date(right) && !self.is_date(left) {
                    self.date_comparison(op, left, false)
                } else {
                    None
                };
                if let Some(new) = new {
                    *e = new;
                    return ControlFlow::Continue(());
                }
            }
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } if self.is_date(expr) => {
                let lo = self.date_comparison(&BinaryOperator::GtEq, low, true);
                let hi = self.date_comparison(&BinaryOperator::LtEq, high, true);
                if let (Some(lo), Some(hi)) = (lo, hi) {
                    *e = Expr::BinaryOp {
                        left: Box::new(lo),
                        op: BinaryOperator::And,
                        right: Box::new(hi),
                    };
                    return ControlFlow::Continue(());
                }
            }
            _ => {}
        }
        if let Some(new) = self.column(e) {
            *e = new;
        }
        ControlFlow::Continue(())
    }
}
