//! Function calls and expressions in Trino's spelling as DataFusion's:
//! renamed functions, Trino's forms, lambdas' struct fields.

use super::*;

/// The plain arguments of a call, if they are all plain expressions.
pub(super) fn plain_args(args: &FunctionArguments) -> Option<Vec<&Expr>> {
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

pub(super) fn rewrite_expr(e: &Expr) -> Option<Expr> {
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

/// `r.type` in a lambda over `r`: the field `type` of the parameter, which
/// DataFusion's planner takes only as `get_field(r, 'type')` (a dotted
/// name is a column to it).
pub(super) fn lambda_fields(l: &mut datafusion::sql::sqlparser::ast::LambdaFunction) {
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
