//! `traillake scan-cost`: what a query set scans, raw against the lake.

use traillake::config::Config;
use traillake::lake::Lake;
use traillake::query::scan_cost;
use traillake::query::{self};

use crate::cli::{CostFormat, ScanCostArgs};
use crate::output::{emit, usage, Failure};
use crate::{open_lake, runtime, settings};

use super::*;

pub(crate) fn scan_cost(args: ScanCostArgs, config: &Config) -> Result<u8, Failure> {
    let source = settings::source(&args.source, config, "scan-cost")?;
    let lake = open_lake(&args.lake, config, "scan-cost")?;
    let price = args
        .price_per_tb
        .or(config.price_per_tb)
        .unwrap_or(scan_cost::DEFAULT_PRICE_PER_TB);
    if !price.is_finite() || price < 0.0 {
        return Err(usage("--price-per-tb must be a price in USD, 0 or more"));
    }
    let from_file = match &args.queries {
        Some(path) => {
            if !args.params.is_empty() {
                return Err(usage(
                    "--param goes with the built-in queries, not --queries",
                ));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("{}: {e}", path.display())))?;
            let queries = scan_cost::parse_queries(&text);
            if queries.is_empty() {
                return Err(usage(format!("{}: no queries in it", path.display())));
            }
            Some(queries)
        }
        None => None,
    };
    // Costing plans the queries but runs none: the ranges judge nothing.
    let ranges = aws_ranges(args.ip_ranges.as_deref())?;
    let costs = runtime()?.block_on(async {
        let session = query::LakeSession::new(&lake, ranges, query::Window::default());
        let queries = match from_file {
            Some(q) => q,
            None => {
                let partitions = Lake::new(lake.clone()).partitions().await?;
                scan_cost::default_queries(&session, &lake.url, &partitions, &args.params).await?
            }
        };
        let costs = scan_cost::scan_cost(&source, &lake, &session, &queries, price).await?;
        Ok::<_, Failure>(costs)
    })?;
    match args.format {
        CostFormat::Table => emit(&scan_cost::render_table(&costs))?,
        CostFormat::Json => {
            let lines: String = costs
                .iter()
                .map(|c| serde_json::to_string(c).expect("cost serializes") + "\n")
                .collect();
            emit(&lines)?;
        }
    }
    Ok(0)
}
