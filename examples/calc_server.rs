//! One agent for any aiomas user to call: `Calc` (id 0) with `add(a, b)`
//! (ints stay ints, floats stay floats), `echo(value)` and
//! `fail(message)`, at the address given (a URL; `tcp://127.0.0.1:5555`
//! by default). Prints `READY <agent url>` once serving; runs until killed
//! (or Ctrl-C).
//!
//! ```text
//! cargo run --example calc_server -- tcp://127.0.0.1:5555
//! ```
//!
//! and from Python:
//!
//! ```python
//! calc = await container.connect('tcp://127.0.0.1:5555/0')
//! await calc.add(1, 2)           # 3
//! await calc.echo(value=[1, 'x']) # [1, 'x']
//! ```

use agentwire::{agent, Container};
use serde::{Deserialize, Serialize};
use serde_json::Value;

struct Calc;

#[agent]
impl Calc {
    /// `a + b`: ints stay ints (an overflow is an error), floats stay floats.
    #[expose]
    async fn add(&self, a: Number, b: Number) -> Result<Number, String> {
        Number::sum(a, b)
    }

    /// Any value, back as it came.
    #[expose]
    async fn echo(&self, value: Value) -> Value {
        value
    }

    /// An error carrying `message`.
    #[expose]
    async fn fail(&self, message: String) -> Result<(), String> {
        Err(message)
    }
}

/// A number as Python has them.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Number {
    /// A Python int (within 64 bits).
    Int(i64),
    /// A Python float.
    Float(f64),
}

impl Number {
    /// `a + b`, an int if both are.
    pub fn sum(a: Number, b: Number) -> Result<Number, String> {
        match (a, b) {
            (Number::Int(a), Number::Int(b)) => a
                .checked_add(b)
                .map(Number::Int)
                .ok_or_else(|| format!("{a} + {b} overflows a 64-bit integer")),
            (a, b) => Ok(Number::Float(a.as_f64() + b.as_f64())),
        }
    }

    fn as_f64(&self) -> f64 {
        match *self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:5555".to_owned());
    let container = Container::create(addr.as_str()).await?;
    let calc = container.register_agent(Calc)?;
    println!("READY {}", calc.url());
    tokio::signal::ctrl_c().await?;
    container.shutdown().await;
    Ok(())
}
