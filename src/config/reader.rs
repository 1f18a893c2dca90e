//! The reading half of configuration: layered raw values (defaults < file < environment) turned into
//! typed values, with every problem collected rather than stopping at the first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// Where an effective value came from; named in error messages so the operator knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The configuration file.
    File,
    /// An environment variable (its name).
    Env(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("built-in default"),
            Source::File => f.write_str("config file"),
            Source::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The dotted key, e.g. `http.listen`.
    pub key: String,
    /// What was given, already redacted for secrets.
    pub given: String,
    /// Where it came from.
    pub source: Source,
    /// The expected form.
    pub expected: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (from {}); expected {}",
            self.key, self.given, self.source, self.expected
        )
    }
}

/// The TOML type a setting takes in the file (the environment always gives text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TomlType {
    String,
    Integer,
    Boolean,
}

impl TomlType {
    fn name(self) -> &'static str {
        match self {
            TomlType::String => "a string",
            TomlType::Integer => "an integer",
            TomlType::Boolean => "a boolean (true or false)",
        }
    }
}

/// How one setting is read: its TOML type, a parser from text, and the expected form for messages.
pub struct Kind<T> {
    pub toml: TomlType,
    pub expected: &'static str,
    pub parse: fn(&str) -> Result<T, String>,
    /// Secrets never appear in messages.
    pub secret: bool,
}

/// The declaration of one setting; `settings()` in the parent module lists them all.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub section: &'static str,
    pub key: &'static str,
    pub default: &'static str,
}

impl Setting {
    /// `section.key`.
    pub fn dotted(&self) -> String {
        format!("{}.{}", self.section, self.key)
    }

    /// `SWITCHBOARD_SECTION_KEY`.
    pub fn env_name(&self) -> String {
        format!("SWITCHBOARD_{}_{}", self.section, self.key).to_uppercase()
    }
}

/// Reads typed values out of the layered sources and remembers what went wrong.
pub struct Reader<'a> {
    file: BTreeMap<String, toml::Value>,
    env: &'a HashMap<String, String>,
    aliases: &'a [(&'static str, &'static str)],
    consumed: BTreeSet<String>,
    problems: Vec<Problem>,
}

impl<'a> Reader<'a> {
    /// `aliases` maps conventional environment names (e.g. `DATABASE_URL`) to dotted keys; the
    /// `SWITCHBOARD_` name wins when both are set.
    pub fn new(
        file: Option<toml::Table>,
        env: &'a HashMap<String, String>,
        aliases: &'a [(&'static str, &'static str)],
    ) -> Self {
        let mut problems = Vec::new();
        let mut flat = BTreeMap::new();
        for (section, value) in file.unwrap_or_default() {
            match value {
                toml::Value::Table(table) => {
                    for (key, value) in table {
                        flat.insert(format!("{section}.{key}"), value);
                    }
                }
                other => problems.push(Problem {
                    key: section.clone(),
                    given: describe(&other),
                    source: Source::File,
                    expected: format!("a [{section}] table"),
                }),
            }
        }
        Reader {
            file: flat,
            env,
            aliases,
            consumed: BTreeSet::new(),
            problems,
        }
    }

    /// The effective value of `setting`, parsed by `kind`. On a problem it is recorded and the
    /// default is returned so that reading goes on and every problem is reported at once.
    pub fn get<T>(&mut self, setting: Setting, kind: Kind<T>) -> T {
        let dotted = setting.dotted();
        self.consumed.insert(dotted.clone());
        let fallback = || (kind.parse)(setting.default).expect("built-in default parses");

        let env_value = self
            .env
            .get(&setting.env_name())
            .map(|v| (v, setting.env_name()))
            .or_else(|| {
                self.aliases
                    .iter()
                    .find(|(_, key)| *key == dotted)
                    .and_then(|(name, _)| self.env.get(*name).map(|v| (v, (*name).to_owned())))
            });
        let (text, source) = if let Some((value, name)) = env_value {
            (value.clone(), Source::Env(name))
        } else if let Some(value) = self.file.get(&dotted) {
            match (kind.toml, value) {
                (TomlType::String, toml::Value::String(s)) => (s.clone(), Source::File),
                (TomlType::Integer, toml::Value::Integer(i)) => (i.to_string(), Source::File),
                (TomlType::Boolean, toml::Value::Boolean(b)) => (b.to_string(), Source::File),
                (_, other) => {
                    let given = if kind.secret {
                        "(hidden)".to_owned()
                    } else {
                        describe(other)
                    };
                    self.problems.push(Problem {
                        key: dotted,
                        given,
                        source: Source::File,
                        expected: format!("{}: {}", kind.toml.name(), kind.expected),
                    });
                    return fallback();
                }
            }
        } else {
            (setting.default.to_owned(), Source::Default)
        };

        match (kind.parse)(&text) {
            Ok(value) => value,
            Err(why) => {
                let given = if kind.secret {
                    "(hidden)".to_owned()
                } else {
                    format!("`{text}`")
                };
                self.problems.push(Problem {
                    key: dotted,
                    given: format!("{given} {why}"),
                    source,
                    expected: kind.expected.to_owned(),
                });
                fallback()
            }
        }
    }

    /// Reports keys nobody read (typos, settings that do not exist) and returns every problem.
    /// `known` lists all declared settings, to suggest the right section's keys.
    pub fn finish(mut self, known: &[Setting], reserved_env: &[&str]) -> Vec<Problem> {
        for key in self.file.keys() {
            if !self.consumed.contains(key) {
                let section = key.split('.').next().unwrap_or_default();
                let choices: Vec<_> = known
                    .iter()
                    .filter(|s| s.section == section)
                    .map(|s| s.key)
                    .collect();
                let expected = if choices.is_empty() {
                    let sections: BTreeSet<_> = known.iter().map(|s| s.section).collect();
                    format!(
                        "a known section: {}",
                        sections.into_iter().collect::<Vec<_>>().join(", ")
                    )
                } else {
                    format!("a known key of [{section}]: {}", choices.join(", "))
                };
                self.problems.push(Problem {
                    key: key.clone(),
                    given: "unknown key".to_owned(),
                    source: Source::File,
                    expected,
                });
            }
        }
        let env_names: BTreeSet<String> = known.iter().map(Setting::env_name).collect();
        let mut unknown_env: Vec<&String> = self
            .env
            .keys()
            .filter(|name| name.starts_with("SWITCHBOARD_"))
            .filter(|name| !env_names.contains(*name) && !reserved_env.contains(&name.as_str()))
            .collect();
        unknown_env.sort();
        for name in unknown_env {
            self.problems.push(Problem {
                key: name.clone(),
                given: "unknown setting".to_owned(),
                source: Source::Env(name.clone()),
                expected: "SWITCHBOARD_<SECTION>_<KEY> naming a key of config.toml".to_owned(),
            });
        }
        self.problems
    }
}

fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("`{s}` (a string)"),
        toml::Value::Integer(i) => format!("`{i}` (an integer)"),
        toml::Value::Float(x) => format!("`{x}` (a float)"),
        toml::Value::Boolean(b) => format!("`{b}` (a boolean)"),
        toml::Value::Datetime(d) => format!("`{d}` (a datetime)"),
        toml::Value::Array(_) => "an array".to_owned(),
        toml::Value::Table(_) => "a table".to_owned(),
    }
}
