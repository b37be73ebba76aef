use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::CoreError;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        ///
        /// A UUIDv7 (time-ordered), serialised as its hyphenated lower-case string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh UUIDv7 (reads the wall clock and the system RNG).
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID (e.g. read back from the database).
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The inner UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = CoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| CoreError::InvalidId {
                    kind: $kind,
                    value: s.to_owned(),
                })
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// Identifies an organisation (tenant).
    OrgId,
    "organisation id"
);
uuid_id!(
    /// Identifies an API token (not the secret: the row that holds its hash).
    ApiTokenId,
    "API token id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_roundtrip_as_strings() {
        let cases = [
            ("0190b7d6-8c4e-7a3b-9f00-123456789abc", true),
            ("0190B7D6-8C4E-7A3B-9F00-123456789ABC", true),
            ("not-a-uuid", false),
            ("", false),
        ];
        for (input, ok) in cases {
            let parsed = input.parse::<OrgId>();
            assert_eq!(parsed.is_ok(), ok, "{input}");
            if let Ok(id) = parsed {
                assert_eq!(id.to_string(), input.to_lowercase());
                let json = serde_json::to_string(&id).unwrap();
                assert_eq!(json, format!("\"{}\"", input.to_lowercase()));
                assert_eq!(serde_json::from_str::<OrgId>(&json).unwrap(), id);
            }
        }
    }

    #[test]
    fn new_ids_are_v7_and_time_ordered() {
        let a = ApiTokenId::new();
        let b = ApiTokenId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a <= b);
        assert_eq!(a.to_string() <= b.to_string(), a <= b);
    }
}
