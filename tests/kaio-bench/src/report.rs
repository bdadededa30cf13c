//! What a benchmark produces: its table (text lines), machine-readable records, and whether it
//! ran to completion; and the program's output formats (KTAP with the tables as `# ` lines,
//! JSON).

use crate::stats::Summary;
use std::fmt::Write as _;

/// One measured figure, for `--json`.
#[derive(Clone, Debug)]
pub struct Record {
    pub variant: String,
    /// Parameters of the row (contexts, threads, batch, in-flight ...).
    pub params: Vec<(&'static str, String)>,
    /// What was timed ("ns_per_op", "cancel_ns", "reaped_ns" ...).
    pub metric: &'static str,
    pub summary: Summary,
}

/// The output of one benchmark.
pub struct Section {
    pub name: &'static str,
    pub lines: Vec<String>,
    pub records: Vec<Record>,
    pub error: Option<String>,
    pub skipped: Option<String>,
    pub seconds: f64,
}

impl Section {
    pub fn new(name: &'static str) -> Section {
        Section {
            name,
            lines: Vec::new(),
            records: Vec::new(),
            error: None,
            skipped: None,
            seconds: 0.0,
        }
    }

    pub fn line(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }

    pub fn record(
        &mut self,
        variant: impl Into<String>,
        params: &[(&'static str, String)],
        metric: &'static str,
        summary: Summary,
    ) {
        self.records.push(Record {
            variant: variant.into(),
            params: params.to_vec(),
            metric,
            summary,
        });
    }
}

/// A duration in ns, right-aligned, in a unit that keeps 3-4 significant digits.
pub fn ns(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v < 10_000.0 {
        format!("{v:.0}ns")
    } else if v < 10_000_000.0 {
        format!("{:.1}us", v / 1e3)
    } else {
        format!("{:.1}ms", v / 1e6)
    }
}

/// "median (p90)" of a summary, padded to `w`.
pub fn cell(s: &Summary, w: usize) -> String {
    format!("{:>w$}", format!("{} ({})", ns(s.median), ns(s.p90)))
}

/// a / b as "1.23x", padded to `w`.
pub fn ratio(a: f64, b: f64, w: usize) -> String {
    let r = a / b;
    let s = if r.is_finite() {
        format!("{r:.2}x")
    } else {
        "-".into()
    };
    format!("{s:>w$}")
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "null".into()
    }
}

/// The whole run as one JSON document.
pub fn json(env: &[(&'static str, String)], sections: &[Section]) -> String {
    let mut o = String::from("{\n  \"env\": {");
    for (i, (k, v)) in env.iter().enumerate() {
        let _ = write!(
            o,
            "{}{}: {}",
            if i > 0 { ", " } else { "" },
            json_str(k),
            json_str(v)
        );
    }
    o.push_str("},\n  \"benchmarks\": [\n");
    for (i, s) in sections.iter().enumerate() {
        let status = if s.skipped.is_some() {
            "skipped"
        } else if s.error.is_some() {
            "failed"
        } else {
            "ok"
        };
        let _ = write!(
            o,
            "    {{\"name\": {}, \"status\": {}, \"error\": {}, \"seconds\": {}, \"records\": [",
            json_str(s.name),
            json_str(status),
            s.error.as_deref().map_or("null".into(), json_str),
            json_num(s.seconds)
        );
        for (j, r) in s.records.iter().enumerate() {
            let _ = write!(
                o,
                "{}\n      {{\"variant\": {}, ",
                if j > 0 { "," } else { "" },
                json_str(&r.variant)
            );
            for (k, v) in &r.params {
                let _ = write!(
                    o,
                    "{}: {}, ",
                    json_str(k),
                    v.parse::<u64>()
                        .map_or_else(|_| json_str(v), |n| n.to_string())
                );
            }
            let _ = write!(
                o,
                "\"metric\": {}, \"unit\": \"ns\", \"median\": {}, \"p90\": {}, \"samples\": {}, \"ops_per_sample\": {}}}",
                json_str(r.metric),
                json_num(r.summary.median),
                json_num(r.summary.p90),
                r.summary.samples,
                r.summary.per_sample
            );
        }
        let _ = writeln!(
            o,
            "{}]}}{}",
            if s.records.is_empty() { "" } else { "\n    " },
            if i + 1 < sections.len() { "," } else { "" }
        );
    }
    o.push_str("  ]\n}\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(ns(812.4), "812ns");
        assert_eq!(ns(12_345.0), "12.3us");
        assert_eq!(ns(25_000_000.0), "25.0ms");
        assert_eq!(ns(f64::NAN), "-");
        assert_eq!(ratio(3.0, 2.0, 6), " 1.50x");
        assert_eq!(ratio(1.0, 0.0, 3), "  -");
    }

    #[test]
    fn json_shape() {
        let mut s = Section::new("floor");
        let sum = Summary {
            median: 1.5,
            p90: 2.0,
            samples: 3,
            per_sample: 10,
        };
        s.record("kaio \"x\"", &[("threads", "2".into())], "ns_per_op", sum);
        let j = json(&[("kernel", "6.12".into())], &[s]);
        assert!(
            j.contains(
                "\"variant\": \"kaio \\\"x\\\"\", \"threads\": 2, \"metric\": \"ns_per_op\""
            ),
            "{j}"
        );
        assert!(j.contains("\"status\": \"ok\""));
        assert!(j.contains("\"median\": 1.5"));
    }
}
