//! Athena (Trino) SQL as investigators write it, made into SQL DataFusion
//! plans: a few rewrites of the syntax tree, each to DataFusion's spelling
//! of the same thing.
//!
//! - `IPADDRESS '1.2.3.4'`, `IPPREFIX '10.0.0.0/8'` and `CAST(x AS
//!   IPADDRESS)` become `ipaddress(...)` / `ipprefix(...)` calls
//!   ([`super::trino`]);
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
//!   `year/month/day`, `account` and `region`, pruning at every level.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, DataType, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Ident, Join, JoinConstraint, JoinOperator, OrderByKind, Query, SelectItem,
    SetExpr, Subscript, TableFactor, TableWithJoins, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

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

/// `IPADDRESS '...'` and `IPPREFIX '...'` literals as function calls: they
/// do not parse as they are.
pub fn prepare(sql: &str) -> String {
    let dialect = super::athena::Athena;
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize_with_location() else {
        return sql.to_string();
    };
    // Everything but the rewritten literals is copied from the text as it
    // was written (quotes, escapes and comments included).
    let mut cursor = Cursor::default();
    let mut offset = |loc: Location| cursor.byte_offset(sql, loc);
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut i = 0;
    while i < tokens.len() {
        if let Token::Word(w) = &tokens[i].token {
            // Athena's identifiers ignore case, quoted or not: `"eventName"`
            // is the column `eventname`, and so is its result name.
            if w.quote_style == Some('"') && w.value.chars().any(char::is_uppercase) {
                let start = offset(tokens[i].span.start);
                let end = offset(tokens[i].span.end);
                out.push_str(&sql[copied..start]);
                out.push('"');
                out.push_str(&w.value.to_lowercase().replace('"', "\"\""));
                out.push('"');
                copied = end;
                i += 1;
                continue;
            }
            let name = w.value.to_ascii_uppercase();
            // Trino's `VALUES 1, 2, 3`: one-column rows without their
            // parentheses, which the parser wants.
            if w.quote_style.is_none() && name == "VALUES" {
                if let Some((text, next)) = values_rows(sql, &tokens, i, &mut offset) {
                    let start = offset(tokens[i].span.start);
                    out.push_str(&sql[copied..start]);
                    out.push_str(&text);
                    copied = offset(tokens[next - 1].span.end);
                    i = next;
                    continue;
                }
            }
            // Trino's `CAST(x AS ARRAY(VARCHAR))`: DataFusion's `VARCHAR[]`.
            if w.quote_style.is_none() && name == "ARRAY" {
                let at = |k: usize| tokens.get(k).map(|t| &t.token);
                let skip_ws = |mut k: usize| {
                    while matches!(at(k), Some(Token::Whitespace(_))) {
                        k += 1;
                    }
                    k
                };
                let mut back = i;
                let after_as = loop {
                    if back == 0 {
                        break false;
                    }
                    back -= 1;
                    match at(back) {
                        Some(Token::Whitespace(_)) => continue,
                        Some(Token::Word(p)) => break p.value.eq_ignore_ascii_case("AS"),
                        _ => break false,
                    }
                };
                let open = skip_ws(i + 1);
                let ty = skip_ws(open + 1);
                let close = skip_ws(ty + 1);
                if let (true, Some(Token::LParen), Some(Token::Word(t)), Some(Token::RParen)) =
                    (after_as, at(open), at(ty), at(close))
                {
                    let start = offset(tokens[i].span.start);
                    let end = offset(tokens[close].span.end);
                    out.push_str(&sql[copied..start]);
                    out.push_str(&format!("{}[]", t.value));
                    copied = end;
                    i = close + 1;
                    continue;
                }
            }
            if w.quote_style.is_none() && (name == "IPADDRESS" || name == "IPPREFIX") {
                // The next token past whitespace: a string literal?
                let mut j = i + 1;
                while matches!(tokens.get(j).map(|t| &t.token), Some(Token::Whitespace(_))) {
                    j += 1;
                }
                if let Some(Token::SingleQuotedString(s)) = tokens.get(j).map(|t| &t.token) {
                    let start = offset(tokens[i].span.start);
                    out.push_str(&sql[copied..start]);
                    out.push_str(&format!(
                        "{}('{}')",
                        name.to_ascii_lowercase(),
                        s.replace('\'', "''")
                    ));
                    copied = offset(tokens[j].span.end);
                    i = j + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(&sql[copied..]);
    out
}

/// `VALUES a, b, c` (at token `at`) as `VALUES (a), (b), (c)`, and the
/// index of the token after it; None when the rows have their parentheses
/// (`VALUES (1, 'a'), ...`).
fn values_rows(
    sql: &str,
    tokens: &[datafusion::sql::sqlparser::tokenizer::TokenWithSpan],
    at: usize,
    offset: &mut impl FnMut(Location) -> usize,
) -> Option<(String, usize)> {
    let mut j = at + 1;
    while matches!(tokens.get(j).map(|t| &t.token), Some(Token::Whitespace(_))) {
        j += 1;
    }
    if matches!(tokens.get(j).map(|t| &t.token), Some(Token::LParen) | None) {
        return None;
    }
    // The rows end at a closing parenthesis, `;`, the end, or a clause
    // keyword at depth 0.
    let mut depth = 0usize;
    let mut items: Vec<(usize, usize)> = Vec::new(); // token ranges
    let mut first = j;
    let mut k = j;
    let mut last = j; // last non-space token of the current item
    while let Some(t) = tokens.get(k) {
        match &t.token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket if depth == 0 => break,
            Token::RParen | Token::RBracket => depth -= 1,
            Token::SemiColon if depth == 0 => break,
            Token::Comma if depth == 0 => {
                items.push((first, last));
                first = k + 1;
                while matches!(
                    tokens.get(first).map(|t| &t.token),
                    Some(Token::Whitespace(_))
                ) {
                    first += 1;
                }
            }
            Token::Word(w)
                if depth == 0
                    && w.quote_style.is_none()
                    && matches!(
                        w.value.to_ascii_uppercase().as_str(),
                        "ORDER" | "LIMIT" | "UNION" | "EXCEPT" | "INTERSECT" | "OFFSET" | "FETCH"
                    ) =>
            {
                break
            }
            Token::Whitespace(_) => {}
            _ => {}
        }
        if !matches!(t.token, Token::Whitespace(_) | Token::Comma) {
            last = k;
        }
        k += 1;
    }
    if last < first {
        return None;
    }
    items.push((first, last));
    let rows: Vec<String> = items
        .iter()
        .map(|&(a, b)| {
            let (from, to) = (offset(tokens[a].span.start), offset(tokens[b].span.end));
            format!("({})", &sql[from..to])
        })
        .collect();
    Some((format!("VALUES {}", rows.join(", ")), last + 1))
}

/// Byte offsets of tokenizer locations (1-based line and column, the
/// column in characters) in `sql`, asked for in increasing order: each is
/// found from the last, so a statement's tokens cost one pass over it.
#[derive(Default)]
struct Cursor {
    at: usize,
    line: u64,
    column: u64,
}

impl Cursor {
    fn byte_offset(&mut self, sql: &str, loc: Location) -> usize {
        if self.line == 0 || (loc.line, loc.column) < (self.line, self.column) {
            *self = Cursor {
                at: 0,
                line: 1,
                column: 1,
            };
        }
        for (i, c) in sql[self.at..].char_indices() {
            if self.line == loc.line && self.column == loc.column {
                self.at += i;
                return self.at;
            }
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.at = sql.len();
        sql.len()
    }
}

/// Rewrites one parsed statement in place.
pub fn rewrite(stmt: &mut datafusion::sql::parser::Statement, table_names: &[String]) {
    if let datafusion::sql::parser::Statement::Statement(s) = stmt {
        names_as_saved(s, table_names);
        let _ = s.visit(&mut Rewriter { depth: 0 });
    }
}

/// The lake's own table names: left as they are.
const OWN_TABLES: [&str; 2] = ["cloudtrail", "cloudtrail_all_versions"];

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
struct Names {
    tables: Vec<String>,
    ctes: std::collections::BTreeSet<String>,
    aliases: std::collections::BTreeSet<String>,
}

fn dotted(name: &datafusion::sql::sqlparser::ast::ObjectName) -> String {
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
struct SavedNames {
    /// The names (dotted, lower case) that read the lake here.
    tables: std::collections::BTreeSet<String>,
    aliases: std::collections::BTreeSet<String>,
}

/// A `yyyy/MM/dd` partition column of a saved table, as the lake's.
const DATE_COLUMNS: [&str; 3] = ["date_partition", "dt", "timestamp"];

fn date_string() -> Expr {
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

struct Rewriter {
    /// Queries entered and not yet left (1 in the outermost).
    depth: usize,
}

fn parse_expr(text: &str) -> Option<Expr> {
    Parser::new(&super::athena::Athena)
        .try_with_sql(text)
        .ok()?
        .parse_expr()
        .ok()
}

/// The plain arguments of a call, if they are all plain expressions.
fn plain_args(args: &FunctionArguments) -> Option<Vec<&Expr>> {
    let FunctionArguments::List(list) = args else {
        return Some(Vec::new());
    };
    if !list.clauses.is_empty() || list.duplicate_treatment.is_some() {
        return None;
    }
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect()
}

fn rewrite_expr(e: &Expr) -> Option<Expr> {
    match e {
        // `LIKE 'a!_%' ESCAPE '!'`: DataFusion takes only `\` as the escape,
        // so the pattern is written with it.
        Expr::Like {
            negated,
            any,
            expr,
            pattern,
            escape_char: Some(esc),
        }
        | Expr::ILike {
            negated,
            any,
            expr,
            pattern,
            escape_char: Some(esc),
        } => {
            let esc_text = match &esc.value {
                datafusion::sql::sqlparser::ast::Value::SingleQuotedString(s) => s.clone(),
                _ => return None,
            };
            let mut chars = esc_text.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                return None;
            };
            if c == '\\' {
                return None;
            }
            let Expr::Value(v) = pattern.as_ref() else {
                return None;
            };
            let datafusion::sql::sqlparser::ast::Value::SingleQuotedString(p) = &v.value else {
                return None;
            };
            let mut out = String::new();
            let mut it = p.chars();
            while let Some(ch) = it.next() {
                if ch == c {
                    match it.next() {
                        Some(next) => {
                            out.push('\\');
                            out.push(next);
                        }
                        None => out.push(ch),
                    }
                } else if ch == '\\' {
                    out.push_str("\\\\");
                } else {
                    out.push(ch);
                }
            }
            let pattern = Box::new(Expr::Value(
                datafusion::sql::sqlparser::ast::Value::SingleQuotedString(out).into(),
            ));
            let backslash = Some(
                datafusion::sql::sqlparser::ast::Value::SingleQuotedString("\\".to_string()).into(),
            );
            Some(if matches!(e, Expr::Like { .. }) {
                Expr::Like {
                    negated: *negated,
                    any: *any,
                    expr: expr.clone(),
                    pattern,
                    escape_char: backslash,
                }
            } else {
                Expr::ILike {
                    negated: *negated,
                    any: *any,
                    expr: expr.clone(),
                    pattern,
                    escape_char: backslash,
                }
            })
        }
        // `element_at(resources, 1).type`, `resources[1].arn`: a field of
        // something other than a column, which DataFusion's planner takes
        // only through `get_field`.
        Expr::CompoundFieldAccess { root, access_chain }
            if access_chain.iter().any(|a| matches!(a, AccessExpr::Dot(_))) =>
        {
            let mut text = format!("({root})");
            for access in access_chain {
                text = match access {
                    AccessExpr::Dot(Expr::Identifier(field)) => {
                        format!(
                            "get_field({text}, '{}')",
                            normalized(field).replace('\'', "''")
                        )
                    }
                    AccessExpr::Subscript(Subscript::Index { index }) => {
                        format!("{text}[{index}]")
                    }
                    _ => return None,
                };
            }
            parse_expr(&text)
        }
        Expr::Cast {
            expr,
            data_type: DataType::Custom(name, _),
            ..
        } => {
            // A value that is not an address is NULL, so CAST and TRY_CAST
            // are one here.
            let ty = name.to_string().to_ascii_lowercase();
            if ty != "ipaddress" && ty != "ipprefix" {
                return None;
            }
            parse_expr(&format!("{ty}({expr})"))
        }
        Expr::Function(f) => {
            if f.over.is_some() || f.filter.is_some() {
                return None;
            }
            let name = f.name.0.last()?.to_string().to_ascii_lowercase();
            let args = plain_args(&f.args)?;
            let a = |i: usize| args.get(i).map(|e| format!("({e})"));
            let text = match (name.as_str(), args.len()) {
                ("try", 1) => {
                    return Some(match args[0] {
                        Expr::Cast {
                            expr,
                            data_type,
                            format,
                            array,
                            ..
                        } => Expr::Cast {
                            kind: CastKind::TryCast,
                            expr: expr.clone(),
                            data_type: data_type.clone(),
                            format: format.clone(),
                            array: *array,
                        },
                        other => Expr::Nested(Box::new(other.clone())),
                    })
                }
                ("count_if", 1) => format!("count(CASE WHEN {} THEN 1 END)", a(0)?),
                ("max_by", 2) => {
                    format!("first_value({} ORDER BY {} DESC NULLS LAST)", a(0)?, a(1)?)
                }
                ("min_by", 2) => {
                    format!("first_value({} ORDER BY {} ASC NULLS LAST)", a(0)?, a(1)?)
                }
                ("arbitrary", 1) => format!("any_value({})", a(0)?),
                // Trino's lambda functions by DataFusion's names; all_match
                // and none_match through any_match, NULLs as Trino has them
                // (a NULL from the predicate with no decisive element).
                ("transform", 2) => format!("array_transform({}, {})", a(0)?, args[1]),
                ("filter", 2) => format!("array_filter({}, {})", a(0)?, args[1]),
                ("all_match", 2) => {
                    let Expr::Lambda(l) = args[1] else {
                        return None;
                    };
                    let mut not = l.clone();
                    not.body = Box::new(Expr::UnaryOp {
                        op: datafusion::sql::sqlparser::ast::UnaryOperator::Not,
                        expr: Box::new(Expr::Nested(l.body.clone())),
                    });
                    format!("(NOT array_any_match({}, {}))", a(0)?, Expr::Lambda(not))
                }
                ("none_match", 2) => format!("(NOT array_any_match({}, {}))", a(0)?, args[1]),
                ("slice", 3) => format!(
                    "array_slice({}, {}, {} + {} - 1)",
                    a(0)?,
                    a(1)?,
                    a(1)?,
                    a(2)?
                ),
                (
                    "year" | "month" | "day" | "hour" | "minute" | "second" | "quarter" | "week",
                    1,
                ) => {
                    format!("CAST(date_part('{name}', {}) AS BIGINT)", a(0)?)
                }
                ("day_of_month", 1) => format!("CAST(date_part('day', {}) AS BIGINT)", a(0)?),
                ("day_of_week" | "dow", 1) => {
                    format!("CAST(date_part('isodow', {}) AS BIGINT)", a(0)?)
                }
                ("day_of_year" | "doy", 1) => {
                    format!("CAST(date_part('doy', {}) AS BIGINT)", a(0)?)
                }
                // Trino's names for what DataFusion has under another.
                ("array_remove", 2) => format!("array_remove_all({}, {})", a(0)?, a(1)?),
                ("repeat", 2) => format!("array_repeat({}, {})", a(0)?, a(1)?),
                ("sequence", 2) => format!("generate_series({}, {})", a(0)?, a(1)?),
                ("sequence", 3) => format!("generate_series({}, {}, {})", a(0)?, a(1)?, a(2)?),
                ("codepoint", 1) => format!("CAST(ascii({}) AS INTEGER)", a(0)?),
                ("every", 1) => format!("bool_and({})", a(0)?),
                ("mod", 2) => format!("({} % {})", a(0)?, a(1)?),
                ("sign", 1) => format!("signum({})", a(0)?),
                ("truncate", 1) => format!("trunc({})", a(0)?),
                ("rand", 0) => "random()".to_string(),
                ("is_nan", 1) => format!("isnan({})", a(0)?),
                ("bitwise_and", 2) => format!("({} & {})", a(0)?, a(1)?),
                ("bitwise_or", 2) => format!("({} | {})", a(0)?, a(1)?),
                ("bitwise_xor", 2) => format!("({} ^ {})", a(0)?, a(1)?),
                ("at_timezone", 2) => format!("({} AT TIME ZONE {})", a(0)?, args[1]),
                ("variance", 1) => format!("var_samp({})", a(0)?),
                // A bigint, as Trino's (DataFusion's is unsigned, and
                // `cardinality(x) - 1` became a decimal).
                ("cardinality", 1) => format!("CAST(cardinality({}) AS BIGINT)", a(0)?),
                // -1 when there is no match, where regexp_instr gives 0.
                ("regexp_position", 2) => format!(
                    "CASE regexp_instr({0}, {1}) WHEN 0 THEN -1 ELSE regexp_instr({0}, {1}) END",
                    a(0)?,
                    a(1)?
                ),
                ("trim_array", 2) => {
                    format!("array_slice({0}, 1, CAST(cardinality({0}) AS BIGINT) - {1})", a(0)?, a(1)?)
                }
                // Equal-width buckets of [low, high): 0 below, n + 1 at or
                // above high.
                ("width_bucket", 4) => format!(
                    "CASE WHEN {0} < {1} THEN 0 WHEN {0} >= {2} THEN {3} + 1 ELSE \
                     CAST(floor(({0} - {1}) * {3} / ({2} - {1})) AS BIGINT) + 1 END",
                    a(0)?,
                    a(1)?,
                    a(2)?,
                    a(3)?
                ),
                ("nan", 0) => "CAST('NaN' AS DOUBLE)".to_string(),
                ("infinity", 0) => "CAST('Infinity' AS DOUBLE)".to_string(),
                ("last_day_of_month", 1) => format!(
                    "CAST(date_trunc('month', CAST({} AS DATE)) + INTERVAL '1' MONTH - INTERVAL '1' DAY AS DATE)",
                    a(0)?
                ),
                ("if", 2) => format!("CASE WHEN {} THEN {} END", a(0)?, a(1)?),
                ("if", 3) => format!("CASE WHEN {} THEN {} ELSE {} END", a(0)?, a(1)?, a(2)?),
                ("levenshtein_distance", 2) => format!("levenshtein({}, {})", a(0)?, a(1)?),
                // Seconds, fractions kept, as Trino's from_unixtime(double).
                ("from_unixtime", 1) => {
                    format!("to_timestamp_nanos(CAST(({}) * 1e9 AS BIGINT))", a(0)?)
                }
                ("approx_percentile", 2) => {
                    format!("approx_percentile_cont({}, {})", a(0)?, a(1)?)
                }
                ("approx_percentile", 3) => {
                    format!(
                        "approx_percentile_cont_with_weight({}, {}, {})",
                        a(0)?,
                        a(1)?,
                        a(2)?
                    )
                }
                // Trino's type names for what the planner knows.
                ("typeof", 1) => format!(
                    "CASE arrow_typeof({0}) WHEN 'Utf8' THEN 'varchar' WHEN 'Utf8View' THEN \
                     'varchar' WHEN 'Int64' THEN 'bigint' WHEN 'Int32' THEN 'integer' WHEN \
                     'Float64' THEN 'double' WHEN 'Boolean' THEN 'boolean' WHEN 'Date32' THEN \
                     'date' WHEN 'Null' THEN 'unknown' ELSE lower(arrow_typeof({0})) END",
                    a(0)?
                ),
                _ => return None,
            };
            parse_expr(&text)
        }
        _ => None,
    }
}

/// An identifier as the planner compares it: lower case unless quoted.
fn normalized(id: &Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_ascii_lowercase()
    }
}

/// Trino's lateral `CROSS JOIN UNNEST(a [, b ...]) [WITH ORDINALITY] AS
/// u(x [, y ...] [, n])` (or `, UNNEST(...)`) right after a relation `r`:
/// DataFusion plans no outer reference inside UNNEST in FROM, so the pair
/// becomes one derived table named as `r` is, `(SELECT r.*, unnest(a) AS x,
/// ... FROM r) AS r`, and `u.x` is read as `r.x`. Several arrays are zipped
/// (the shorter padded with NULLs) and the ordinality counts from 1, as in
/// Trino; an empty or NULL array gives no row.
fn lateral_unnest(q: &mut Query) {
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
fn window_fields(q: &mut Query) {
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
struct FindExprs<F: FnMut(&Expr)>(F);

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
fn outer_fields(q: &mut Query) {
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
fn with_columns(from: &mut [TableWithJoins], fields: &[(String, String, Ident)]) {
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
        let text = format!(
            "(SELECT {qualifier}.*, {} FROM {}) AS {qualifier}",
            items.join(", "),
            twj.relation
        );
        if let Some(derived) = Parser::new(&super::athena::Athena)
            .try_with_sql(&text)
            .ok()
            .and_then(|mut p| p.parse_table_factor().ok())
        {
            twj.relation = derived;
        }
    }
}

/// The name a relation's columns are qualified by.
fn relation_name(r: &TableFactor) -> Option<Ident> {
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
fn unnest_over(
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
    let text = format!(
        "(SELECT {qualifier}.*, {} FROM {relation}) AS {qualifier}",
        items.join(", ")
    );
    Parser::new(&super::athena::Athena)
        .try_with_sql(&text)
        .ok()?
        .parse_table_factor()
        .ok()
}

/// `(SELECT r.*, e AS x ... FROM r) AS r` for `r, LATERAL (SELECT e AS x
/// ...)`: a lateral subquery of expressions only (no FROM, WHERE or
/// aggregate), which DataFusion cannot plan over an outer column.
fn lateral_over(relation: &TableFactor, qualifier: &Ident, sub: &Query) -> Option<TableFactor> {
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
    let text = format!(
        "(SELECT {qualifier}.*, {} FROM {relation}) AS {qualifier}",
        items.join(", ")
    );
    Parser::new(&super::athena::Athena)
        .try_with_sql(&text)
        .ok()?
        .parse_table_factor()
        .ok()
}

/// Reads `u.x...` as `r.x...` once UNNEST's table `u` is folded into `r`.
struct Requalify {
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

/// `r.type` in a lambda over `r`: the field `type` of the parameter, which
/// DataFusion's planner takes only as `get_field(r, 'type')` (a dotted
/// name is a column to it).
fn lambda_fields(l: &mut datafusion::sql::sqlparser::ast::LambdaFunction) {
    let params: Vec<String> = l.params.iter().map(|p| normalized(&p.name)).collect();
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(l.body.as_mut(), |e| {
        if let Expr::CompoundIdentifier(parts) = e {
            if parts.len() >= 2 && params.contains(&normalized(&parts[0])) {
                let mut text = parts[0].to_string();
                for field in &parts[1..] {
                    text = format!(
                        "get_field({text}, '{}')",
                        normalized(field).replace('\'', "''")
                    );
                }
                if let Some(access) = parse_expr(&text) {
                    *e = access;
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(sql: &str) -> String {
        let sql = prepare(sql);
        let mut stmts = Parser::parse_sql(&crate::query::athena::Athena, &sql).unwrap();
        let mut stmt = datafusion::sql::parser::Statement::Statement(Box::new(stmts.remove(0)));
        rewrite(&mut stmt, &[]);
        stmt.to_string()
    }

    #[test]
    fn configured_table_names_read_the_lake_even_when_two_are_named() {
        let sql = "SELECT a.eventname FROM prod_trail a JOIN \"Org\".\"Audit_Trail\" b ON a.eventid = b.eventid";
        let mut stmts = Parser::parse_sql(&crate::query::athena::Athena, sql).unwrap();
        let mut stmt = datafusion::sql::parser::Statement::Statement(Box::new(stmts.remove(0)));
        rewrite(&mut stmt, &["prod_trail".into(), "org.audit_trail".into()]);
        assert_eq!(
            stmt.to_string(),
            "SELECT a.eventname AS eventname FROM cloudtrail a JOIN cloudtrail b ON a.eventid = b.eventid"
        );
        // Unconfigured, two names are left as they are (table not found).
        assert!(roundtrip(sql).contains("FROM prod_trail a JOIN"));
    }

    #[test]
    fn window_queries_compute_struct_fields_below_the_window() {
        let s = roundtrip(
            "SELECT useridentity.arn, row_number() OVER (PARTITION BY useridentity.arn ORDER BY eventtime) AS rn FROM cloudtrail WHERE useridentity.type = 'IAMUser'",
        );
        assert_eq!(
            s,
            "SELECT cloudtrail.__field_0 AS arn, row_number() OVER (PARTITION BY \
             cloudtrail.__field_0 ORDER BY eventtime) AS rn FROM (SELECT cloudtrail.*, \
             cloudtrail.useridentity.arn AS __field_0, cloudtrail.useridentity.type AS __field_1 \
             FROM cloudtrail) AS cloudtrail WHERE cloudtrail.__field_1 = 'IAMUser'"
        );
        // Without a window function, left as it is.
        let plain = roundtrip("SELECT useridentity.arn FROM cloudtrail");
        assert_eq!(plain, "SELECT useridentity.arn AS arn FROM cloudtrail");
    }

    #[test]
    fn values_rows_get_their_parentheses() {
        assert_eq!(
            prepare("SELECT * FROM (VALUES 1, 2 + 3, f(4, 5)) t(x) ORDER BY x"),
            "SELECT * FROM (VALUES (1), (2 + 3), (f(4, 5))) t(x) ORDER BY x"
        );
        assert_eq!(prepare("VALUES 'a', 'b'"), "VALUES ('a'), ('b')");
        let rows = "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) t(x, y)";
        assert_eq!(prepare(rows), rows);
    }

    #[test]
    fn lambdas_take_trinos_names_and_fields() {
        assert_eq!(
            roundtrip("SELECT transform(resources, r -> r.arn) AS a FROM cloudtrail"),
            "SELECT array_transform((resources), r -> get_field(r, 'arn')) AS a FROM cloudtrail"
        );
        assert_eq!(
            roundtrip("SELECT all_match(a, x -> x > 1) AS b FROM cloudtrail"),
            "SELECT (NOT array_any_match((a), x -> NOT (x > 1))) AS b FROM cloudtrail"
        );
        assert_eq!(
            roundtrip("SELECT none_match(a, x -> x.y = 2) AS b FROM cloudtrail"),
            "SELECT (NOT array_any_match((a), x -> get_field(x, 'y') = 2)) AS b FROM cloudtrail"
        );
    }

    #[test]
    fn left_join_unnest_and_lateral_expressions_fold_into_the_relation() {
        let s =
            roundtrip("SELECT r.arn FROM cloudtrail LEFT JOIN UNNEST(resources) AS t(r) ON TRUE");
        assert_eq!(
            s,
            "SELECT r.arn AS arn FROM (SELECT cloudtrail.*, unnest(CASE WHEN \
             array_length(resources) > 0 THEN resources ELSE make_array(NULL) END) AS r FROM \
             cloudtrail) AS cloudtrail"
        );
        let s =
            roundtrip("SELECT l.x FROM cloudtrail c, LATERAL (SELECT upper(c.eventname) AS x) l");
        assert_eq!(
            s,
            "SELECT c.x AS x FROM (SELECT c.*, upper(c.eventname) AS x FROM cloudtrail c) AS c"
        );
        // A lateral subquery with a FROM is not an expression list: left.
        let s = roundtrip("SELECT l.x FROM cloudtrail c, LATERAL (SELECT 1 AS x FROM u) l");
        assert!(
            s.contains("FROM cloudtrail c CROSS JOIN LATERAL (SELECT 1 AS x FROM"),
            "{s}"
        );
    }

    #[test]
    fn a_subquerys_outer_struct_fields_become_columns() {
        let s = roundtrip(
            "SELECT c.eventname, (SELECT count(*) FROM cloudtrail d WHERE \
             d.useridentity.arn = c.useridentity.arn) AS n FROM cloudtrail c",
        );
        assert_eq!(
            s,
            "SELECT c.eventname AS eventname, (SELECT count(*) FROM (SELECT d.*, \
             d.useridentity.arn AS __inner_0 FROM cloudtrail d) AS d WHERE d.__inner_0 = \
             c.__outer_0) AS n FROM (SELECT c.*, c.useridentity.arn AS __outer_0 FROM \
             cloudtrail c) AS c"
        );
        // Under SELECT * the extra column would show: left alone.
        let sql = "SELECT * FROM cloudtrail c WHERE EXISTS (SELECT 1 FROM cloudtrail d \
                   WHERE d.useridentity.arn = c.useridentity.arn)";
        assert!(roundtrip(sql).contains("= c.useridentity.arn"));
    }

    /// The Athena dialect parses every query of the corpora as the generic
    /// dialect does, but for lambdas.
    #[test]
    fn athena_parses_as_the_generic_dialect_does() {
        use datafusion::sql::sqlparser::dialect::GenericDialect;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
        let mut texts: Vec<String> = Vec::new();
        let corpus = std::fs::read_to_string(root.join("queries.sql")).unwrap();
        texts.extend(corpus.split("-- name:").skip(1).map(String::from));
        for line in std::fs::read_to_string(root.join("athena-public.jsonl"))
            .unwrap()
            .lines()
        {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            texts.push(v["sql"].as_str().unwrap().to_string());
        }
        let mut compared = 0;
        for text in texts.iter().filter(|t| !t.contains("->")) {
            let sql: String = text
                .lines()
                .filter(|l| !l.starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            let generic = Parser::parse_sql(&GenericDialect {}, &sql).map_err(|e| e.to_string());
            let athena =
                Parser::parse_sql(&crate::query::athena::Athena, &sql).map_err(|e| e.to_string());
            assert_eq!(generic, athena, "{sql}");
            compared += 1;
        }
        assert!(compared > 150, "{compared}");
    }

    #[test]
    fn saved_names_become_the_lakes() {
        assert_eq!(
            roundtrip(
                r#"SELECT "eventName" FROM "Db"."CloudTrail_Logs" WHERE account_partition = '1'"#
            ),
            r#"SELECT "eventname" FROM cloudtrail AS cloudtrail_logs WHERE account = '1'"#
        );
        assert_eq!(
            roundtrip("SELECT 1 FROM logs WHERE date_partition >= '2024/01/02'"),
            "SELECT 1 AS _col0 FROM cloudtrail AS logs WHERE (year >= SUBSTR('2024/01/02', 1, 4) \
             AND concat(year, '/', month) >= SUBSTR('2024/01/02', 1, 7) AND \
             (concat(year, '/', month, '/', day) >= '2024/01/02'))"
        );
        // A CTE, the lake's own names and a name defined by the query stay.
        assert_eq!(
            roundtrip("WITH dt AS (SELECT day AS dt FROM cloudtrail) SELECT dt FROM dt"),
            "WITH dt AS (SELECT day AS dt FROM cloudtrail) SELECT dt FROM dt"
        );
        assert_eq!(
            roundtrip("SELECT x FROM a JOIN b ON a.x = b.x"),
            "SELECT x FROM a JOIN b ON a.x = b.x"
        );
    }

    #[test]
    fn long_or_chains_of_one_column_against_literals_become_in_lists() {
        let ors =
            |n: usize, f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(" OR ");
        let s = roundtrip(&format!(
            "SELECT x FROM cloudtrail WHERE a = 1 AND ({})",
            ors(9, &|i| format!("eventname = 'E{i}'"))
        ));
        assert_eq!(
            s,
            "SELECT x FROM cloudtrail WHERE a = 1 AND (eventname IN ('E0', 'E1', 'E2', 'E3', 'E4', \
             'E5', 'E6', 'E7', 'E8'))"
        );
        // Literal first, numbers, nested parentheses: still one list.
        let s = roundtrip(&format!(
            "SELECT x FROM cloudtrail WHERE ({}) OR 9 = n",
            ors(8, &|i| format!("{i} = n"))
        ));
        assert!(s.ends_with("WHERE n IN (0, 1, 2, 3, 4, 5, 6, 7, 9)"), "{s}");
        // Left alone: two columns, mixed kinds, another operator, a short
        // chain (the odd term first, so no part of the chain is eight alike).
        let a8 = ors(8, &|i| format!("a = 'v{i}'"));
        for sql in [
            format!("b = 'x' OR {a8}"),
            format!("a = 1 OR {a8}"),
            format!("a LIKE 'x%' OR {a8}"),
            ors(7, &|i| format!("a = 'v{i}'")),
        ] {
            let s = roundtrip(&format!("SELECT x FROM cloudtrail WHERE {sql}"));
            assert!(!s.contains(" IN ("), "{s}");
        }
    }

    #[test]
    fn trino_spellings_become_datafusion_ones() {
        let s = roundtrip(
            "SELECT count_if(errorcode IS NOT NULL), try(CAST(x AS BIGINT)), max_by(a, b) FROM t",
        );
        assert!(
            s.contains("count(CASE WHEN (errorcode IS NOT NULL) THEN 1 END) AS _col0"),
            "{s}"
        );
        assert!(s.contains("TRY_CAST(x AS BIGINT) AS _col1"), "{s}");
        assert!(
            s.contains("first_value((a) ORDER BY (b) DESC NULLS LAST) AS _col2"),
            "{s}"
        );
        let s = roundtrip("SELECT 1 FROM t WHERE CAST(ip AS IPADDRESS) > IPADDRESS '10.0.0.0' AND contains(IPPREFIX '10.0.0.0/8', ip)");
        assert!(s.contains("ipaddress(ip) > ipaddress('10.0.0.0')"), "{s}");
        assert!(s.contains("contains(ipprefix('10.0.0.0/8'), ip)"), "{s}");
    }

    #[test]
    fn struct_fields_are_named_by_their_last_name() {
        let s = roundtrip("SELECT useridentity.sessioncontext.sessionissuer.arn, eventname, t.x FROM (SELECT useridentity.arn FROM c) t");
        assert!(
            s.contains("useridentity.sessioncontext.sessionissuer.arn AS arn"),
            "{s}"
        );
        assert!(s.contains("SELECT useridentity.arn AS arn FROM c"), "{s}");
        assert!(s.contains(", eventname,"), "{s}");
        // A column named the same way keeps its name.
        assert!(s.contains("t.x AS x"), "{s}");
        // The string of a literal is untouched.
        let s = roundtrip("SELECT 'IPADDRESS ''1.2.3.4''' AS s");
        assert!(s.contains("'IPADDRESS ''1.2.3.4'''"), "{s}");
    }

    #[test]
    fn lateral_unnest_becomes_a_derived_table() {
        let s = roundtrip(
            "SELECT t.eventname, u.r.arn FROM cloudtrail t CROSS JOIN UNNEST(t.resources) AS u(r) WHERE u.r.type = 'x'",
        );
        assert!(
            s.contains("FROM (SELECT t.*, unnest(t.resources) AS r FROM cloudtrail t) AS t"),
            "{s}"
        );
        assert!(s.contains("t.r.arn AS arn"), "{s}");
        assert!(s.contains("WHERE t.r.type = 'x'"), "{s}");
        let s =
            roundtrip("SELECT r, n FROM cloudtrail, UNNEST(resources) WITH ORDINALITY AS u(r, n)");
        assert!(
            s.contains("unnest(resources) AS r, unnest(range(1, CAST(coalesce(array_length(resources), 0) AS BIGINT) + 1)) AS n FROM cloudtrail) AS cloudtrail"),
            "{s}"
        );
    }

    #[test]
    fn generated_names_do_not_repeat_and_order_by_follows_them() {
        let s = roundtrip(
            "SELECT DISTINCT useridentity.username, x AS userName FROM c ORDER BY useridentity.username",
        );
        assert!(s.contains("useridentity.username AS username_1"), "{s}");
        assert!(s.contains("ORDER BY username_1"), "{s}");
    }
}
