//! Medians, the table and the JSON lines.

/// Rates (or byte counts) of one scenario or baseline, round by round.
#[derive(Default)]
pub struct Measure(Vec<f64>);

impl Measure {
    pub fn add(&mut self, value: f64) {
        self.0.push(value);
    }

    pub fn median(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }
}

/// What a row measured.
pub enum Value {
    /// A rate (higher is better) and its baseline's, measured in the same
    /// run; the ratio must be at least `floor`, if there is one.
    Rate {
        unit: &'static str,
        rate: f64,
        baseline: f64,
        baseline_name: &'static str,
        floor: Option<f64>,
    },
    /// Heap bytes (lower is better), at most `ceiling`.
    Bytes {
        bytes: f64,
        ceiling: f64,
        what: &'static str,
    },
}

/// One line of the result.
pub struct Row {
    pub scenario: &'static str,
    pub value: Value,
}

impl Row {
    /// Whether the row misses its floor (rates) or ceiling (bytes); `None`
    /// if it has none.
    pub fn fails(&self) -> Option<bool> {
        match self.value {
            Value::Rate {
                rate,
                baseline,
                floor,
                ..
            } => floor.map(|f| rate / baseline < f),
            Value::Bytes { bytes, ceiling, .. } => Some(bytes > ceiling),
        }
    }

    pub fn json(&self) -> String {
        match self.value {
            Value::Rate {
                unit,
                rate,
                baseline,
                floor,
                ..
            } => serde_json::json!({
                "scenario": self.scenario,
                "kind": "rate",
                "rate": rate,
                "unit": unit,
                "baseline": baseline,
                "ratio": rate / baseline,
                "floor": floor,
                "below_floor": self.fails(),
            }),
            Value::Bytes { bytes, ceiling, .. } => serde_json::json!({
                "scenario": self.scenario,
                "kind": "bytes",
                "bytes": bytes,
                "unit": "B",
                "lower_is_better": true,
                "ceiling": ceiling,
                "over_ceiling": self.fails(),
            }),
        }
        .to_string()
    }
}

fn human(rate: f64, unit: &str) -> String {
    if unit == "MiB/s" {
        format!("{rate:.0} ")
    } else if rate >= 1e6 {
        format!("{:.2} M", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1} k", rate / 1e3)
    } else {
        format!("{rate:.1} ")
    }
}

/// Bytes in B, KiB or MiB.
fn human_bytes(bytes: f64) -> String {
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", bytes / (1024.0 * 1024.0))
    } else if bytes >= 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{bytes:.0} B")
    }
}

pub fn print_table(rows: &[Row]) {
    println!(
        "| {:<22} | {:>16} | {:>16} | {:>6} | {:>12} | {:<5} | baseline |",
        "scenario", "median", "baseline", "ratio", "limit", "check"
    );
    println!(
        "|{:-<24}|{:->18}|{:->18}|{:->8}|{:->14}|{:-<7}|----------|",
        "", "", "", "", "", ""
    );
    for r in rows {
        let check = match r.fails() {
            None => "",
            Some(false) => "ok",
            Some(true) => match r.value {
                Value::Rate { .. } => "BELOW",
                Value::Bytes { .. } => "OVER",
            },
        };
        match r.value {
            Value::Rate {
                unit,
                rate,
                baseline,
                baseline_name,
                floor,
            } => println!(
                "| {:<22} | {:>16} | {:>16} | {:>6.2} | {:>12} | {:<5} | {} |",
                r.scenario,
                format!("{}{}", human(rate, unit), unit),
                format!("{}{}", human(baseline, unit), unit),
                rate / baseline,
                floor.map(|f| format!(">= {f:.2}")).unwrap_or_default(),
                check,
                baseline_name
            ),
            Value::Bytes {
                bytes,
                ceiling,
                what,
            } => println!(
                "| {:<22} | {:>16} | {:>16} | {:>6} | {:>12} | {:<5} | {} |",
                r.scenario,
                human_bytes(bytes),
                "",
                "",
                format!("<= {}", human_bytes(ceiling)),
                check,
                what
            ),
        }
    }
}
