//! The OHIF viewer served at `/viewer` from a folder holding a built OHIF (npm's `@ohif/app`
//! `dist/`, installed by scripts/dev/ohif.sh): files, deep links answered with `index.html`, and
//! the `app-config.js` written by Tessera.
//!
//! OHIF's published build is made for `/`: its index.html, its webpack public path and its
//! CSS name absolute URLs. [`rewrite`] moves them under `/viewer/` while serving (kept in
//! memory once done), so any stock OHIF build works unchanged on disk.

pub mod app_config;
pub mod files;
pub mod rewrite;
pub mod sign_in;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;

/// Where the viewer lives in Tessera's URL space (with the trailing slash).
pub const PREFIX: &str = "/viewer/";

/// A configured viewer folder.
#[derive(Debug)]
pub struct Viewer {
    dir: PathBuf,
    /// The DICOMweb root the generated app-config names; `None`: this server's own.
    pub dicomweb_url: Option<String>,
    rewritten: Mutex<HashMap<PathBuf, Arc<Rewritten>>>,
}

/// A file whose URLs were moved under [`PREFIX`], with its gzip form once asked for.
#[derive(Debug)]
pub struct Rewritten {
    pub modified: Option<SystemTime>,
    pub body: Bytes,
    pub gzip: Mutex<Option<Bytes>>,
}

impl Viewer {
    pub fn new(dir: PathBuf, dicomweb_url: Option<String>) -> Self {
        Viewer {
            dir,
            dicomweb_url,
            rewritten: Mutex::new(HashMap::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the folder looks like a built OHIF (it has an index.html).
    pub fn looks_built(&self) -> bool {
        self.dir.join("index.html").is_file()
    }

    /// The file for a request path below `/viewer/`, refusing anything that climbs out.
    pub fn resolve(&self, relative: &str) -> Option<PathBuf> {
        let relative = Path::new(relative.trim_start_matches('/'));
        let mut path = self.dir.clone();
        for component in relative.components() {
            match component {
                Component::Normal(part) => path.push(part),
                Component::CurDir => {}
                _ => return None,
            }
        }
        Some(path)
    }

    pub(crate) fn cached(
        &self,
        path: &Path,
        modified: Option<SystemTime>,
    ) -> Option<Arc<Rewritten>> {
        let cache = self.rewritten.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(path)
            .filter(|entry| entry.modified == modified)
            .cloned()
    }

    pub(crate) fn remember(&self, path: PathBuf, entry: Arc<Rewritten>) {
        let mut cache = self.rewritten.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(path, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_folder() {
        let viewer = Viewer::new(PathBuf::from("/srv/ohif"), None);
        assert_eq!(
            viewer.resolve("assets/favicon.ico"),
            Some(PathBuf::from("/srv/ohif/assets/favicon.ico"))
        );
        assert_eq!(viewer.resolve("../etc/passwd"), None);
        assert_eq!(viewer.resolve("a/../../x"), None);
        assert_eq!(
            viewer.resolve("/index.html"),
            Some(PathBuf::from("/srv/ohif/index.html"))
        );
    }
}
