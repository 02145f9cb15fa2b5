// SPDX-License-Identifier: GPL-2.0

//! A parser of the DRM usage statistics that drivers print in a file's fdinfo
//! (`Documentation/gpu/drm-usage-stats.rst`): the engine time and memory a
//! client really used, as the driver reports it.
//!
//! The format, as the document defines it: one `key: value` pair per line,
//! the colon delimits key and value, whitespace after the colon is ignored,
//! keys contain no whitespace, standardised keys start with `drm-`, and
//! numbers are unsigned integers that may end with a unit:
//!
//! | key | value |
//! | --- | --- |
//! | `drm-engine-<engine>` | `<uint> ns` |
//! | `drm-engine-capacity-<engine>` | `<uint>`, > 0 (1 when absent) |
//! | `drm-cycles-<engine>`, `drm-total-cycles-<engine>` | `<uint>` |
//! | `drm-maxfreq-<engine>` | `<uint> [Hz\|KHz\|MHz]` |
//! | `drm-total-<region>` (`shared`, `resident`, ...) | `<uint> [KiB\|MiB]`, bytes without unit |
//! | `drm-driver`, `drm-pdev`, `drm-client-name` | strings |
//! | `drm-client-id` | `<uint>` |
//!
//! A file's fdinfo also holds the VFS's own lines (`pos:`, `flags:`, ...)
//! and driver-specific keys (`amd-...`): lines that do not start with `drm-`
//! are ignored whatever they hold, as are `drm-` keys this parser does not
//! know. A line that does start with `drm-` must be well formed, and the
//! values of the keys above must be what the document says (number, unit,
//! non-empty engine or region name, non-zero capacity): otherwise the whole
//! text is rejected, since a driver that prints one number wrongly cannot be
//! trusted with the others. The parser never allocates, never panics, and
//! all arithmetic is checked.
#![allow(
    dead_code,
    reason = "the module uses the engine-time part; the rest serves host tools and tests"
)]

/// The most engines [`Engines`] keeps (i915, xe and amdgpu report at most 8).
pub const MAX_ENGINES: usize = 16;

/// Why usage statistics were rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The line (from 1) where the problem is.
    pub line: usize,
    /// What is wrong with it.
    pub kind: ErrorKind,
}

/// What is wrong with a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A `drm-` line without a colon, or whose key contains whitespace.
    Syntax,
    /// An engine or region name that is empty or contains whitespace.
    Name,
    /// A value that is not an unsigned integer, or does not fit 64 bits.
    Number,
    /// A unit the key does not allow, or a missing one (`drm-engine-*` needs
    /// `ns`).
    Unit,
    /// `drm-engine-capacity-*` of 0, which the document forbids.
    ZeroCapacity,
    /// The same key twice.
    Duplicate,
    /// More than [`MAX_ENGINES`] engines.
    TooManyEngines,
    /// A sum or a unit conversion does not fit 64 bits.
    Overflow,
}

/// The memory statistics of a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// `drm-total-<region>`: all buffers of the client, resident or not.
    Total,
    /// `drm-shared-<region>`: buffers shared with another file.
    Shared,
    /// `drm-resident-<region>`: buffers with their backing store present.
    Resident,
    /// `drm-memory-<region>`: deprecated alias of `resident` (amdgpu).
    Memory,
    /// `drm-purgeable-<region>`: resident and purgeable.
    Purgeable,
    /// `drm-active-<region>`: in use by an engine.
    Active,
}

/// One statistic the parser understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat<'a> {
    /// `drm-driver`: the driver's name.
    Driver(&'a [u8]),
    /// `drm-client-id`: the client's unique id.
    ClientId(u64),
    /// `drm-engine-<name>`: busy time of the engine, ns.
    EngineNs(&'a [u8], u64),
    /// `drm-engine-capacity-<name>`: identical engines in the group (> 0).
    EngineCapacity(&'a [u8], u64),
    /// `drm-cycles-<name>`: busy cycles of the engine.
    Cycles(&'a [u8], u64),
    /// `drm-total-cycles-<name>`: cycles elapsed on the engine.
    TotalCycles(&'a [u8], u64),
    /// `drm-maxfreq-<name>`: the engine's maximum frequency, Hz.
    MaxFreqHz(&'a [u8], u64),
    /// `drm-<kind>-<region>`: memory, bytes.
    Memory(MemoryKind, &'a [u8], u64),
}

/// The text split into lines, numbered from 1 (a final newline ends the last
/// line; it does not start an empty one).
fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    text.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i.saturating_add(1), line))
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r')
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| is_space(b)).count();
    s.get(n..).unwrap_or_default()
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|&&b| is_space(b)).count();
    s.get(..s.len().saturating_sub(n)).unwrap_or_default()
}

/// An unsigned integer, then optional whitespace and a unit (maybe empty).
fn number(value: &[u8]) -> Result<(u64, &[u8]), ErrorKind> {
    let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(ErrorKind::Number);
    }
    let (num, rest) = value.split_at(digits);
    let mut n = 0u64;
    for &d in num {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(ErrorKind::Number)?;
    }
    let unit = trim_start(rest);
    if unit.len() == rest.len() && !rest.is_empty() {
        // `12ns`: the document separates number and unit by a space.
        return Err(ErrorKind::Unit);
    }
    Ok((n, unit))
}

/// A number without a unit.
fn plain(value: &[u8]) -> Result<u64, ErrorKind> {
    match number(value)? {
        (n, b"") => Ok(n),
        _ => Err(ErrorKind::Unit),
    }
}

/// A name (engine, region): non-empty, no whitespace.
fn name(s: &[u8]) -> Result<&[u8], ErrorKind> {
    if s.is_empty() || s.iter().any(|&b| is_space(b)) {
        Err(ErrorKind::Name)
    } else {
        Ok(s)
    }
}

/// A number with one of `units` (`(unit, factor)`, `b""` for none), scaled.
fn scaled(value: &[u8], units: &[(&[u8], u64)]) -> Result<u64, ErrorKind> {
    let (n, unit) = number(value)?;
    let factor = units
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|&(_, f)| f)
        .ok_or(ErrorKind::Unit)?;
    n.checked_mul(factor).ok_or(ErrorKind::Overflow)
}

const MEMORY_UNITS: &[(&[u8], u64)] = &[(b"", 1), (b"KiB", 1 << 10), (b"MiB", 1 << 20)];
const FREQ_UNITS: &[(&[u8], u64)] = &[(b"", 1), (b"Hz", 1), (b"KHz", 1_000), (b"MHz", 1_000_000)];
const MEMORY_KINDS: &[(&[u8], MemoryKind)] = &[
    (b"total-", MemoryKind::Total),
    (b"shared-", MemoryKind::Shared),
    (b"resident-", MemoryKind::Resident),
    (b"memory-", MemoryKind::Memory),
    (b"purgeable-", MemoryKind::Purgeable),
    (b"active-", MemoryKind::Active),
];

/// Parses the key (after `drm-`) and value of one line; `None` for keys this
/// parser does not interpret.
fn stat<'a>(key: &'a [u8], value: &'a [u8]) -> Result<Option<Stat<'a>>, ErrorKind> {
    // The longer prefixes first: `engine-capacity-` is not an engine named
    // `capacity-...`, nor `total-cycles-` a region named `cycles-...`.
    let stat = if key == b"driver" {
        Stat::Driver(value)
    } else if key == b"client-id" {
        Stat::ClientId(plain(value)?)
    } else if let Some(engine) = key.strip_prefix(b"engine-capacity-") {
        match plain(value)? {
            0 => return Err(ErrorKind::ZeroCapacity),
            n => Stat::EngineCapacity(name(engine)?, n),
        }
    } else if let Some(engine) = key.strip_prefix(b"engine-") {
        match number(value)? {
            (ns, b"ns") => Stat::EngineNs(name(engine)?, ns),
            _ => return Err(ErrorKind::Unit),
        }
    } else if let Some(engine) = key.strip_prefix(b"total-cycles-") {
        Stat::TotalCycles(name(engine)?, plain(value)?)
    } else if let Some(engine) = key.strip_prefix(b"cycles-") {
        Stat::Cycles(name(engine)?, plain(value)?)
    } else if let Some(engine) = key.strip_prefix(b"maxfreq-") {
        Stat::MaxFreqHz(name(engine)?, scaled(value, FREQ_UNITS)?)
    } else if let Some((kind, region)) = MEMORY_KINDS
        .iter()
        .find_map(|&(prefix, kind)| key.strip_prefix(prefix).map(|region| (kind, region)))
    {
        Stat::Memory(kind, name(region)?, scaled(value, MEMORY_UNITS)?)
    } else {
        // `drm-pdev`, `drm-client-name` and keys of later versions.
        return Ok(None);
    };
    Ok(Some(stat))
}

/// Calls `f` with every statistic of `text` in order, after checking the
/// whole text: `f` is only called if every `drm-` line is well formed.
pub fn for_each_stat<'a>(
    text: &'a [u8],
    mut f: impl FnMut(Stat<'a>) -> Result<(), ErrorKind>,
) -> Result<(), ParseError> {
    check(text)?;
    for (line, _, s) in entries(text) {
        if let Ok(Some(s)) = s {
            f(s).map_err(|kind| ParseError { line, kind })?;
        }
    }
    Ok(())
}

/// The `drm-` lines: line number, key (after `drm-`) and statistic.
fn entries(
    text: &[u8],
) -> impl Iterator<Item = (usize, &[u8], Result<Option<Stat<'_>>, ErrorKind>)> {
    lines(text).filter_map(|(n, line)| {
        let rest = line.strip_prefix(b"drm-")?;
        let Some(colon) = rest.iter().position(|&b| b == b':') else {
            return Some((n, rest, Err(ErrorKind::Syntax)));
        };
        let (key, value) = rest.split_at(colon);
        let value = trim_end(trim_start(value.get(1..).unwrap_or_default()));
        if key.is_empty() || key.iter().any(|&b| is_space(b)) {
            Some((n, key, Err(ErrorKind::Syntax)))
        } else {
            Some((n, key, stat(key, value)))
        }
    })
}

/// Checks every `drm-` line, and that no key this parser interprets comes
/// twice (a number that could be counted twice).
fn check(text: &[u8]) -> Result<(), ParseError> {
    for (line, key, s) in entries(text) {
        if s.map_err(|kind| ParseError { line, kind })?.is_some()
            && entries(text)
                .take_while(|&(earlier, _, _)| earlier < line)
                .any(|(_, k, _)| k == key)
        {
            return Err(ParseError {
                line,
                kind: ErrorKind::Duplicate,
            });
        }
    }
    Ok(())
}

/// One engine: its name, busy time and capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Engine<'a> {
    /// The name (`gfx` of `drm-engine-gfx`).
    pub name: &'a [u8],
    /// Busy time, ns (summed over the engines of the group).
    pub ns: u64,
    /// Identical engines in the group (1 unless the driver says otherwise).
    pub capacity: u64,
}

/// The engines of a client, in the order of their `drm-engine-` lines.
#[derive(Debug)]
pub struct Engines<'a> {
    engines: [Engine<'a>; MAX_ENGINES],
    len: usize,
}

impl<'a> Engines<'a> {
    /// Parses the engines of `text`; capacities may come before or after
    /// their engine (a capacity of an engine without time is ignored).
    pub fn parse(text: &'a [u8]) -> Result<Self, ParseError> {
        let empty = Engine {
            name: b"",
            ns: 0,
            capacity: 1,
        };
        let mut this = Self {
            engines: [empty; MAX_ENGINES],
            len: 0,
        };
        for_each_stat(text, |s| match s {
            Stat::EngineNs(name, ns) => this.add(name, ns),
            _ => Ok(()),
        })?;
        // `check` made sure each capacity comes once.
        for_each_stat(text, |s| {
            if let Stat::EngineCapacity(name, capacity) = s {
                if let Some(engine) = this.engines.iter_mut().find(|e| e.name == name) {
                    engine.capacity = capacity;
                }
            }
            Ok(())
        })?;
        Ok(this)
    }

    fn add(&mut self, name: &'a [u8], ns: u64) -> Result<(), ErrorKind> {
        let slot = self
            .engines
            .get_mut(self.len)
            .ok_or(ErrorKind::TooManyEngines)?;
        *slot = Engine {
            name,
            ns,
            capacity: 1,
        };
        self.len = self.len.saturating_add(1);
        Ok(())
    }

    /// The engines.
    pub fn as_slice(&self) -> &[Engine<'a>] {
        self.engines.get(..self.len).unwrap_or_default()
    }

    /// The engine `name`, if the client reports it.
    pub fn get(&self, name: &[u8]) -> Option<&Engine<'a>> {
        self.as_slice().iter().find(|e| e.name == name)
    }

    /// The busy time of all engines together, ns (`None` on overflow).
    pub fn total_ns(&self) -> Option<u64> {
        self.as_slice()
            .iter()
            .try_fold(0u64, |sum, e| sum.checked_add(e.ns))
    }
}

/// The busy time of all engines of `text` together, ns (0 if it reports no
/// engine: use [`Engines::parse`] to tell that apart). Any number of engines.
pub fn engine_ns_total(text: &[u8]) -> Result<u64, ParseError> {
    let mut total = 0u64;
    for_each_stat(text, |s| {
        if let Stat::EngineNs(_, ns) = s {
            total = total.checked_add(ns).ok_or(ErrorKind::Overflow)?;
        }
        Ok(())
    })?;
    Ok(total)
}

/// The `kind` memory of `region` in `text`, bytes (`None` if not reported).
pub fn memory_bytes(
    text: &[u8],
    kind: MemoryKind,
    region: &[u8],
) -> Result<Option<u64>, ParseError> {
    let mut found = None;
    for_each_stat(text, |s| {
        match s {
            Stat::Memory(k, r, bytes) if k == kind && r == region => found = Some(bytes),
            _ => {}
        }
        Ok(())
    })?;
    Ok(found)
}

/// `drm-total-<region>` in bytes; `None` if it is not reported or `text` is
/// malformed.
pub fn total_memory_bytes(text: &[u8], region: &[u8]) -> Option<u64> {
    memory_bytes(text, MemoryKind::Total, region).ok().flatten()
}

/// `drm-driver`, if `text` is well formed and names one.
pub fn driver(text: &[u8]) -> Option<&[u8]> {
    let mut driver = None;
    for_each_stat(text, |s| {
        if let Stat::Driver(name) = s {
            driver = Some(name);
        }
        Ok(())
    })
    .ok()?;
    driver
}

#[cfg(test)]
mod tests {
    use super::*;

    /// realgpu's fdinfo after the VFS's own lines.
    const REALGPU: &[u8] = b"pos:\t0\nflags:\t02100002\nmnt_id:\t15\nino:\t5\n\
drm-driver:\trealgpu\ndrm-client-id:\t3\ndrm-engine-gfx:\t1500000000 ns\n\
drm-engine-capacity-gfx:\t1\ndrm-total-vram:\t1088 KiB\ndrm-resident-vram:\t8 KiB\n";

    /// amdgpu: several engines, driver-specific and non-`drm-` keys,
    /// deprecated `drm-memory-*`.
    const AMDGPU: &[u8] = b"pos:\t0\nflags:\t02100002\nmnt_id:\t24\nino:\t1239\n\
drm-driver:\tamdgpu\ndrm-client-id:\t7\ndrm-pdev:\t0000:03:00.0\npasid:\t32771\n\
drm-memory-vram:\t131072 KiB\ndrm-memory-gtt:\t2048 KiB\ndrm-memory-cpu:\t0 KiB\n\
amd-memory-visible-vram:\t0 KiB\namd-evicted-vram:\t0 KiB\n\
drm-engine-gfx:\t1788127812 ns\ndrm-engine-compute:\t12 ns\n\
drm-engine-dec:\t0 ns\ndrm-engine-enc:\t0 ns\n";

    /// i915: capacities, an engine with a `-` in its name, a unitless size.
    const I915: &[u8] = b"drm-driver:\ti915\ndrm-client-id:\t11\ndrm-pdev:\t0000:00:02.0\n\
drm-total-system0:\t38880 KiB\ndrm-shared-system0:\t4096\n\
drm-engine-render:\t43637285 ns\ndrm-engine-copy:\t0 ns\ndrm-engine-capacity-video:\t2\n\
drm-engine-video:\t100 ns\ndrm-engine-video-enhance:\t7 ns\n";

    /// xe: cycles instead of time.
    const XE: &[u8] = b"drm-driver:\txe\ndrm-client-id:\t42\ndrm-total-vram0:\t2 MiB\n\
drm-cycles-rcs:\t28257900\ndrm-total-cycles-rcs:\t7655183225\n\
drm-cycles-bcs:\t0\ndrm-total-cycles-bcs:\t7655183225\n";

    fn err(text: &[u8]) -> Option<ErrorKind> {
        engine_ns_total(text).err().map(|e| e.kind)
    }

    #[test]
    fn realgpu() {
        assert_eq!(engine_ns_total(REALGPU), Ok(1_500_000_000));
        assert_eq!(total_memory_bytes(REALGPU, b"vram"), Some(1088 * 1024));
        assert_eq!(
            memory_bytes(REALGPU, MemoryKind::Resident, b"vram"),
            Ok(Some(8192))
        );
        assert_eq!(driver(REALGPU), Some(&b"realgpu"[..]));
        let engines = Engines::parse(REALGPU).unwrap();
        assert_eq!(
            engines.as_slice(),
            &[Engine {
                name: b"gfx",
                ns: 1_500_000_000,
                capacity: 1
            }]
        );
    }

    #[test]
    fn several_engines_summed() {
        assert_eq!(engine_ns_total(AMDGPU), Ok(1_788_127_824));
        let engines = Engines::parse(AMDGPU).unwrap();
        assert_eq!(engines.as_slice().len(), 4);
        assert_eq!(engines.get(b"compute").map(|e| e.ns), Some(12));
        assert_eq!(engines.total_ns(), Some(1_788_127_824));
        // Deprecated alias, not `total`.
        assert_eq!(total_memory_bytes(AMDGPU, b"vram"), None);
        assert_eq!(
            memory_bytes(AMDGPU, MemoryKind::Memory, b"vram"),
            Ok(Some(128 << 20))
        );
    }

    #[test]
    fn capacities_and_dashed_names() {
        let engines = Engines::parse(I915).unwrap();
        let names: [&[u8]; 4] = [b"render", b"copy", b"video", b"video-enhance"];
        assert_eq!(engines.as_slice().len(), names.len());
        for (e, n) in engines.as_slice().iter().zip(names) {
            assert_eq!(e.name, n);
        }
        assert_eq!(engines.get(b"video").map(|e| e.capacity), Some(2));
        assert_eq!(engines.get(b"render").map(|e| e.capacity), Some(1));
        // `drm-engine-capacity-video` is not an engine.
        assert!(engines.get(b"capacity-video").is_none());
        assert_eq!(engine_ns_total(I915), Ok(43_637_285 + 107));
        assert_eq!(total_memory_bytes(I915, b"system0"), Some(38880 * 1024));
        // No unit: bytes.
        assert_eq!(
            memory_bytes(I915, MemoryKind::Shared, b"system0"),
            Ok(Some(4096))
        );
    }

    #[test]
    fn cycles() {
        assert_eq!(engine_ns_total(XE), Ok(0));
        assert!(Engines::parse(XE).unwrap().as_slice().is_empty());
        let mut seen = 0;
        for_each_stat(XE, |s| {
            match s {
                Stat::Cycles(b"rcs", 28_257_900) | Stat::TotalCycles(b"rcs", 7_655_183_225) => {
                    seen += 1
                }
                Stat::Cycles(b"bcs", 0) | Stat::TotalCycles(b"bcs", 7_655_183_225) => seen += 1,
                Stat::Memory(MemoryKind::Total, b"vram0", 0x20_0000) => seen += 1,
                _ => {}
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, 5);
        // `drm-total-cycles-rcs` is no memory region `cycles-rcs`.
        assert_eq!(total_memory_bytes(XE, b"cycles-rcs"), None);
        assert_eq!(
            memory_bytes(b"drm-maxfreq-rcs: 1250 MHz\n", MemoryKind::Total, b"x"),
            Ok(None)
        );
        let mut hz = 0;
        for_each_stat(
            b"drm-maxfreq-rcs: 1250 MHz\ndrm-maxfreq-bcs: 7 KHz\n",
            |s| {
                if let Stat::MaxFreqHz(_, f) = s {
                    hz += f;
                }
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(hz, 1_250_007_000);
    }

    #[test]
    fn whitespace_and_units() {
        assert_eq!(engine_ns_total(b"drm-engine-a:5 ns"), Ok(5));
        assert_eq!(engine_ns_total(b"drm-engine-a: \t 5 \t ns \r\n"), Ok(5));
        assert_eq!(engine_ns_total(b""), Ok(0));
        assert_eq!(engine_ns_total(b"\n\n"), Ok(0));
        assert_eq!(
            total_memory_bytes(b"drm-total-m: 3 MiB", b"m"),
            Some(3 << 20)
        );
        assert_eq!(total_memory_bytes(b"drm-total-m:3", b"m"), Some(3));
        assert_eq!(err(b"drm-engine-a: 5"), Some(ErrorKind::Unit));
        assert_eq!(err(b"drm-engine-a: 5 us"), Some(ErrorKind::Unit));
        assert_eq!(err(b"drm-engine-a: 5ns"), Some(ErrorKind::Unit));
        assert_eq!(err(b"drm-engine-a: 5 ns x"), Some(ErrorKind::Unit));
        assert_eq!(err(b"drm-total-m: 5 GiB"), Some(ErrorKind::Unit));
        assert_eq!(err(b"drm-total-m: 5 kib"), Some(ErrorKind::Unit));
        assert_eq!(err(b"drm-engine-capacity-a: 2 ns"), Some(ErrorKind::Unit));
        assert_eq!(err(b"drm-maxfreq-a: 2 GHz"), Some(ErrorKind::Unit));
    }

    #[test]
    fn malformed_lines_rejected() {
        let cases: &[(&[u8], ErrorKind)] = &[
            (b"drm-engine-gfx 5 ns", ErrorKind::Syntax),
            (b"drm-engine gfx: 5 ns", ErrorKind::Syntax),
            (b"drm-: 5", ErrorKind::Syntax),
            (b"drm-engine-: 5 ns", ErrorKind::Name),
            (b"drm-total-: 5", ErrorKind::Name),
            (b"drm-engine-gfx: ns", ErrorKind::Number),
            (b"drm-engine-gfx: -5 ns", ErrorKind::Number),
            (b"drm-engine-gfx: +5 ns", ErrorKind::Number),
            (b"drm-engine-gfx: 0x5 ns", ErrorKind::Unit),
            (
                b"drm-engine-gfx: 18446744073709551616 ns",
                ErrorKind::Number,
            ),
            (
                b"drm-engine-gfx: 99999999999999999999999 ns",
                ErrorKind::Number,
            ),
            (b"drm-client-id: x", ErrorKind::Number),
            (b"drm-engine-capacity-gfx: 0", ErrorKind::ZeroCapacity),
            (
                b"drm-engine-gfx: 1 ns\ndrm-engine-gfx: 1 ns",
                ErrorKind::Duplicate,
            ),
            (
                b"drm-engine-capacity-gfx: 2\ndrm-engine-gfx: 1 ns\ndrm-engine-capacity-gfx: 2",
                ErrorKind::Duplicate,
            ),
            (
                b"drm-total-m: 18446744073709551615 KiB",
                ErrorKind::Overflow,
            ),
        ];
        for &(text, kind) in cases {
            let got = engine_ns_total(text).err().map(|e| e.kind).or_else(|| {
                memory_bytes(text, MemoryKind::Total, b"m")
                    .err()
                    .map(|e| e.kind)
            });
            assert_eq!(got, Some(kind), "{:?}", core::str::from_utf8(text));
        }
        // A malformed line anywhere rejects the whole text, with its line.
        let text = b"drm-engine-a: 1 ns\ndrm-total-m: 1 KiB\ndrm-engine-b: x ns\n";
        assert_eq!(
            engine_ns_total(text),
            Err(ParseError {
                line: 3,
                kind: ErrorKind::Number
            })
        );
        assert_eq!(total_memory_bytes(text, b"m"), None);
        assert_eq!(driver(b"drm-driver: x\ndrm-engine-a: 1\n"), None);
    }

    #[test]
    fn sum_overflow_rejected() {
        let text = b"drm-engine-a: 18446744073709551615 ns\ndrm-engine-b: 1 ns\n";
        assert_eq!(
            engine_ns_total(text).map_err(|e| e.kind),
            Err(ErrorKind::Overflow)
        );
        assert_eq!(Engines::parse(text).unwrap().total_ns(), None);
        let max = b"drm-engine-a: 18446744073709551615 ns\n";
        assert_eq!(engine_ns_total(max), Ok(u64::MAX));
    }

    #[test]
    fn unknown_keys_ignored() {
        let text = b"pos:\t0\nweird line without colon\nx y: z\namd-foo: bar baz\n\
drm-pdev: 0000:03:00.0\ndrm-client-name: my app: v2\ndrm-new-key-of-2030: anything at all\n\
drm-driver: has spaces: ok\ndrm-engine-gfx: 10 ns\n";
        assert_eq!(engine_ns_total(text), Ok(10));
        assert_eq!(driver(text), Some(&b"has spaces: ok"[..]));
    }

    #[test]
    fn too_many_engines() {
        let mut text = [0u8; 512];
        let mut len = 0;
        for i in 0..=MAX_ENGINES {
            let line = [
                b"drm-engine-e".as_slice(),
                &[b'a' + i as u8],
                b": 1 ns\n".as_slice(),
            ];
            for part in line {
                text[len..len + part.len()].copy_from_slice(part);
                len += part.len();
            }
        }
        let text = &text[..len];
        assert_eq!(
            Engines::parse(text).map(|_| ()).map_err(|e| e.kind),
            Err(ErrorKind::TooManyEngines)
        );
        // The total needs no table.
        assert_eq!(engine_ns_total(text), Ok(MAX_ENGINES as u64 + 1));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: every prefix of mixed inputs, and
        // byte-flipped versions of the examples.
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut buf = [0u8; 256];
        for example in [REALGPU, AMDGPU, I915, XE] {
            for _ in 0..2000 {
                let len = example.len().min(buf.len());
                buf[..len].copy_from_slice(&example[..len]);
                for _ in 0..4 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let i = (state % len as u64) as usize;
                    buf[i] = (state >> 32) as u8;
                }
                let text = &buf[..len];
                let _ = engine_ns_total(text);
                let _ = Engines::parse(text);
                let _ = total_memory_bytes(text, b"vram");
                let _ = driver(text);
            }
        }
    }
}
