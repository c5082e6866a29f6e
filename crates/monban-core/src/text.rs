//! Validation of free text that users type: names, labels and codes.
//!
//! Every check returns a [`FieldError`] naming the field and saying, in Japanese first and then
//! English, what to change.

use std::fmt;

/// A value a user supplied that cannot be accepted, with the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Path of the offending field, e.g. `name_kana` or `windows[2].end`.
    pub field: String,
    /// What is wrong and what to do, Japanese first then English.
    pub message: String,
}

impl FieldError {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Longest accepted name, label or free-text field, in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// Checks a required text field: not blank, at most `max` characters, no control characters.
/// Returns the trimmed value.
pub fn required(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(FieldError::new(
            field,
            "入力してください / this field is required",
        ));
    }
    optional(field, v, max).map(|_| v.to_string())
}

/// Checks an optional text field: at most `max` characters, no control characters.
pub fn optional(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    let n = value.chars().count();
    if n > max {
        return Err(FieldError::new(
            field,
            format!("{max}文字以内にしてください（{n}文字） / must be at most {max} characters (got {n})"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "制御文字は使えません / control characters are not allowed",
        ));
    }
    Ok(())
}

/// Checks that a kana reading is written in katakana or hiragana (spaces allowed).
pub fn kana(field: &str, value: &str) -> Result<String, FieldError> {
    let v = required(field, value, MAX_TEXT_CHARS)?;
    let ok = v.chars().all(|c| {
        matches!(c, '\u{3041}'..='\u{309F}' | '\u{30A0}'..='\u{30FF}' | '\u{31F0}'..='\u{31FF}' | ' ' | '\u{3000}')
    });
    if ok {
        Ok(v)
    } else {
        Err(FieldError::new(
            field,
            "カタカナまたはひらがなで入力してください / use katakana or hiragana",
        ))
    }
}

/// A stable machine code for an enum variant, as used in the API and the database.
pub trait Code: Sized + Copy + 'static {
    /// All variants.
    const ALL: &'static [Self];
    /// The stable code, e.g. `management`.
    fn code(self) -> &'static str;
    /// Japanese label for screens.
    fn label_ja(self) -> &'static str;
    /// English label for screens.
    fn label_en(self) -> &'static str;
    /// Parses a code, naming `field` in the error.
    fn parse_code(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.code() == s)
            .ok_or_else(|| {
                let allowed: Vec<&str> = Self::ALL.iter().map(|v| v.code()).collect();
                FieldError::new(
                    field,
                    format!(
                        "「{s}」は使えません。次のいずれかにしてください: {0} / unknown value {s:?}; use one of: {0}",
                        allowed.join(", ")
                    ),
                )
            })
    }
}

/// Declares a fieldless enum with stable codes and Japanese/English labels.
#[macro_export]
macro_rules! coded_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $var:ident = ($code:literal, $ja:literal, $en:literal)),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $var),+ }
        impl $crate::text::Code for $name {
            const ALL: &'static [Self] = &[$(Self::$var),+];
            fn code(self) -> &'static str { match self { $(Self::$var => $code),+ } }
            fn label_ja(self) -> &'static str { match self { $(Self::$var => $ja),+ } }
            fn label_en(self) -> &'static str { match self { $(Self::$var => $en),+ } }
        }
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::text::Code::code(*self))
            }
        }
        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::text::Code::code(*self))
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                <Self as $crate::text::Code>::parse_code("value", &s).map_err(::serde::de::Error::custom)
            }
        }
    };
}

/// Displays a list of codes separated by commas (for messages).
pub struct CodeList<T: Code>(pub std::marker::PhantomData<T>);

impl<T: Code> fmt::Display for CodeList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<&str> = T::ALL.iter().map(|c| c.code()).collect();
        f.write_str(&v.join(", "))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn required_rejects_blank_and_long() {
        assert_eq!(required("name", "  山田  ", 10).unwrap(), "山田");
        assert_eq!(required("name", "   ", 10).unwrap_err().field, "name");
        assert!(required("name", &"あ".repeat(11), 10).is_err());
        assert!(required("name", "a\u{0007}b", 10).is_err());
    }

    #[test]
    fn kana_accepts_katakana_and_hiragana_only() {
        assert!(kana("name_kana", "ヤマダ タロウ").is_ok());
        assert!(kana("name_kana", "やまだ").is_ok());
        assert_eq!(kana("name_kana", "山田").unwrap_err().field, "name_kana");
    }
}
