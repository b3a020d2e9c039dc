//! The code an `#[agent]` block becomes: the block itself, its
//! `agentwire::Agent` impl (the router of its methods) and its typed client.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, ToTokens};

use crate::agent::{generic_of, AgentImpl, Exposed, Output};

/// The names the generated code gives its own variables and its codec
/// parameter. The variables are hygienic (`Span::mixed_site`), so that a
/// parameter named `this` or `router` is the user's own; the codec
/// parameter, in impls that mention the user's types, has a name no type
/// of theirs has (a type `C` stays theirs).
struct Names {
    this: Ident,
    router: Ident,
    codec: Ident,
}

impl Names {
    fn new() -> Self {
        Names {
            this: Ident::new("this", Span::mixed_site()),
            router: Ident::new("router", Span::mixed_site()),
            codec: format_ident!("__AgentwireCodec"),
        }
    }
}

pub(crate) fn expand(agent: &AgentImpl) -> TokenStream {
    let names = Names::new();
    let Names {
        this,
        router,
        codec,
    } = &names;
    let item = &agent.item;
    let ident = &agent.ident;
    let self_ty = &agent.item.self_ty;
    let proxy = format_ident!("{}Proxy", ident);
    let class_name = &agent.class_name;
    let handlers = agent.methods.iter().map(|m| handler(m, &names));
    let services = agent.services.iter().map(|s| {
        let wire = &s.wire;
        let method = &s.ident;
        let sub = &s.agent;
        let cfgs = &s.cfgs;
        quote! {
            #(#cfgs)*
            let #router = #router.service(
                #wire,
                <#sub as ::agentwire::Agent>::router::<#codec>(#this.#method()),
            );
        }
    });
    let client_methods = agent
        .methods
        .iter()
        .map(|m| client_method(m, self_ty, codec));
    let client_services = agent.services.iter().map(|s| {
        let wire = &s.wire;
        let method = &s.ident;
        let sub = replace_self(s.agent.to_token_stream(), self_ty);
        let cfgs = &s.cfgs;
        let deprecated = &s.deprecated;
        let doc = format!("The client of the sub-service `{wire}`.");
        quote! {
            #[doc = #doc]
            #(#cfgs)*
            #(#deprecated)*
            pub fn #method(&self) -> <#sub as ::agentwire::Agent>::Proxy<#codec> {
                ::core::convert::From::from(self.0.sub(#wire))
            }
        }
    });
    let proxy_doc = format!(
        "The typed client of the agent [`{ident}`]: one async method per exposed method \
         (from `Container::connect(url)` with `.into()`, or received as an agent reference)."
    );
    quote! {
        #item

        impl ::agentwire::Agent for #self_ty {
            const CLASS_NAME: &'static str = #class_name;
            type Proxy<C: ::agentwire::channel::Codec> = #proxy<C>;

            // Exposing a deprecated method is no use of it.
            #[allow(deprecated)]
            fn router<#codec: ::agentwire::channel::Codec>(
                #this: ::agentwire::__private::Arc<Self>,
            ) -> ::agentwire::rpc::Router<#codec> {
                let #router = ::agentwire::rpc::Router::new();
                #(#handlers)*
                #(#services)*
                let _ = &#this;
                #router
            }
        }

        #[doc = #proxy_doc]
        #[derive(Clone, Debug)]
        pub struct #proxy<C: ::agentwire::channel::Codec = ::agentwire::channel::Json>(
            ::agentwire::rpc::Proxy<C>,
        );

        impl<#codec: ::agentwire::channel::Codec> #proxy<#codec> {
            #(#client_methods)*
            #(#client_services)*

            /// The untyped proxy underneath (for dynamic calls).
            pub fn proxy(&self) -> &::agentwire::rpc::Proxy<#codec> {
                &self.0
            }
        }

        impl<C: ::agentwire::channel::Codec> ::core::convert::From<::agentwire::rpc::Proxy<C>>
            for #proxy<C>
        {
            fn from(proxy: ::agentwire::rpc::Proxy<C>) -> Self {
                #proxy(proxy)
            }
        }

        /// Sending a proxy is an error naming it (see `agentwire::rpc::Proxy`).
        impl<C: ::agentwire::channel::Codec> ::agentwire::__private::serde::Serialize for #proxy<C> {
            fn serialize<S: ::agentwire::__private::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                ::agentwire::__private::serde::Serialize::serialize(&self.0, serializer)
            }
        }

        impl<'de, C: ::agentwire::channel::Codec> ::agentwire::__private::serde::Deserialize<'de>
            for #proxy<C>
        {
            fn deserialize<D: ::agentwire::__private::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                <::agentwire::rpc::Proxy<C> as ::agentwire::__private::serde::Deserialize<'de>>::deserialize(
                    deserializer,
                )
                .map(#proxy)
            }
        }
    }
}

/// `router.handler("name", Handler::named(…))` for one method.
fn handler(m: &Exposed, names: &Names) -> TokenStream {
    let Names { this, router, .. } = names;
    let cfgs = &m.cfgs;
    let wire = &m.wire;
    let method = &m.ident;
    let idents: Vec<_> = m.params.iter().map(|p| &p.ident).collect();
    let names = m.params.iter().map(|p| &p.name);
    let kinds = m.params.iter().map(|p| match &p.optional {
        Some(inner) => quote!(::agentwire::rpc::Optional<#inner>),
        None => {
            let ty = &p.ty;
            quote!(::agentwire::rpc::Required<#ty>)
        }
    });
    let call = if m.is_async {
        quote!(#this.#method(#(#idents),*).await)
    } else {
        quote!(#this.#method(#(#idents),*))
    };
    let body = match &m.output {
        Output::Plain(_) => {
            quote!(::core::result::Result::<_, ::agentwire::__private::Infallible>::Ok(#call))
        }
        Output::Result(_) => call,
    };
    quote! {
        #(#cfgs)*
        let #router = #router.handler(#wire, {
            let #this = ::agentwire::__private::Arc::clone(&#this);
            ::agentwire::rpc::Handler::named::<(#(#kinds,)*), _, _, _, _>(
                &[#(#names),*],
                move |(#(#idents,)*)| {
                    let #this = ::agentwire::__private::Arc::clone(&#this);
                    async move { #body }
                },
            )
        });
    }
}

/// `tokens` with every `Self` made `self_ty`: in the typed client's
/// methods, `Self` would be the client.
fn replace_self(tokens: TokenStream, self_ty: &syn::Type) -> TokenStream {
    tokens
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Ident(i) if i == "Self" => self_ty.to_token_stream(),
            TokenTree::Group(g) => {
                let mut group =
                    proc_macro2::Group::new(g.delimiter(), replace_self(g.stream(), self_ty));
                group.set_span(g.span());
                TokenTree::Group(group).into_token_stream()
            }
            other => other.into_token_stream(),
        })
        .collect()
}

/// The typed client's method for one exposed method.
fn client_method(m: &Exposed, self_ty: &syn::Type, codec: &Ident) -> TokenStream {
    let wire = &m.wire;
    let method = &m.ident;
    let cfgs = &m.cfgs;
    let deprecated = &m.deprecated;
    let idents: Vec<_> = m.params.iter().map(|p| &p.ident).collect();
    // What is sent for a parameter that receives a proxy is a reference
    // to one of the caller's agents; what arrives for a result that sends
    // an agent is a proxy.
    let tys = m.params.iter().map(|p| {
        if last_ident(&p.ty).is_some_and(|i| i.ends_with("Proxy")) {
            quote!(::agentwire::AgentRef)
        } else {
            replace_self(p.ty.to_token_stream(), self_ty)
        }
    });
    let ok = match &m.output {
        Output::Plain(t) | Output::Result(t) => t,
    };
    let ok = match last_ident(ok).as_deref() {
        Some("AgentRef") => quote!(::agentwire::rpc::Proxy<#codec>),
        Some("AgentHandle") => match generic_of(ok, "AgentHandle") {
            Some(agent) => {
                let agent = replace_self(agent.to_token_stream(), self_ty);
                quote!(<#agent as ::agentwire::Agent>::Proxy<#codec>)
            }
            None => quote!(::agentwire::rpc::Proxy<#codec>),
        },
        _ => replace_self(ok.to_token_stream(), self_ty),
    };
    let docs = if m.docs.is_empty() {
        let doc = format!("Calls the agent's `{wire}`.");
        quote!(#[doc = #doc])
    } else {
        let docs = &m.docs;
        quote!(#(#docs)*)
    };
    quote! {
        #docs
        #(#cfgs)*
        #(#deprecated)*
        ///
        /// # Errors
        ///
        /// The remote error if the method fails; a connection error if the
        /// agent cannot be reached.
        pub async fn #method(&self, #(#idents: #tys),*)
            -> ::core::result::Result<#ok, ::agentwire::RpcError>
        {
            self.0.call(#wire, (#(#idents,)*)).await
        }
    }
}

/// The last identifier of a path type (`Proxy` in `rpc::Proxy<C>`).
fn last_ident(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}
