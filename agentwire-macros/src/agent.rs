//! Reading an `#[agent]` `impl` block: its exposed methods, their
//! parameters and results, and its sub-services.

use proc_macro2::TokenStream;
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, Pat,
    PathArguments, ReturnType, Type,
};

/// An `impl` block marked `#[agent]`, read.
pub(crate) struct AgentImpl {
    /// The block, without the `#[expose]`/`#[service]` attributes.
    pub(crate) item: ItemImpl,
    /// The type's name (`Calc`).
    pub(crate) ident: Ident,
    /// What `validate_aid` answers.
    pub(crate) class_name: String,
    pub(crate) methods: Vec<Exposed>,
    pub(crate) services: Vec<SubService>,
}

/// An `#[expose]` method.
pub(crate) struct Exposed {
    pub(crate) ident: Ident,
    /// Its name on the wire.
    pub(crate) wire: String,
    pub(crate) is_async: bool,
    pub(crate) params: Vec<Param>,
    pub(crate) output: Output,
    /// Its doc comments, for the client's method.
    pub(crate) docs: Vec<Attribute>,
    /// Its `#[cfg]` attributes: they apply to its handler and its client
    /// method too (a method compiled out has no handler to call it).
    pub(crate) cfgs: Vec<Attribute>,
    /// Its `#[deprecated]` attribute, for its client method.
    pub(crate) deprecated: Vec<Attribute>,
}

/// One parameter of an exposed method.
pub(crate) struct Param {
    pub(crate) ident: Ident,
    /// Its name on the wire (keyword arguments): the identifier without `r#`.
    pub(crate) name: String,
    pub(crate) ty: Type,
    /// `T` if the type is `Option<T>` (the caller may leave it out).
    pub(crate) optional: Option<Type>,
}

/// What an exposed method returns.
pub(crate) enum Output {
    /// `T` (or nothing: `()`).
    Plain(Type),
    /// `Result<T, E>`: `T` is the reply, `E` (a `Display`) a remote error.
    Result(Type),
}

/// A `#[service]` method: `fn name(&self) -> Arc<T>`.
pub(crate) struct SubService {
    pub(crate) ident: Ident,
    pub(crate) wire: String,
    /// `T`, an agent type.
    pub(crate) agent: Type,
    /// As [`Exposed::cfgs`].
    pub(crate) cfgs: Vec<Attribute>,
    /// As [`Exposed::deprecated`].
    pub(crate) deprecated: Vec<Attribute>,
}

pub(crate) fn agent(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut item: ItemImpl = syn::parse2(item)?;
    if let Some((_, path, _)) = &item.trait_ {
        return Err(syn::Error::new(
            path.span(),
            "#[agent] goes on the type's own `impl` block, not on a trait impl",
        ));
    }
    if !item.generics.params.is_empty() {
        return Err(syn::Error::new(
            item.generics.span(),
            "#[agent] does not support generic agent types yet",
        ));
    }
    let ident = type_ident(&item.self_ty)?;
    let mut class_name = ident.unraw().to_string();
    if !attr.is_empty() {
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                class_name = meta.value()?.parse::<LitStr>()?.value();
                Ok(())
            } else {
                Err(meta.error("expected `name = \"ClassName\"`"))
            }
        });
        syn::parse::Parser::parse2(parser, attr)?;
    }
    let mut methods = Vec::new();
    let mut services = Vec::new();
    for member in &mut item.items {
        let ImplItem::Fn(f) = member else { continue };
        let mut markers = f
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("expose") || a.path().is_ident("service"));
        if let Some(second) = markers.nth(1) {
            return Err(syn::Error::new(
                second.span(),
                "one #[expose] or #[service] per method (rename with `name = \"…\"` in it)",
            ));
        }
        if let Some(wire) = take_marker(&mut f.attrs, "expose", &f.sig.ident)? {
            methods.push(exposed(f, wire)?);
        } else if let Some(wire) = take_marker(&mut f.attrs, "service", &f.sig.ident)? {
            let service = sub_service(f, wire)?;
            if serves_itself(&service.agent, &ident) {
                return Err(syn::Error::new(
                    f.sig.output.span(),
                    "a #[service] of the agent's own type would serve itself forever (its \
                     router is built when the agent is registered, sub-services and all)",
                ));
            }
            services.push(service);
        }
    }
    let mut names: Vec<&str> = methods.iter().map(|m| m.wire.as_str()).collect();
    names.extend(services.iter().map(|s| s.wire.as_str()));
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(syn::Error::new(
            item.self_ty.span(),
            format!("two exposed methods or services are named {:?}", pair[0]),
        ));
    }
    Ok(crate::expand::expand(&AgentImpl {
        item,
        ident,
        class_name,
        methods,
        services,
    }))
}

/// Whether a service's type `ty` is the agent's own (`Self`, or its name).
fn serves_itself(ty: &Type, ident: &Ident) -> bool {
    let Type::Path(path) = ty else { return false };
    path.qself.is_none()
        && path
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == "Self" || last.ident == *ident)
}

/// The name of the agent type (`Calc` in `impl Calc`).
fn type_ident(ty: &Type) -> syn::Result<Ident> {
    if let Type::Path(path) = ty {
        if path.qself.is_none() {
            if let Some(last) = path.path.segments.last() {
                return Ok(last.ident.clone());
            }
        }
    }
    Err(syn::Error::new(ty.span(), "#[agent] needs a named type"))
}

/// Removes the attribute `#[marker]` / `#[marker(name = "…")]` from
/// `attrs`; its wire name if it was there.
fn take_marker(
    attrs: &mut Vec<Attribute>,
    marker: &str,
    ident: &Ident,
) -> syn::Result<Option<String>> {
    let Some(index) = attrs.iter().position(|a| a.path().is_ident(marker)) else {
        return Ok(None);
    };
    let attr = attrs.remove(index);
    let mut wire = ident.unraw().to_string();
    if let syn::Meta::List(_) = attr.meta {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                wire = meta.value()?.parse::<LitStr>()?.value();
                Ok(())
            } else {
                Err(meta.error("expected `name = \"wire_name\"`"))
            }
        })?;
    }
    if wire.is_empty() || wire.contains('/') {
        return Err(syn::Error::new(
            attr.span(),
            "an RPC name is not empty and has no '/'",
        ));
    }
    Ok(Some(wire))
}

use syn::ext::IdentExt;

fn check_receiver(f: &ImplItemFn, what: &str) -> syn::Result<()> {
    match f.sig.inputs.first() {
        // `&self`, `&'a self`, `self: &Self`: a shared reference.
        Some(FnArg::Receiver(r)) if matches!(&*r.ty, Type::Reference(t) if t.mutability.is_none()) => {
            Ok(())
        }
        _ => Err(syn::Error::new(
            f.sig.span(),
            format!("{what} takes `&self` (an agent is shared by the calls it serves)"),
        )),
    }
}

fn exposed(f: &ImplItemFn, wire: String) -> syn::Result<Exposed> {
    check_receiver(f, "an exposed method")?;
    check_client_name(f, "expose")?;
    if !f.sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            f.sig.generics.span(),
            "an exposed method cannot be generic: its types are what the wire carries",
        ));
    }
    let mut params = Vec::new();
    for input in f.sig.inputs.iter().skip(1) {
        let FnArg::Typed(typed) = input else { continue };
        let Pat::Ident(pat) = &*typed.pat else {
            return Err(syn::Error::new(
                typed.pat.span(),
                "an exposed method's parameters are plain names (they are its keywords)",
            ));
        };
        check_wire_type(&typed.ty, "takes")?;
        params.push(Param {
            ident: pat.ident.clone(),
            name: pat.ident.unraw().to_string(),
            ty: (*typed.ty).clone(),
            optional: generic_of(&typed.ty, "Option"),
        });
    }
    if params.len() > 8 {
        return Err(syn::Error::new(
            f.sig.inputs.span(),
            "an exposed method takes at most 8 parameters",
        ));
    }
    let output = match &f.sig.output {
        ReturnType::Default => Output::Plain(syn::parse_quote!(())),
        ReturnType::Type(_, ty) => {
            check_wire_type(ty, "returns")?;
            match generic_of(ty, "Result") {
                Some(ok) => {
                    check_wire_type(&ok, "returns")?;
                    Output::Result(ok)
                }
                None => Output::Plain((**ty).clone()),
            }
        }
    };
    Ok(Exposed {
        ident: f.sig.ident.clone(),
        wire,
        is_async: f.sig.asyncness.is_some(),
        params,
        output,
        docs: f
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect(),
        cfgs: attrs_named(f, "cfg"),
        deprecated: attrs_named(f, "deprecated"),
    })
}

/// The attributes `#[name…]` of `f`.
fn attrs_named(f: &ImplItemFn, name: &str) -> Vec<Attribute> {
    f.attrs
        .iter()
        .filter(|a| a.path().is_ident(name))
        .cloned()
        .collect()
}

/// The name the typed client keeps for itself.
const CLIENT_OWN: &str = "proxy";

/// Refuses an exposed method or service (`marker`) whose Rust name is one
/// the typed client already uses for itself.
fn check_client_name(f: &ImplItemFn, marker: &str) -> syn::Result<()> {
    if f.sig.ident.unraw() == CLIENT_OWN {
        return Err(syn::Error::new(
            f.sig.ident.span(),
            format!(
                "the typed client has a method `{CLIENT_OWN}()` of its own (the untyped proxy): \
                 name this method otherwise and keep its wire name with \
                 `#[{marker}(name = \"{CLIENT_OWN}\")]`"
            ),
        ));
    }
    Ok(())
}

/// Refuses a type an exposed method cannot carry: a reference (what it
/// takes or returns is decoded from or encoded to the wire), or
/// `impl Trait` anywhere in it (the wire needs one concrete type).
fn check_wire_type(ty: &Type, what: &str) -> syn::Result<()> {
    if let Type::Reference(r) = ty {
        return Err(syn::Error::new(
            r.span(),
            format!("an exposed method {what} owned values (`String`, not `&str`)"),
        ));
    }
    if let Some(span) = find_impl(quote::ToTokens::to_token_stream(ty)) {
        return Err(syn::Error::new(
            span,
            format!(
                "an exposed method {what} concrete types, not `impl Trait`: the wire carries \
                 one type"
            ),
        ));
    }
    Ok(())
}

/// Where the keyword `impl` is in `tokens`, if it is.
fn find_impl(tokens: TokenStream) -> Option<proc_macro2::Span> {
    tokens.into_iter().find_map(|tt| match tt {
        proc_macro2::TokenTree::Ident(i) if i == "impl" => Some(i.span()),
        proc_macro2::TokenTree::Group(g) => find_impl(g.stream()),
        _ => None,
    })
}

fn sub_service(f: &ImplItemFn, wire: String) -> syn::Result<SubService> {
    check_receiver(f, "a #[service] method")?;
    check_client_name(f, "service")?;
    let agent = match &f.sig.output {
        ReturnType::Type(_, ty) => generic_of(ty, "Arc"),
        ReturnType::Default => None,
    };
    let Some(agent) = agent else {
        return Err(syn::Error::new(
            f.sig.span(),
            "a #[service] method returns `Arc<T>`, where `T` is an #[agent] type",
        ));
    };
    if f.sig.inputs.len() != 1 || f.sig.asyncness.is_some() {
        return Err(syn::Error::new(
            f.sig.span(),
            "a #[service] method is `fn name(&self) -> Arc<T>` (called once, when the agent is registered)",
        ));
    }
    Ok(SubService {
        ident: f.sig.ident.clone(),
        wire,
        agent,
        cfgs: attrs_named(f, "cfg"),
        deprecated: attrs_named(f, "deprecated"),
    })
}

/// `T` if `ty` is `Name<T, …>` (by the last path segment: `Option<T>`,
/// `std::result::Result<T, E>`, `io::Result<T>`).
pub(crate) fn generic_of(ty: &Type, name: &str) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}
