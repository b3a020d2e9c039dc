//! Medians, the table and the JSON lines.

/// Rates of one scenario or baseline, round by round.
#[derive(Default)]
pub struct Measure(Vec<f64>);

impl Measure {
    pub fn add(&mut self, rate: f64) {
        self.0.push(rate);
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

/// One line of the result.
pub struct Row {
    pub scenario: &'static str,
    pub unit: &'static str,
    pub rate: f64,
    pub baseline: f64,
    pub baseline_name: &'static str,
}

impl Row {
    pub fn ratio(&self) -> f64 {
        self.rate / self.baseline
    }

    pub fn json(&self) -> String {
        serde_json::json!({
            "scenario": self.scenario,
            "rate": self.rate,
            "unit": self.unit,
            "baseline": self.baseline,
            "ratio": self.ratio(),
        })
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

pub fn print_table(rows: &[Row]) {
    println!(
        "| {:<22} | {:>16} | {:>16} | {:>6} | baseline |",
        "scenario", "median rate", "baseline rate", "ratio"
    );
    println!(
        "|{:-<24}|{:->18}|{:->18}|{:->8}|----------|",
        "", "", "", ""
    );
    for r in rows {
        println!(
            "| {:<22} | {:>16} | {:>16} | {:>6.2} | {} |",
            r.scenario,
            format!("{}{}", human(r.rate, r.unit), r.unit),
            format!("{}{}", human(r.baseline, r.unit), r.unit),
            r.ratio(),
            r.baseline_name
        );
    }
}
