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
    // The names of our own helper types and parameters are ones no type of
    // the user's has (`Data`, `S` and `D` are theirs).
    Ok(quote! {
        #[derive(#serde::Serialize, #serde::Deserialize)]
        #[serde(crate = "::agentwire::__private::serde", remote = "Self")]
        #input

        impl #serde::Serialize for #ident {
            fn serialize<__S: #serde::Serializer>(
                &self,
                serializer: __S,
            ) -> ::core::result::Result<__S::Ok, __S::Error> {
                struct __AgentwireData<'a>(&'a #ident);
                impl #serde::Serialize for __AgentwireData<'_> {
                    fn serialize<__S: #serde::Serializer>(
                        &self,
                        serializer: __S,
                    ) -> ::core::result::Result<__S::Ok, __S::Error> {
                        #ident::serialize(self.0, serializer)
                    }
                }
                ::agentwire::rpc::serialize_typed::<#ident, _, __S>(
                    &__AgentwireData(self),
                    serializer,
                )
            }
        }

        impl<'de> #serde::Deserialize<'de> for #ident {
            fn deserialize<__D: #serde::Deserializer<'de>>(
                deserializer: __D,
            ) -> ::core::result::Result<Self, __D::Error> {
                struct __AgentwireData(#ident);
                impl<'de> #serde::Deserialize<'de> for __AgentwireData {
                    fn deserialize<__D: #serde::Deserializer<'de>>(
                        deserializer: __D,
                    ) -> ::core::result::Result<Self, __D::Error> {
                        #ident::deserialize(deserializer).map(__AgentwireData)
                    }
                }
                ::agentwire::rpc::deserialize_typed::<#ident, __AgentwireData, __D>(deserializer)
                    .map(|__AgentwireData(value)| value)
            }
        }

        impl ::agentwire::rpc::Serializable for #ident {}
    })
}
