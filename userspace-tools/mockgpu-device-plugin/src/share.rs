//! Shares of a GPU: device ids, the limits of a set of shares, and packing.
//!
//! A target (one GPU) is cut into `N` shares, advertised to the kubelet as the
//! devices `<target>-0` .. `<target>-<N-1>`. A container that gets `k` shares
//! of a target is entitled to `k/N` of it: `k * memory_per_share` bytes of
//! device memory and `k * 100 / N` % of its compute time.

use std::collections::BTreeMap;

/// The device id of share `index` of `target`.
pub fn device_id(target: &str, index: u32) -> String {
    format!("{target}-{index}")
}

/// Splits a device id into its target and share index (target names may
/// contain `-`: the index is after the last one).
pub fn parse_device_id(id: &str) -> Option<(&str, u32)> {
    let (target, index) = id.rsplit_once('-')?;
    if target.is_empty() || index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((target, index.parse().ok()?))
}

/// The limits of `shares` shares of a GPU cut into `total` shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How many shares of the target the container got.
    pub shares: u32,
    /// Device memory in bytes, if the GPU's memory (or a share's) is known.
    pub memory: Option<u64>,
    /// Percent of the GPU's compute time, 1..=100.
    pub compute_pct: u32,
}

impl Limits {
    /// `shares` of `total`, each with `memory_per_share` bytes.
    pub fn new(shares: u32, total: u32, memory_per_share: Option<u64>) -> Self {
        let total = total.max(1);
        let pct = u64::from(shares) * 100 / u64::from(total);
        Limits {
            shares,
            memory: memory_per_share.map(|m| m.saturating_mul(u64::from(shares))),
            compute_pct: pct.clamp(1, 100) as u32,
        }
    }

    /// The value of the `MOCKGPU_LIMITS_<TARGET>` variable and of the
    /// `mockgpu.io/limits.<target>` annotation:
    /// `target=realgpu,shares=2,memory=67108864,compute=50` (`memory` absent
    /// when unknown).
    pub fn encode(&self, target: &str) -> String {
        let mut s = format!("target={target},shares={}", self.shares);
        if let Some(m) = self.memory {
            s.push_str(&format!(",memory={m}"));
        }
        s.push_str(&format!(",compute={}", self.compute_pct));
        s
    }
}

/// The environment variable that carries a target's limits:
/// `MOCKGPU_LIMITS_` and the target name in upper case, other characters `_`.
pub fn limits_env_name(target: &str) -> String {
    let t: String = target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("MOCKGPU_LIMITS_{t}")
}

/// Chooses `size` devices among `available` that include `must_include` and
/// use as few GPUs as possible, packing shares onto GPUs that are already
/// partly used so that whole GPUs stay free for larger requests:
///
/// 1. every id of `must_include`;
/// 2. more shares of the GPUs those are on;
/// 3. then, while shares are missing: the GPU with the fewest free shares that
///    still covers the rest (best fit), else the GPU with the most free shares.
///
/// Ties go to the GPU whose name sorts first, and shares are taken lowest
/// index first. Ids that are not share ids are used only if nothing else is
/// left. Returns fewer than `size` ids if there are not enough.
pub fn pack(available: &[String], must_include: &[String], size: usize) -> Vec<String> {
    let mut chosen: Vec<String> = Vec::new();
    for id in must_include {
        if !chosen.contains(id) {
            chosen.push(id.clone());
        }
    }
    // Free shares per GPU, lowest index first; ids that do not parse apart.
    let mut free: BTreeMap<&str, Vec<(u32, &String)>> = BTreeMap::new();
    let mut odd: Vec<&String> = Vec::new();
    for id in available {
        if chosen.contains(id) {
            continue;
        }
        match parse_device_id(id) {
            Some((gpu, index)) => free.entry(gpu).or_default().push((index, id)),
            None => odd.push(id),
        }
    }
    for shares in free.values_mut() {
        shares.sort();
        shares.dedup();
    }
    fn take<'a>(
        gpu: &str,
        n: usize,
        chosen: &mut Vec<String>,
        free: &mut BTreeMap<&'a str, Vec<(u32, &'a String)>>,
    ) {
        let Some(shares) = free.get_mut(gpu) else {
            return;
        };
        let n = n.min(shares.len());
        chosen.extend(shares.drain(..n).map(|(_, id)| id.clone()));
        if shares.is_empty() {
            free.remove(gpu);
        }
    }

    let used: Vec<String> = chosen
        .iter()
        .filter_map(|id| parse_device_id(id).map(|(g, _)| g.to_string()))
        .collect();
    for gpu in &used {
        let missing = size.saturating_sub(chosen.len());
        take(gpu, missing, &mut chosen, &mut free);
    }
    while chosen.len() < size && !free.is_empty() {
        let missing = size - chosen.len();
        let best_fit = free
            .iter()
            .filter(|(_, s)| s.len() >= missing)
            .min_by_key(|(_, s)| s.len())
            .map(|(g, _)| *g);
        let gpu = best_fit.unwrap_or_else(|| {
            // The first of the GPUs with the most free shares.
            let most = free.values().map(Vec::len).max().unwrap_or(0);
            free.iter()
                .find(|(_, s)| s.len() == most)
                .map(|(g, _)| *g)
                .unwrap_or_default()
        });
        take(gpu, missing, &mut chosen, &mut free);
    }
    for id in odd {
        if chosen.len() >= size {
            break;
        }
        chosen.push(id.clone());
    }
    chosen.truncate(size.max(must_include.len()));
    chosen
}

/// Parses a size: bytes, or a number with `K`, `M`, `G`, `T` (powers of 1024,
/// optionally followed by `i`, `B` or `iB`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 8G, 512M, 1048576)"))?;
    let unit = unit.trim_end_matches(['B', 'b']).trim_end_matches('i');
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("'{s}': unknown unit (K, M, G, T)")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn device_ids_round_trip() {
        assert_eq!(device_id("realgpu", 3), "realgpu-3");
        assert_eq!(parse_device_id("realgpu-3"), Some(("realgpu", 3)));
        assert_eq!(parse_device_id("my-gpu-12"), Some(("my-gpu", 12)));
        assert_eq!(parse_device_id("realgpu"), None);
        assert_eq!(parse_device_id("realgpu-"), None);
        assert_eq!(parse_device_id("-3"), None);
        assert_eq!(parse_device_id("realgpu-+3"), None);
    }

    #[test]
    fn limits_split_the_gpu() {
        let l = Limits::new(1, 4, Some(1 << 30));
        assert_eq!((l.memory, l.compute_pct), (Some(1 << 30), 25));
        let l = Limits::new(3, 4, Some(1 << 30));
        assert_eq!((l.memory, l.compute_pct), (Some(3 << 30), 75));
        assert_eq!(Limits::new(1, 3, None).compute_pct, 33);
        assert_eq!(Limits::new(1, 1000, None).compute_pct, 1);
        assert_eq!(
            Limits::new(2, 4, Some(32 << 20)).encode("realgpu"),
            "target=realgpu,shares=2,memory=67108864,compute=50"
        );
        assert_eq!(
            Limits::new(1, 2, None).encode("kfd"),
            "target=kfd,shares=1,compute=50"
        );
        assert_eq!(limits_env_name("renderD128"), "MOCKGPU_LIMITS_RENDERD128");
        assert_eq!(limits_env_name("my-gpu.0"), "MOCKGPU_LIMITS_MY_GPU_0");
    }

    #[test]
    fn pack_prefers_one_gpu_and_best_fit() {
        // gpu a has 4 free, b has 2 free: 2 shares fit b exactly.
        let avail = ids(&["a-0", "a-1", "a-2", "a-3", "b-2", "b-3"]);
        assert_eq!(pack(&avail, &[], 2), ids(&["b-2", "b-3"]));
        // 3 shares: only a covers them.
        assert_eq!(pack(&avail, &[], 3), ids(&["a-0", "a-1", "a-2"]));
        // 5 shares: a whole (most free), then 1 of b.
        assert_eq!(
            pack(&avail, &[], 5),
            ids(&["a-0", "a-1", "a-2", "a-3", "b-2"])
        );
        // A required share on a: the rest from a too.
        assert_eq!(pack(&avail, &ids(&["a-2"]), 3), ids(&["a-2", "a-0", "a-1"]));
        // More than available: all of them.
        assert_eq!(pack(&avail, &[], 9).len(), 6);
        // Single GPU: lowest indices, in order, whatever the input order.
        let avail = ids(&["r-3", "r-1", "r-0", "r-2"]);
        assert_eq!(pack(&avail, &[], 2), ids(&["r-0", "r-1"]));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(parse_size("8X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
