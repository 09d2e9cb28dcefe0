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
    assert_eq!(
        roundtrip(sql),
        "SELECT a.eventname AS eventname FROM prod_trail a JOIN \"org\".\"audit_trail\" b ON \
         a.eventid = b.eventid"
    );
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
    let s = roundtrip("SELECT r.arn FROM cloudtrail LEFT JOIN UNNEST(resources) AS t(r) ON TRUE");
    assert_eq!(
        s,
        "SELECT r.arn AS arn FROM (SELECT cloudtrail.*, unnest(CASE WHEN \
         array_length(resources) > 0 THEN resources ELSE make_array(NULL) END) AS r FROM \
         cloudtrail) AS cloudtrail"
    );
    let s = roundtrip("SELECT l.x FROM cloudtrail c, LATERAL (SELECT upper(c.eventname) AS x) l");
    assert_eq!(
        s,
        "SELECT c.x AS x FROM (SELECT c.*, upper(c.eventname) AS x FROM cloudtrail c) AS c"
    );
    // A lateral subquery with a FROM is not an expression list: left.
    let s = roundtrip("SELECT l.x FROM cloudtrail c, LATERAL (SELECT 1 AS x FROM u) l");
    assert_eq!(
        s,
        "SELECT l.x AS x FROM cloudtrail c CROSS JOIN LATERAL (SELECT 1 AS x FROM cloudtrail AS u) l"
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
    assert_eq!(
        roundtrip(sql),
        sql.split_whitespace().collect::<Vec<_>>().join(" ")
    );
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
    assert_eq!(
        s,
        "SELECT count(CASE WHEN (errorcode IS NOT NULL) THEN 1 END) AS _col0, \
         TRY_CAST(x AS BIGINT) AS _col1, first_value((a) ORDER BY (b) DESC NULLS LAST) AS _col2 \
         FROM cloudtrail AS t"
    );
    let s = roundtrip("SELECT 1 FROM t WHERE CAST(ip AS IPADDRESS) > IPADDRESS '10.0.0.0' AND contains(IPPREFIX '10.0.0.0/8', ip)");
    assert_eq!(
        s,
        "SELECT 1 AS _col0 FROM cloudtrail AS t WHERE ipaddress(ip) > ipaddress('10.0.0.0') \
         AND contains(ipprefix('10.0.0.0/8'), ip)"
    );
}

#[test]
fn struct_fields_are_named_by_their_last_name() {
    let s = roundtrip("SELECT useridentity.sessioncontext.sessionissuer.arn, eventname, t.x FROM (SELECT useridentity.arn FROM c) t");
    // A plain column keeps its name; a qualified one is named as it is.
    assert_eq!(
        s,
        "SELECT useridentity.sessioncontext.sessionissuer.arn AS arn, eventname, t.x AS x \
         FROM (SELECT useridentity.arn AS arn FROM cloudtrail AS c) t"
    );
    // The string of a literal is untouched.
    let sql = "SELECT 'IPADDRESS ''1.2.3.4''' AS s";
    assert_eq!(roundtrip(sql), sql);
}

#[test]
fn lateral_unnest_becomes_a_derived_table() {
    let s = roundtrip(
        "SELECT t.eventname, u.r.arn FROM cloudtrail t CROSS JOIN UNNEST(t.resources) AS u(r) WHERE u.r.type = 'x'",
    );
    assert_eq!(
        s,
        "SELECT t.eventname AS eventname, t.r.arn AS arn FROM (SELECT t.*, \
         unnest(t.resources) AS r FROM cloudtrail t) AS t WHERE t.r.type = 'x'"
    );
    let s = roundtrip("SELECT r, n FROM cloudtrail, UNNEST(resources) WITH ORDINALITY AS u(r, n)");
    assert_eq!(
        s,
        "SELECT r, n FROM (SELECT cloudtrail.*, unnest(resources) AS r, \
         unnest(range(1, CAST(coalesce(array_length(resources), 0) AS BIGINT) + 1)) AS n \
         FROM cloudtrail) AS cloudtrail"
    );
}

#[test]
fn generated_names_do_not_repeat_and_order_by_follows_them() {
    let s = roundtrip(
        "SELECT DISTINCT useridentity.username, x AS userName FROM c ORDER BY useridentity.username",
    );
    assert_eq!(
        s,
        "SELECT DISTINCT useridentity.username AS username_1, x AS userName FROM cloudtrail AS c \
         ORDER BY username_1"
    );
}
