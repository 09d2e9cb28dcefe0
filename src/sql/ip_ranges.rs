//! `traillake ip-ranges`: AWS's published address ranges, fetched and checked.

use traillake::query::AwsRanges;

use crate::output::{emit, usage, Failure};
use crate::runtime;

/// `traillake ip-ranges`: AWS's ip-ranges.json, fetched, checked (it must
/// hold prefixes) and written out as fetched.
pub(crate) fn ip_ranges(args: crate::cli::IpRangesArgs) -> Result<u8, Failure> {
    use object_store::ObjectStoreExt as _;
    let url =
        url::Url::parse(&args.url).map_err(|e| usage(format!("--url {:?}: {e}", args.url)))?;
    let name = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| usage(format!("--url {:?}: no file name in it", args.url)))?
        .to_string();
    let mut base = url.clone();
    base.path_segments_mut()
        .map_err(|()| usage(format!("--url {:?}: not an http(s) URL", args.url)))?
        .pop();
    let failed = |e: &dyn std::fmt::Display| {
        Failure::Failed(format!(
            "could not fetch {}: {e}. Where this machine cannot reach it, download it where \
             one can (`curl -o ip-ranges.json {}`) and pass `detect --ip-ranges ip-ranges.json`",
            args.url,
            crate::cli::IP_RANGES_URL
        ))
    };
    let store = object_store::http::HttpBuilder::new()
        .with_url(base.as_str())
        // AWS's URL is https; an http one given by --url (a mirror on the
        // local network) is allowed, its content checked like any.
        .with_client_options(object_store::ClientOptions::new().with_allow_http(true))
        .build()
        .map_err(|e| failed(&e))?;
    let body = runtime()?
        .block_on(async {
            store
                .get(&object_store::path::Path::from(name.as_str()))
                .await?
                .bytes()
                .await
        })
        .map_err(|e| failed(&e.to_string().lines().next().unwrap_or("").to_string()))?;
    let text = String::from_utf8_lossy(&body);
    let ranges = AwsRanges::parse(&text)
        .map_err(|e| Failure::Failed(format!("{}: not AWS's ip-ranges.json: {e}", args.url)))?;
    match &args.out {
        Some(path) => std::fs::write(path, &body)
            .map_err(|e| Failure::Failed(format!("{}: {e}", path.display())))?,
        None => emit(&text)?,
    }
    eprintln!(
        "traillake: {} address prefixes from {}{}; pass it to `detect --ip-ranges`",
        ranges.len(),
        args.url,
        args.out
            .as_ref()
            .map_or(String::new(), |p| format!(" written to {}", p.display()))
    );
    Ok(0)
}
