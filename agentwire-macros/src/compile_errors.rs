//! What the attributes refuse, each a compile error of their own that says
//! why (pinned here as `compile_fail` examples; each would compile with
//! the one mistake taken out).
//!
//! A generic agent type:
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct Gen<T>(T);
//! #[agent]
//! impl<T: Send + Sync + 'static> Gen<T> {
//!     #[expose]
//!     fn one(&self) -> i64 { 1 }
//! }
//! ```
//!
//! A trait impl:
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl Clone for A {
//!     fn clone(&self) -> Self { A }
//! }
//! ```
//!
//! `&mut self`, or `self` by value:
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn set(&mut self, x: i64) -> i64 { x }
//! }
//! ```
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn into_it(self) -> i64 { 1 }
//! }
//! ```
//!
//! A reference parameter, a reference result:
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn len(&self, s: &str) -> usize { s.len() }
//! }
//! ```
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A { name: String }
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn name(&self) -> &str { &self.name }
//! }
//! ```
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A { name: String }
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn name(&self) -> Result<&str, String> { Ok(&self.name) }
//! }
//! ```
//!
//! `impl Trait` in a parameter or the result:
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn show(&self, x: impl std::fmt::Display) -> String { x.to_string() }
//! }
//! ```
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn many(&self) -> Vec<impl serde::Serialize> { vec![1] }
//! }
//! ```
//!
//! A generic method:
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn echo<T: serde::Serialize>(&self, x: T) -> T { x }
//! }
//! ```
//!
//! A pattern for a parameter:
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn add(&self, (a, b): (i64, i64)) -> i64 { a + b }
//! }
//! ```
//!
//! More than 8 parameters:
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn nine(&self, a: i64, b: i64, c: i64, d: i64, e: i64, f: i64, g: i64, h: i64, i: i64) -> i64 {
//!         a + b + c + d + e + f + g + h + i
//!     }
//! }
//! ```
//!
//! A method named `proxy` (the typed client's own), exposed or a service:
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn proxy(&self) -> i64 { 1 }
//! }
//! ```
//!
//! ```compile_fail
//! use agentwire::agent;
//! use std::sync::Arc;
//! struct Sub;
//! #[agent]
//! impl Sub {
//!     #[expose]
//!     fn one(&self) -> i64 { 1 }
//! }
//! struct A(Arc<Sub>);
//! #[agent]
//! impl A {
//!     #[service]
//!     fn proxy(&self) -> Arc<Sub> { Arc::clone(&self.0) }
//! }
//! ```
//!
//! Two methods under one wire name; a wire name with a `/`, or empty; an
//! unknown option:
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn one(&self) -> i64 { 1 }
//!     #[expose(name = "one")]
//!     fn uno(&self) -> i64 { 1 }
//! }
//! ```
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose(name = "a/b")]
//!     fn one(&self) -> i64 { 1 }
//! }
//! ```
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose(name = "")]
//!     fn one(&self) -> i64 { 1 }
//! }
//! ```
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose(nmae = "one")]
//!     fn one(&self) -> i64 { 1 }
//! }
//! ```
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent(class = "B")]
//! impl A {
//!     #[expose]
//!     fn one(&self) -> i64 { 1 }
//! }
//! ```
//!
//! Two markers on one method:
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[expose]
//!     #[expose(name = "uno")]
//!     fn one(&self) -> i64 { 1 }
//! }
//! ```
//!
//! A service that does not return `Arc<T>`, or is async:
//!
//! ```compile_fail
//! use agentwire::agent;
//! struct A;
//! #[agent]
//! impl A {
//!     #[service]
//!     fn tools(&self) -> i64 { 1 }
//! }
//! ```
//!
//! A service of the agent's own type (its router would be built forever:
//! a stack overflow when the agent is registered):
//!
//! ```compile_fail
//! use agentwire::agent;
//! use std::sync::{Arc, Weak};
//! struct A(Weak<A>);
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn one(&self) -> i64 { 1 }
//!     #[service]
//!     fn me(&self) -> Arc<Self> { self.0.upgrade().expect("alive") }
//! }
//! ```
//!
//! ```compile_fail
//! use agentwire::agent;
//! use std::sync::{Arc, Weak};
//! struct A(Weak<A>);
//! #[agent]
//! impl A {
//!     #[expose]
//!     fn one(&self) -> i64 { 1 }
//!     #[service]
//!     fn me(&self) -> Arc<A> { self.0.upgrade().expect("alive") }
//! }
//! ```
//!
//! `#[serializable]` with arguments, or on a generic type:
//!
//! ```compile_fail
//! use agentwire::serializable;
//! #[serializable(name = "P")]
//! struct P { x: i64 }
//! ```
//!
//! ```compile_fail
//! use agentwire::serializable;
//! #[serializable]
//! struct P<T> { x: T }
//! ```
//!
//! And what compiles, for comparison (the mistakes above taken out):
//!
//! ```
//! use agentwire::{agent, serializable};
//! use std::sync::Arc;
//! struct Sub;
//! #[agent]
//! impl Sub {
//!     #[expose]
//!     fn one(&self) -> i64 { 1 }
//! }
//! struct A { name: String, sub: Arc<Sub> }
//! #[agent(name = "B")]
//! impl A {
//!     #[expose]
//!     fn name(&self) -> Result<String, String> { Ok(self.name.clone()) }
//!     #[expose(name = "proxy")]
//!     fn proxy_(&self, a: i64, b: i64, c: i64, d: i64, e: i64, f: i64, g: i64, h: i64) -> i64 {
//!         a + b + c + d + e + f + g + h
//!     }
//!     #[service]
//!     fn tools(&self) -> Arc<Sub> { Arc::clone(&self.sub) }
//! }
//! #[serializable]
//! struct P { x: i64 }
//! ```
