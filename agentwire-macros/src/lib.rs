//! The attributes behind agentwire's typed agents, re-exported by
//! `agentwire` (use them from there):
//!
//! - [`macro@agent`] on an `impl` block: its `#[expose]` methods become the
//!   agent's RPC methods (aiomas's `@expose`), and a typed client
//!   `<Type>Proxy` is written next to it;
//! - [`macro@serializable`] on a struct or enum: it travels as aiomas's
//!   `{"__type__": [typeid, data]}` (aiomas's `@serializable`).
//!
//! Map: `agent` (parsing the `impl` block), `expand` (the code written for
//! it), `serializable`; `compile_errors` (doctests only) pins what they
//! refuse.

mod agent;
#[cfg(doctest)]
mod compile_errors;
mod expand;
mod serializable;

use proc_macro::TokenStream;

/// Makes a type an agent: on its `impl` block, every method marked
/// `#[expose]` (or `#[expose(name = "wire_name")]`) is an RPC method at
/// `agents/<id>/<name>`, whose parameters the caller may give by position
/// or by name (trailing `Option<T>` ones may be left out); a method marked
/// `#[service]` returning `Arc<T>` (`T` an agent type) serves `T`'s methods
/// at the sub-path `<method>/`. The class name is the type's name, or
/// `#[agent(name = "…")]`.
///
/// Writes `impl agentwire::Agent for Type` and a typed client
/// `TypeProxy<C = Json>` with one async method per exposed one (same name,
/// same parameters, result `Result<T, RpcError>`). `Self` in a method's
/// types is the agent's type in the client too; a method's `#[cfg]`
/// applies to its handler and its client method, its `#[deprecated]` to
/// its client method. The client's own `proxy()` keeps its name: a method
/// called `proxy` is a compile error (expose another under that wire name
/// with `#[expose(name = "proxy")]`).
///
/// Exposed methods take `&self` and owned, concrete types (no references,
/// no `impl Trait`, no generics), at most 8 of them; anything else is a
/// compile error that says so.
///
/// See the `agentwire` crate's documentation for examples.
#[proc_macro_attribute]
pub fn agent(attr: TokenStream, item: TokenStream) -> TokenStream {
    agent::agent(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Makes a struct or enum travel as aiomas's `{"__type__": [typeid,
/// data]}`, with its fields as `data` (a map by field name, as aiomas's
/// `@serializable` `__asdict__`). Register it on both ends in the same
/// order (`ContainerOptions::serializer`, aiomas's `extra_serializers`).
/// Writes its `Serialize` and `Deserialize`; serde attributes on fields
/// (`#[serde(rename = "…")]`, …) apply to `data`.
#[proc_macro_attribute]
pub fn serializable(attr: TokenStream, item: TokenStream) -> TokenStream {
    serializable::serializable(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
