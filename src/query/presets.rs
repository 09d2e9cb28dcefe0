//! Named queries: the seed's investigation queries and its alert signals,
//! with parameters; and AWS's address ranges, which one of them uses.

use std::fmt::Write as _;

use super::QueryError;

/// A named query with parameters.
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    /// `(name, default, help)`; no default means required.
    pub params: &'static [(&'static str, Option<&'static str>, &'static str)],
    sql: &'static str,
}

/// Roles that a compute service (ECS task, Lambda, EC2, EKS, Batch) assumed
/// in the lake's events: the roles meant for code, not people.
const COMPUTE_ROLES: &str = "compute_roles AS (
  SELECT DISTINCT json_extract_scalar(requestparameters, '$.roleArn') AS role_arn
  FROM cloudtrail
  WHERE eventname = 'AssumeRole'
    AND (useridentity.invokedby IN ('ecs-tasks.amazonaws.com', 'lambda.amazonaws.com', 'ec2.amazonaws.com', 'eks.amazonaws.com', 'batch.amazonaws.com')
      OR sourceipaddress IN ('ecs-tasks.amazonaws.com', 'lambda.amazonaws.com', 'ec2.amazonaws.com', 'eks.amazonaws.com', 'batch.amazonaws.com'))
)";

/// Calls made with a compute role's session; a preset adds its condition.
const COMPUTE_ROLE_CALLS: &str = "WITH {compute_roles}
SELECT eventtime, sourceipaddress, eventname, useridentity.sessioncontext.sessionissuer.username AS role, useragent
FROM cloudtrail
WHERE useridentity.type = 'AssumedRole'
  AND useridentity.sessioncontext.sessionissuer.arn IN (SELECT role_arn FROM compute_roles)";

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "top-events",
        about: "count of events by name, the seed's first query of any investigation",
        params: &[],
        sql: "SELECT eventname, count(*) AS events FROM cloudtrail GROUP BY eventname ORDER BY events DESC, eventname",
    },
    Preset {
        name: "by-ip",
        about: "everything one source address did, in time order",
        params: &[("ip", None, "source IP address")],
        sql: "SELECT eventtime, eventname, useridentity.arn AS arn FROM cloudtrail WHERE sourceipaddress = '{ip}' ORDER BY eventtime",
    },
    Preset {
        name: "assumed-roles",
        about: "calls made with assumed-role sessions",
        params: &[],
        sql: "SELECT eventtime, sourceipaddress, eventname, useridentity.arn AS arn FROM cloudtrail WHERE useridentity.type = 'AssumedRole' ORDER BY eventtime",
    },
    Preset {
        name: "errors",
        about: "failed and denied calls",
        params: &[],
        sql: "SELECT eventtime, eventname, useridentity.arn AS arn, errorcode, errormessage FROM cloudtrail WHERE errorcode IS NOT NULL ORDER BY eventtime",
    },
    Preset {
        name: "day",
        about: "one day's events, read from that day's partitions only",
        params: &[("year", None, "YYYY"), ("month", None, "MM"), ("day", None, "DD")],
        sql: "SELECT eventtime, account, region, eventsource, eventname, sourceipaddress, useridentity.arn AS arn, errorcode FROM cloudtrail WHERE year = '{year}' AND month = '{month}' AND day = '{day}' ORDER BY eventtime",
    },
    Preset {
        name: "role-outside-aws",
        about: "a compute role's session (ECS task, Lambda, ...) used from an address that is not AWS's",
        params: &[],
        sql: "{compute_role_calls}
  AND NOT is_aws_address(sourceipaddress)
ORDER BY eventtime",
    },
    Preset {
        name: "cli-on-compute-role",
        about: "the aws-cli user agent on a role meant for a container or function",
        params: &[],
        sql: "{compute_role_calls}
  AND useragent LIKE '%aws-cli%'
ORDER BY eventtime",
    },
    Preset {
        name: "anonymous-then-role",
        about: "one IP seen as ANONYMOUS_PRINCIPAL and as an assumed role within a window",
        params: &[("window", Some("60"), "minutes between the two")],
        sql: "SELECT a.sourceipaddress AS sourceipaddress, min(a.eventtime) AS first_anonymous, min(r.eventtime) AS first_as_role, r.useridentity.arn AS role_session, count(DISTINCT r.eventid) AS role_calls
FROM cloudtrail a JOIN cloudtrail r ON a.sourceipaddress = r.sourceipaddress
WHERE (a.useridentity.accountid = 'ANONYMOUS_PRINCIPAL' OR a.useridentity.principalid = 'ANONYMOUS_PRINCIPAL')
  AND r.useridentity.type = 'AssumedRole'
  AND to_unixtime(r.eventtime) BETWEEN to_unixtime(a.eventtime) - {window} * 60 AND to_unixtime(a.eventtime) + {window} * 60
GROUP BY a.sourceipaddress, r.useridentity.arn
ORDER BY first_anonymous, role_session",
    },
    Preset {
        name: "recon-from-app-role",
        about: "broad discovery calls (ListBuckets, DescribeInstances, ...) from application roles",
        params: &[],
        sql: "{compute_role_calls}
  AND eventname IN ('ListBuckets', 'DescribeInstances', 'ListRoles', 'ListUsers', 'ListPolicies',
    'GetAccountAuthorizationDetails', 'ListAccessKeys', 'DescribeSecurityGroups', 'DescribeSubnets',
    'DescribeVpcs', 'ListFunctions', 'ListSecrets', 'DescribeDBInstances', 'GetCallerIdentity',
    'ListImages', 'DescribeRepositories', 'ListClusters', 'DescribeSnapshots')
ORDER BY eventtime",
    },
];

/// `--list-presets` text.
pub fn list_presets() -> String {
    let mut s = String::new();
    for p in PRESETS {
        let _ = writeln!(s, "{:<22} {}", p.name, p.about);
        for (name, default, help) in p.params {
            let d = default.map_or("required".to_string(), |d| format!("default {d}"));
            let _ = writeln!(s, "{:<22}   --param {name}=...  {help} ({d})", "");
        }
    }
    s
}

/// The SQL of a preset with its parameters filled in.
pub fn preset_sql(name: &str, params: &[(String, String)]) -> Result<String, QueryError> {
    let preset = PRESETS.iter().find(|p| p.name == name).ok_or_else(|| {
        QueryError::Preset(format!(
            "no preset {name:?}; `traillake query --list-presets` lists them"
        ))
    })?;
    for (k, _) in params {
        if !preset.params.iter().any(|(p, _, _)| p == k) {
            return Err(QueryError::Preset(format!(
                "preset {name} has no parameter {k:?}"
            )));
        }
    }
    let mut sql = preset
        .sql
        .replace("{compute_role_calls}", COMPUTE_ROLE_CALLS)
        .replace("{compute_roles}", COMPUTE_ROLES);
    for (p, default, _) in preset.params {
        let value = params
            .iter()
            .rev()
            .find(|(k, _)| k == p)
            .map(|(_, v)| v.as_str())
            .or(*default)
            .ok_or_else(|| QueryError::Preset(format!("preset {name} needs --param {p}=...")))?;
        if *p == "window" && value.parse::<u32>().is_err() {
            return Err(QueryError::Preset(format!(
                "--param window={value}: expected whole minutes"
            )));
        }
        // Values go into string literals: double quotes as SQL does.
        sql = sql.replace(&format!("{{{p}}}"), &value.replace('\'', "''"));
    }
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_fill_parameters_and_refuse_unknown_ones() {
        let sql = preset_sql("by-ip", &[("ip".into(), "1.2.3.4".into())]).unwrap();
        assert!(sql.contains("sourceipaddress = '1.2.3.4'"));
        let sql = preset_sql("by-ip", &[("ip".into(), "x' OR '1'='1".into())]).unwrap();
        assert!(sql.contains("'x'' OR ''1''=''1'"), "{sql}");
        assert!(preset_sql("by-ip", &[]).is_err());
        assert!(preset_sql("by-ip", &[("port".into(), "1".into())]).is_err());
        assert!(preset_sql(
            "anonymous-then-role",
            &[("window".into(), "1; DROP".into())]
        )
        .is_err());
        assert!(preset_sql("nope", &[]).is_err());
        for p in PRESETS {
            assert!(list_presets().contains(p.name));
        }
    }
}
