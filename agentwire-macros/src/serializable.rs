//! `#[serializable]`: serde's derived impls, wrapped in aiomas's
//! `{"__type__": [typeid, data]}`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::DeriveInput;

pub(crate) fn serializable(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    if !attr.is_empty() {
        return Err(syn::Error::new(
            attr.span(),
            "#[serializable] takes no arguments",
        ));
    }
    let input: DeriveInput = syn::parse2(item)?;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "#[serializable] does not support generic types",
        ));
    }
    let ident = &input.ident;
    let serde = quote!(::agentwire::__private::serde);
    // serde's `remote = "Self"` derives inherent `serialize`/`deserialize`
    // functions instead of the traits, which are written here around them.
    Ok(quote! {
        #[derive(#serde::Serialize, #serde::Deserialize)]
        #[serde(crate = "::agentwire::__private::serde", remote = "Self")]
        #input

        impl #serde::Serialize for #ident {
            fn serialize<S: #serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                struct Data<'a>(&'a #ident);
                impl #serde::Serialize for Data<'_> {
                    fn serialize<S: #serde::Serializer>(
                        &self,
                        serializer: S,
                    ) -> ::core::result::Result<S::Ok, S::Error> {
                        #ident::serialize(self.0, serializer)
                    }
                }
                ::agentwire::rpc::serialize_typed::<#ident, _, S>(&Data(self), serializer)
            }
        }

        impl<'de> #serde::Deserialize<'de> for #ident {
            fn deserialize<D: #serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                struct Data(#ident);
                impl<'de> #serde::Deserialize<'de> for Data {
                    fn deserialize<D: #serde::Deserializer<'de>>(
                        deserializer: D,
                    ) -> ::core::result::Result<Self, D::Error> {
                        #ident::deserialize(deserializer).map(Data)
                    }
                }
                ::agentwire::rpc::deserialize_typed::<#ident, Data, D>(deserializer)
                    .map(|Data(value)| value)
            }
        }

        impl ::agentwire::rpc::Serializable for #ident {}
    })
}
