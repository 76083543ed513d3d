//! What every component kind's registration table generates: the settings enum, how a
//! `type = "..."` name turns into one of its variants, the runtime enum and how it is built.
//!
//! `inputs`, `filters` and `outputs` each keep one table of their types and pass it here (and
//! to their own dispatch), so the type names a pipeline file may use, the list an unknown
//! type's error shows, the parsing and the building can never disagree.

/// A runtime held in place rather than boxed (`of Inline` in [`component_types!`]).
pub(crate) type Inline<T> = T;

/// Declares, from one table of types:
///
/// - `enum $settings`, one boxed variant per line, implementing
///   [`ComponentKind`](crate::config::ComponentKind). Settings are boxed: they are read once,
///   when the component is built, and boxing keeps the enum small whatever one type holds.
/// - `enum $runtime`, one variant per line holding the runtime `of Box` or `of Inline`, with
///   `build(settings, context)` calling the runtime's `$kind_trait::build`.
///
/// Each line is `"type name" => Variant(settings type => runtime type)`.
macro_rules! component_types {
    (
        pub enum $settings:ident: $kind:literal, conditional: $conditional:literal;
        $vis:vis enum $runtime_enum:ident of $wrap:ident, built by $kind_trait:ident from $context:ty;
        $($name:literal => $variant:ident($config:ty => $runtime:ty),)+
    ) => {
        #[doc = concat!("Every ", $kind, " type's settings.")]
        #[derive(Debug, Clone)]
        pub enum $settings {
            $($variant(Box<$config>),)+
        }

        impl $crate::config::ComponentKind for $settings {
            const KIND: &'static str = $kind;
            const TYPES: &'static [&'static str] = &[$($name),+];
            const CONDITIONAL: bool = $conditional;

            fn from_type(
                type_name: &str,
                table: toml_edit::Value,
            ) -> Result<Self, toml_edit::de::Error> {
                match type_name {
                    $($name => $crate::config::settings(table)
                        .map(|config| Self::$variant(Box::new(config))),)+
                    other => Err(serde::de::Error::custom(format!(
                        concat!("unknown ", $kind, " type `{}`"),
                        other
                    ))),
                }
            }
        }

        #[doc = concat!("A built ", $kind, ", ready to run.")]
        #[derive(Debug)]
        $vis enum $runtime_enum {
            $($variant($wrap<$runtime>),)+
        }

        impl $runtime_enum {
            /// Builds the component from its settings; every problem points at its place in
            /// the table (a component type may report one or several).
            $vis fn build(
                config: &$settings,
                context: &$context,
            ) -> Result<Self, $crate::config::ConfigErrors> {
                Ok(match config {
                    $($settings::$variant(config) => Self::$variant(
                        <$runtime as $kind_trait>::build(config, context)
                            .map_err($crate::config::ConfigErrors::from)?
                            .into(),
                    ),)+
                })
            }
        }
    };
}

pub(crate) use component_types;
