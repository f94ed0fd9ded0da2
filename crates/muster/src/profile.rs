//! Named profiles: a server's URL and a token under a name, kept in a
//! TOML file so that `muster --profile prod incident list` needs no
//! environment. `--url` and `--token` win over a profile; a profile you
//! name (`--profile`, `MUSTER_PROFILE`) wins over `MUSTER_URL` and
//! `MUSTER_TOKEN`, which win over the profile named `default`.
//!
//! ```toml
//! [profiles.prod]
//! url = "https://muster.example.com"
//! token = "mst_…"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// Where profiles are kept: `$MUSTER_CONFIG`, else
/// `$XDG_CONFIG_HOME/muster/config.toml`, else `~/.config/muster/config.toml`.
pub fn path() -> anyhow::Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = var("MUSTER_CONFIG") {
        return Ok(p);
    }
    if let Some(dir) = var("XDG_CONFIG_HOME") {
        return Ok(dir.join("muster").join("config.toml"));
    }
    match var("HOME") {
        Some(home) => Ok(home.join(".config").join("muster").join("config.toml")),
        None => bail!("cannot tell where profiles are kept: set MUSTER_CONFIG (or HOME)"),
    }
}

/// The profiles in `path`; none when the file does not exist.
pub fn load(path: &Path) -> anyhow::Result<Config> {
    match std::fs::read_to_string(path) {
        // toml's own message quotes the line, which may hold a token: say
        // only where it is.
        Ok(text) => toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| text.as_bytes().iter().take(s.start).filter(|b| **b == b'\n').count() + 1);
            let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            anyhow::anyhow!("{} is not a muster config file{at}: {}", path.display(), e.message())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes `config` to `path`, readable by its owner only (it holds tokens):
/// a new file beside it, then renamed over it.
pub fn save(path: &Path, config: &Config) -> anyhow::Result<()> {
    let text = toml::to_string(config).context("cannot write the profiles as TOML")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let temporary = path.with_extension("toml.new");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary).with_context(|| format!("cannot write {}", temporary.display()))?;
    #[cfg(unix)]
    {
        // A file left by an earlier run keeps its mode: set it again.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The profile to use: the one named (`--profile`, `MUSTER_PROFILE`),
/// which must exist, else `default` if there is one.
pub fn chosen(name: Option<&str>) -> anyhow::Result<Option<(String, Profile)>> {
    let path = path()?;
    let config = load(&path)?;
    match name {
        Some(n) => match config.profiles.get(n) {
            Some(p) => Ok(Some((n.to_owned(), p.clone()))),
            None => {
                let known: Vec<&str> = config.profiles.keys().map(String::as_str).collect();
                let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                bail!(
                    "there is no profile {n:?} in {} (profiles: {known}); add it with `muster profile add {n} --url …`",
                    path.display()
                )
            }
        },
        None => Ok(config.profiles.get("default").map(|p| ("default".to_owned(), p.clone()))),
    }
}

/// A token as a listing shows it: its kind and last four characters.
pub fn masked(token: &str) -> String {
    let tail: String = token.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    let kind = token.split_once('_').map_or("", |(k, _)| k);
    if token.chars().count() <= 8 {
        "****".to_owned()
    } else if kind.is_empty() {
        format!("…{tail}")
    } else {
        format!("{kind}_…{tail}")
    }
}

/// A profile's name: letters, digits, `-` and `_`.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        bail!("{name:?} is not a profile name: use letters, digits, - and _ (at most 64)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_listed_by_its_kind_and_last_four_characters() {
        assert_eq!(masked("mst_0123456789abcdef"), "mst_…cdef");
        assert_eq!(masked("abcdefghijkl"), "…ijkl");
        assert_eq!(masked("short"), "****");
    }

    #[test]
    fn profiles_are_written_as_toml_and_read_back() {
        let mut config = Config::default();
        config.profiles.insert(
            "prod".into(),
            Profile { url: "https://m.example.com".into(), token: Some("mst_x\"y".into()), ca_file: None },
        );
        let text = toml::to_string(&config).unwrap();
        assert!(text.contains("[profiles.prod]"), "{text}");
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back.profiles["prod"], config.profiles["prod"]);
    }

    #[test]
    fn a_broken_config_file_is_named_without_the_token_on_its_line() {
        let path = std::env::temp_dir().join(format!("muster-broken-config-{}.toml", std::process::id()));
        std::fs::write(&path, "[profiles.prod]\nurl = \"https://m.example.com\"\ntoken = \"mst_secret_value\n")
            .unwrap();
        let e = format!("{:#}", load(&path).unwrap_err());
        let _ = std::fs::remove_file(&path);
        assert!(e.contains("is not a muster config file (line 3)"), "{e}");
        assert!(!e.contains("mst_secret_value"), "{e}");
    }

    #[test]
    fn profile_names_are_plain_words() {
        assert!(check_name("prod-eu_1").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a.b").is_err());
        assert!(check_name("a b").is_err());
    }
}
