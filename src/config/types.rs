//! Kafka's config types (KIP-569): what DescribeConfigs v3+ reports as each
//! config's `config_type`, and whether a value reads as its type.

/// A config's type, with Kafka's wire code as the discriminant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigType {
    Unknown = 0,
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

impl ConfigType {
    /// The code DescribeConfigs carries.
    pub fn code(self) -> i8 {
        self as i8
    }

    /// Whether `value` reads as this type, as Kafka's ConfigDef would parse
    /// it. Every type takes "" (Kafka's null: unset).
    pub fn parses(self, value: &str) -> bool {
        let value = value.trim();
        if value.is_empty() {
            return true;
        }
        match self {
            ConfigType::Boolean => {
                value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false")
            }
            ConfigType::Int => value.parse::<i32>().is_ok(),
            ConfigType::Short => value.parse::<i16>().is_ok(),
            ConfigType::Long => value.parse::<i64>().is_ok(),
            ConfigType::Double => value.parse::<f64>().is_ok_and(f64::is_finite),
            ConfigType::Unknown
            | ConfigType::String
            | ConfigType::List
            | ConfigType::Class
            | ConfigType::Password => true,
        }
    }

    /// Whether Kafka keeps values of this type out of DescribeConfigs.
    pub fn is_sensitive(self) -> bool {
        self == ConfigType::Password
    }
}

#[cfg(test)]
mod tests {
    use super::ConfigType;

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(ConfigType::Unknown.code(), 0);
        assert_eq!(ConfigType::Boolean.code(), 1);
        assert_eq!(ConfigType::Long.code(), 5);
        assert_eq!(ConfigType::Password.code(), 9);
    }

    #[test]
    fn values_parse_as_their_type() {
        assert!(ConfigType::Int.parses("2147483647"));
        assert!(!ConfigType::Int.parses("2147483648"));
        assert!(ConfigType::Long.parses("2147483648"));
        assert!(!ConfigType::Short.parses("40000"));
        assert!(ConfigType::Boolean.parses("TRUE") && !ConfigType::Boolean.parses("yes"));
        assert!(ConfigType::Double.parses("0.5") && !ConfigType::Double.parses("half"));
        assert!(ConfigType::Long.parses(""), "unset is fine for any type");
    }
}
