//! Validation errors that carry the field path of the problem
//! (`services[2].routes[0].paths[1]`), so every tool can point at the exact spot.

use std::fmt;

/// One problem found in a config, with the path of the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InvalidField {
    /// decK-style path: `services[0].routes[1].paths[0]`; empty for the whole file.
    pub path: String,
    pub message: String,
    /// What kind of problem: most are invalid values; a second entity with the
    /// same unique key is a conflict.
    #[serde(skip_serializing_if = "Problem::is_invalid")]
    pub problem: Problem,
}

/// The kind of a config problem.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    #[default]
    Invalid,
    /// Another entity has the same unique name, key or id.
    Duplicate,
}

impl Problem {
    fn is_invalid(&self) -> bool {
        *self == Problem::Invalid
    }
}

impl InvalidField {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> InvalidField {
        InvalidField {
            path: path.into(),
            message: message.into(),
            problem: Problem::Invalid,
        }
    }
}

impl fmt::Display for InvalidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in one pass over a config.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct InvalidConfig {
    pub errors: Vec<InvalidField>,
}

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Collects errors while walking a config; paths are built with [`Path`].
#[derive(Debug, Default)]
pub struct Errors {
    pub list: Vec<InvalidField>,
}

impl Errors {
    pub fn add(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        self.list.push(InvalidField::new(path.to_string(), message));
    }

    /// A second entity with a key that must be unique.
    pub fn duplicate(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        self.list.push(InvalidField {
            problem: Problem::Duplicate,
            ..InvalidField::new(path.to_string(), message)
        });
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn into_result<T>(self, value: T) -> Result<T, InvalidConfig> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            Err(InvalidConfig { errors: self.list })
        }
    }
}

/// A field path under construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    pub fn root() -> Self {
        Path(String::new())
    }

    /// `a` -> `a.field`
    pub fn field(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }

    /// `a` -> `a[i]`
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
