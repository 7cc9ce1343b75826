//! The `routes` and `default_cluster` keys: JSON to `relay::route::Routes`, errors naming
//! the key (`routes[2].cluster`).

use super::json::Value;
use super::{err, ConfigError};
use crate::relay::route::Routes;

/// The route table from the configuration's `routes` array and `default_cluster`.
pub(super) fn parse(
    routes: &Value,
    default: Option<&Value>,
    wait_ms: u64,
) -> Result<Routes, ConfigError> {
    let Value::Array(list) = routes else {
        return Err(err(
            "routes",
            format!("must be an array, not {}", routes.type_name()),
        ));
    };
    if list.is_empty() {
        return Err(err("routes", "must list at least one route"));
    }
    let mut entries = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let at = format!("routes[{i}]");
        let Value::Object(fields) = entry else {
            return Err(err(
                &at,
                format!(
                    "must be an object with `authority` and `cluster`, not {}",
                    entry.type_name()
                ),
            ));
        };
        let (mut authority, mut cluster) = (None, None);
        for (k, v) in fields {
            let key = format!("{at}.{k}");
            let slot = match k.as_str() {
                "authority" => &mut authority,
                "cluster" => &mut cluster,
                _ => return Err(err(&key, "unknown key")),
            };
            *slot = Some(string(&key, v)?);
        }
        let Some(authority) = authority else {
            return Err(err(&format!("{at}.authority"), "missing"));
        };
        let Some(cluster) = cluster else {
            return Err(err(&format!("{at}.cluster"), "missing"));
        };
        entries.push((authority, cluster));
    }
    let default = default.map(|v| string("default_cluster", v)).transpose()?;
    Routes::new(&entries, default, wait_ms).map_err(|e| {
        let key = match e.entry {
            Some(i) => format!("routes[{i}].{}", e.field),
            None if e.field.is_empty() => "routes".to_string(),
            None => "default_cluster".to_string(),
        };
        err(&key, e.message)
    })
}

fn string<'a>(key: &str, v: &'a Value) -> Result<&'a str, ConfigError> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(err(key, format!("must be a string, not {}", v.type_name()))),
    }
}
