//! DICOMDIRs (PS3.10 8.6, PS3.3 F.3): the files a media directory references. Each
//! directory record's Referenced File ID (0004,1500) is a list of path components relative to
//! the DICOMDIR's folder; on media mounted without case (ISO 9660 names seen in lower case)
//! each component is matched without regard to case when the exact name is absent.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;

/// One file a DICOMDIR references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Found(PathBuf),
    /// Referenced but not there (or an ID that is not a relative path): what it named.
    Missing(PathBuf),
}

/// Every file the DICOMDIR at `path` references, in the order of its records, each once.
pub fn referenced_files(path: &Path) -> Result<Vec<Reference>, String> {
    let object = dicom_object::open_file(path).map_err(|err| err.to_string())?;
    let records = object
        .element(tags::DIRECTORY_RECORD_SEQUENCE)
        .map_err(|err| format!("no Directory Record Sequence: {err}"))?;
    let items = records
        .items()
        .ok_or("the Directory Record Sequence is not a sequence")?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for item in items {
        let Ok(element) = item.element(tags::REFERENCED_FILE_ID) else {
            continue;
        };
        let Ok(components) = element.to_multi_str() else {
            continue;
        };
        let components: Vec<String> = components
            .iter()
            .map(|c| c.trim_matches([' ', '\0']).to_string())
            .filter(|c| !c.is_empty())
            .collect();
        if components.is_empty() || !seen.insert(components.clone()) {
            continue;
        }
        out.push(resolve(base, &components));
    }
    Ok(out)
}

/// The file that components name under `base`.
fn resolve(base: &Path, components: &[String]) -> Reference {
    let named: PathBuf = components.iter().collect();
    let safe = components
        .iter()
        .all(|c| c != "." && c != ".." && !c.contains(['/', '\\']));
    if !safe {
        return Reference::Missing(named);
    }
    let exact = base.join(&named);
    if exact.is_file() {
        return Reference::Found(exact);
    }
    let mut at = base.to_path_buf();
    for component in components {
        let direct = at.join(component);
        if direct.exists() {
            at = direct;
            continue;
        }
        let found = std::fs::read_dir(&at).ok().and_then(|entries| {
            entries.flatten().find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .eq_ignore_ascii_case(component)
            })
        });
        match found {
            Some(entry) => at = entry.path(),
            None => return Reference::Missing(exact),
        }
    }
    if at.is_file() {
        Reference::Found(at)
    } else {
        Reference::Missing(exact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_resolve_with_or_without_case() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dicom/st1")).unwrap();
        std::fs::write(dir.path().join("dicom/st1/im1"), b"x").unwrap();
        let names = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            resolve(dir.path(), &names(&["DICOM", "ST1", "IM1"])),
            Reference::Found(dir.path().join("dicom/st1/im1"))
        );
        assert_eq!(
            resolve(dir.path(), &names(&["dicom", "st1", "im1"])),
            Reference::Found(dir.path().join("dicom/st1/im1"))
        );
        assert!(matches!(
            resolve(dir.path(), &names(&["DICOM", "ST1", "IM2"])),
            Reference::Missing(_)
        ));
        assert!(matches!(
            resolve(dir.path(), &names(&["..", "etc", "passwd"])),
            Reference::Missing(_)
        ));
    }
}
